package rollback

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
)

// newRecorder returns a real recorder on the fake clock.
func newRecorder(t *testing.T, clk clock.Clock) *analysis.Recorder {
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk}, "v1", "v2")
	require.NoError(t, err)
	return rec
}

func observe(rec *analysis.Recorder, backend string, n, status int, d time.Duration) {
	for range n {
		rec.Observe(backend, status, d, 100)
	}
}

func TestGuardWatchFiresOnErrors(t *testing.T) {
	clk := clock.NewFake(t0)
	rec := newRecorder(t, clk)
	observe(rec, "v2", 500, 503, time.Millisecond) // before Watch: not counted
	g := &Guard{Source: rec, MaxErrorRate: 0.01, Clock: clk}
	f := newFires()
	stop := watch(t, g, target, f)

	// Healthy traffic for 20 polls: nothing.
	for range 20 {
		waiters(t, clk, 1)
		observe(rec, "v1", 9, 200, 20*time.Millisecond)
		observe(rec, "v2", 1, 200, 20*time.Millisecond)
		clk.Advance(DefaultGuardPoll)
	}
	waiters(t, clk, 1)
	assert.Empty(t, f.all())

	// The canary fails every request: fired within a few polls.
	polls := 0
	for len(f.all()) == 0 {
		observe(rec, "v2", 1, 500, time.Millisecond)
		clk.Advance(DefaultGuardPoll)
		polls++
		require.Less(t, polls, 20, "not fired after %d failing requests", polls)
		waitFor(t, "poll done", func() bool { return clk.Waiters() == 1 || len(f.all()) > 0 })
	}
	reason := f.next(t)
	assert.True(t, strings.HasPrefix(reason, "guard: canary 5xx rate "), reason)
	assert.Contains(t, reason, "over limit 1.0%: e-value ")
	assert.Contains(t, reason, "(α=0.01 split over restarts)")
	assert.LessOrEqual(t, polls, 4, "three or four failures in a row after 20 good requests are enough at α=1%%")

	// Every check has fired: the guard waits for the end without polling.
	waitFor(t, "guard idle", func() bool { return clk.Waiters() == 0 })
	require.NoError(t, stop())
	assert.Len(t, f.all(), 1)
}

func TestGuardWatchQuietWhenHealthy(t *testing.T) {
	clk := clock.NewFake(t0)
	rec := newRecorder(t, clk)
	g := &Guard{Source: rec, MaxErrorRate: 0.01, CompareErrorRate: true, MaxLatency: 250 * time.Millisecond,
		CompareLatency: true, LatencyTolerance: 0.05, Clock: clk}
	f := newFires()
	stop := watch(t, g, target, f)
	for i := range 300 {
		waiters(t, clk, 1)
		observe(rec, "v1", 9, 200, time.Duration(15+i%10)*time.Millisecond)
		observe(rec, "v2", 1, 200, time.Duration(15+(i*7)%10)*time.Millisecond)
		if i%100 == 50 { // an error here and there, in both versions
			observe(rec, "v1", 1, 502, time.Millisecond)
			observe(rec, "v2", 1, 502, time.Millisecond)
		}
		clk.Advance(DefaultGuardPoll)
	}
	waiters(t, clk, 1)
	require.NoError(t, stop())
	assert.Empty(t, f.all())
	assert.Equal(t, 0, clk.Waiters(), "poll timer stopped")
}

// guardRunFor starts a run of g over src for direct polling.
func guardRunFor(t *testing.T, g Guard, src analysis.WindowSource) *guardRun {
	t.Helper()
	g.Source = src
	r, err := g.start(target)
	require.NoError(t, err)
	return r
}

// monitorLogE is the log e-value analysis.SequentialErrorRate reports for
// hits of total at the given limit.
func monitorLogE(t *testing.T, limit float64, hits, total int64) float64 {
	m, err := (&analysis.SequentialErrorRate{Limit: limit}).NewMonitor()
	require.NoError(t, err)
	res, err := m.Update(total, hits)
	require.NoError(t, err)
	return res.Statistic
}

func TestGuardErrorRateReason(t *testing.T) {
	src := newSimSource("v1", "v2")
	r := guardRunFor(t, Guard{MaxErrorRate: 0.01}, src)
	for range 57 {
		src.record("v2", 503, time.Millisecond)
	}
	reasons := r.poll()
	require.Len(t, reasons, 1)
	// All 57 arrived in one poll: only Watch's own start judges, at α/2.
	want := "guard: canary 5xx rate 100.0% (n=57) over limit 1.0%: e-value " + fmtE(monitorLogE(t, 0.01, 57, 57)) +
		" ≥ 200 (α=0.01 split over restarts)"
	assert.Equal(t, want, reasons[0])
	assert.Empty(t, r.poll(), "a check fires once")
}

func TestGuardLatencyReason(t *testing.T) {
	src := newSimSource("v1", "v2")
	r := guardRunFor(t, Guard{MaxLatency: 250 * time.Millisecond, LatencyQuantile: 0.999, Alpha: 0.05}, src)
	for range 20 {
		src.record("v2", 200, 400*time.Millisecond)
	}
	reasons := r.poll()
	require.Len(t, reasons, 1)
	want := "guard: canary p99.9 latency over limit 250ms: 20 of 20 requests (100.0%) slower than 250ms, allowed 0.1%: e-value " +
		fmtE(monitorLogE(t, 0.001, 20, 20)) + " ≥ 40 (α=0.05 split over restarts)"
	assert.Equal(t, want, reasons[0])
}

func TestGuardErrorRatio(t *testing.T) {
	src := newSimSource("v1", "v2")
	r := guardRunFor(t, Guard{CompareErrorRate: true, ErrorRateRatio: 2}, src)
	// Equal error rates (10%), many polls: no evidence against the null.
	for i := range 500 {
		for range 9 {
			src.record("v1", 200, time.Millisecond)
		}
		src.record("v1", 500, time.Millisecond)
		if i%10 == 0 {
			src.record("v2", 500, time.Millisecond)
		} else {
			src.record("v2", 200, time.Millisecond)
		}
		require.Empty(t, r.poll(), "poll %d", i)
	}
	// Now the canary errs on every request while the baseline is clean.
	fired := ""
	for i := range 100 {
		for range 10 {
			src.record("v1", 200, time.Millisecond)
		}
		src.record("v2", 500, time.Millisecond)
		if rs := r.poll(); len(rs) > 0 {
			fired = rs[0]
			t.Logf("fired after %d polls: %s", i+1, fired)
			break
		}
	}
	require.NotEmpty(t, fired)
	assert.Regexp(t, `^guard: canary 5xx rate \d+\.\d% \(n=\d+(, the latest of \d+)?\) worse than baseline \d+\.\d% \(n=\d+\) beyond ratio 2: e-value \S+ ≥ \S+ \(α=0\.01 split over restarts\)$`, fired)
}

func TestGuardErrorRatioNeedsBothVersions(t *testing.T) {
	src := newSimSource("v1", "v2")
	r := guardRunFor(t, Guard{CompareErrorRate: true}, src)
	for range 100 { // no baseline traffic at all: nothing to compare with
		src.record("v2", 500, time.Millisecond)
		require.Empty(t, r.poll())
	}
}

// windowOnly hides a source's Total method, so that the guard reads
// windows.
type windowOnly struct{ analysis.WindowSource }

func TestGuardLatencyShift(t *testing.T) {
	for _, mode := range []string{"totals", "windows"} {
		t.Run(mode, func(t *testing.T) {
			src := newSimSource("v1", "v2")
			var ws analysis.WindowSource = src
			if mode == "windows" {
				ws = windowOnly{src}
			}
			r := guardRunFor(t, Guard{CompareLatency: true, LatencyTolerance: 0.1}, ws)
			require.Equal(t, mode == "totals", r.totals != nil)
			// Same distributions: nothing.
			for i := range 300 {
				for k := range 9 {
					src.record("v1", 200, time.Duration(10+(i+k)%20)*time.Millisecond)
				}
				src.record("v2", 200, time.Duration(10+(i*3)%20)*time.Millisecond)
				require.Empty(t, r.poll(), "poll %d", i)
			}
			// The canary gets 100 ms slower.
			fired, canaryReqs := "", 0
			for i := range 300 {
				for k := range 9 {
					src.record("v1", 200, time.Duration(10+(i+k)%20)*time.Millisecond)
				}
				src.record("v2", 200, time.Duration(110+(i*3)%20)*time.Millisecond)
				canaryReqs++
				if rs := r.poll(); len(rs) > 0 {
					fired = rs[0]
					break
				}
			}
			require.NotEmpty(t, fired)
			t.Logf("fired after %d slow canary requests: %s", canaryReqs, fired)
			assert.Less(t, canaryReqs, 100)
			assert.Regexp(t, `^guard: canary latency slower than baseline: \d+\.\d% of canary requests \(n=\d+(, the latest of \d+)?\) took at most \S+ vs \d+\.\d% of baseline requests \(n=\d+\), a gap of \d+\.\d% > bands \d+\.\d% \+ tolerance 10\.0%: p=\S+ ≤ \S+ \(α=0\.01 split over restarts\)$`, fired)
		})
	}
}

// At a 100% step the baseline serves nothing: its distribution is that of
// the steps before. A machine that got slower since must not read as a
// slower canary.
func TestGuardLatencyShiftNotAgainstAnIdleBaseline(t *testing.T) {
	src := newSimSource("v1", "v2")
	r := guardRunFor(t, Guard{CompareLatency: true, LatencyTolerance: 0.1}, src)
	ms := func(i int) time.Duration { return time.Duration(1+i%5) * time.Millisecond }
	// 10% and 50% steps: both serve, alike.
	for i, share := range slices.Repeat([]int{1, 5}, 100) {
		for k := range 10 {
			v := "v1"
			if k < share {
				v = "v2"
			}
			src.record(v, 200, ms(i+k))
		}
		require.Empty(t, r.poll(), "poll %d", i)
	}
	// 100%: the machine is three times slower, for the canary alone since
	// the baseline serves nothing.
	for i := range 500 {
		for k := range 10 {
			src.record("v2", 200, 3*ms(i+k))
		}
		require.Empty(t, r.poll(), "poll %d at 100%%", i)
	}
	// The baseline serves again alongside a canary that is as slow: it is
	// judged as soon as they are compared.
	fired := ""
	for i := range 500 {
		src.record("v1", 200, ms(i))
		src.record("v2", 200, 3*ms(i))
		if rs := r.poll(); len(rs) > 0 {
			fired = rs[0]
			break
		}
	}
	assert.Contains(t, fired, "guard: canary latency slower than baseline")
}

func TestGuardLatencySlack(t *testing.T) {
	// The canary is 20% slower everywhere. With 30% slack that is allowed;
	// without, it is not.
	for _, tc := range []struct {
		slack float64
		fires bool
	}{{0.3, false}, {0, true}} {
		src := newSimSource("v1", "v2")
		r := guardRunFor(t, Guard{CompareLatency: true, LatencySlack: tc.slack}, src)
		fired := ""
		for i := range 3000 {
			for k := range 9 {
				src.record("v1", 200, time.Duration(10+(i+k)%20)*time.Millisecond)
			}
			src.record("v2", 200, time.Duration(float64(time.Duration(10+(i*3)%20)*time.Millisecond)*1.2))
			if rs := r.poll(); len(rs) > 0 {
				fired = rs[0]
				break
			}
		}
		assert.Equal(t, tc.fires, fired != "", "slack %v: %s", tc.slack, fired)
	}
}

func TestGuardMinRequests(t *testing.T) {
	src := newSimSource("v1", "v2")
	r := guardRunFor(t, Guard{MaxErrorRate: 0.01, MinRequests: 50}, src)
	for i := range 60 {
		src.record("v2", 500, time.Millisecond)
		rs := r.poll()
		if i+1 < 50 {
			require.Empty(t, rs, "request %d", i+1)
		} else if len(rs) > 0 {
			assert.Equal(t, 49, i, "fires as soon as MinRequests is reached")
			return
		}
	}
	t.Fatal("never fired")
}

func TestGuardSeveralChecksInOnePoll(t *testing.T) {
	src := newSimSource("v1", "v2")
	r := guardRunFor(t, Guard{MaxErrorRate: 0.05, MaxLatency: 100 * time.Millisecond}, src)
	for range 40 {
		src.record("v2", 504, 30*time.Second) // gateway timeouts
	}
	rs := r.poll()
	require.Len(t, rs, 2)
	assert.Contains(t, rs[0], "5xx rate")
	assert.Contains(t, rs[1], "latency over limit")
	assert.Contains(t, rs[0], "(α=0.01 split over 2 checks and restarts)")
	assert.True(t, r.finished())
}

// expiringSource is a WindowSource that forgets: Window covers only what
// was recorded since the last expire, as a recorder whose ring of slices
// wrapped around.
type expiringSource struct {
	mu    sync.Mutex
	since time.Time
	w     map[string]*analysis.Window
}

func (s *expiringSource) add(backend string, n, errs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.w[backend]
	w.Requests += n
	w.Errors += errs
}

func (s *expiringSource) expire(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.since = at
	for _, w := range s.w {
		*w = analysis.Window{Backend: w.Backend}
	}
}

func (s *expiringSource) Window(backend string, since, until time.Time) analysis.Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := *s.w[backend]
	w.Since = s.since
	return w
}

func TestGuardWindowSourceExpiring(t *testing.T) {
	src := &expiringSource{since: t0, w: map[string]*analysis.Window{"v1": {Backend: "v1"}, "v2": {Backend: "v2"}}}
	src.add("v2", 1000, 0) // before Watch
	r := guardRunFor(t, Guard{MaxErrorRate: 0.5}, src)
	src.add("v2", 10, 1)
	require.Empty(t, r.poll())
	assert.Equal(t, int64(10), r.canary.cum.n, "only what came after Watch began")
	src.expire(t0.Add(time.Minute))
	src.add("v2", 5, 0) // recorded between the last poll and the expiry: lost
	require.Empty(t, r.poll())
	assert.Equal(t, int64(10), r.canary.cum.n, "an expiry starts the count again from the data left")
	src.add("v2", 7, 2)
	require.Empty(t, r.poll())
	assert.Equal(t, int64(17), r.canary.cum.n)
	assert.Equal(t, int64(3), r.canary.cum.errs)
}

func TestGuardRecorderTotalsExact(t *testing.T) {
	// A recorder keeping 2 slices of 1 s forgets quickly; the guard reads
	// its totals, which never expire.
	clk := clock.NewFake(t0)
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk, SliceDuration: time.Second, Slices: 2}, "v1", "v2")
	require.NoError(t, err)
	observe(rec, "v2", 100, 200, time.Millisecond)
	r := guardRunFor(t, Guard{MaxErrorRate: 0.5, MaxLatency: time.Second, LatencyQuantile: 0.5, CompareLatency: true, LatencyTolerance: 0.5}, rec)
	for range 10 {
		observe(rec, "v2", 10, 200, 2*time.Millisecond)
		observe(rec, "v2", 1, 500, 2*time.Second)
		observe(rec, "v1", 20, 200, 2*time.Millisecond)
		clk.Advance(time.Second)
		require.Empty(t, r.poll())
	}
	assert.Equal(t, int64(110), r.canary.cum.n)
	assert.Equal(t, int64(10), r.canary.cum.errs)
	assert.Equal(t, int64(10), r.canary.cum.slow)
	r.cdf(&r.canary)
	last := len(latencyGrid) - 1
	assert.Equal(t, int64(110), r.canary.cum.cdf[last], "every latency is at most the grid's last point")
	i := sort.Search(len(latencyGrid), func(i int) bool { return latencyGrid[i] >= time.Second })
	assert.Equal(t, int64(100), r.canary.cum.cdf[i], "the fast ones")
}

func TestGuardRestartsThinned(t *testing.T) {
	src := newSimSource("v1", "v2")
	r := guardRunFor(t, Guard{MaxErrorRate: 0.01}, src)
	for range 5000 { // one restart per poll
		for range restartEvery {
			src.record("v2", 200, time.Millisecond)
		}
		r.poll()
	}
	assert.Equal(t, 5000, r.lastRestart)
	assert.Less(t, len(r.starts), 45, "O(log J) live restarts")
	assert.Equal(t, 0, r.starts[0].j, "Watch's own start is never dropped")
	var sum float64
	for j := 0; j <= 5000; j++ {
		if j == 0 {
			sum += 0.5
		} else {
			sum += 1 / (2 * float64(j) * float64(j+1))
		}
	}
	assert.LessOrEqual(t, sum, 1.0, "the weights sum to at most 1")
	// A fault now is judged by a restart at most about twice its age back.
	for _, d := range []int{1, 3, 10, 100, 1000} {
		best := math.MaxInt
		for _, s := range r.starts[1:] {
			if age := r.lastRestart - s.j; age >= d && age < best {
				best = age
			}
		}
		assert.LessOrEqual(t, best, 2*d+restartKeep, "fault %d restarts ago", d)
	}
}

func TestGuardValidate(t *testing.T) {
	src := newSimSource()
	require.NoError(t, (&Guard{Source: src, MaxErrorRate: 0.01}).Validate())
	for _, tc := range []struct {
		name string
		g    Guard
		want []string
	}{
		{"zero", Guard{}, []string{"source: nil", "no check enabled"}},
		{"error rate 1", Guard{Source: src, MaxErrorRate: 1}, []string{"max error rate: 1 is not in (0, 1)"}},
		{"error rate negative", Guard{Source: src, MaxErrorRate: -0.1}, []string{"max error rate: -0.1 is not in (0, 1)"}},
		{"error rate NaN", Guard{Source: src, MaxErrorRate: math.NaN()}, []string{"max error rate: NaN is not in (0, 1)"}},
		{"ratio below 1", Guard{Source: src, CompareErrorRate: true, ErrorRateRatio: 0.5}, []string{"error rate ratio: 0.5 must be a finite number at least 1"}},
		{"ratio without compare", Guard{Source: src, MaxErrorRate: 0.1, ErrorRateRatio: 2}, []string{"error rate ratio: 2 is set but compare error rate is off"}},
		{"quantile", Guard{Source: src, MaxLatency: time.Second, LatencyQuantile: 1}, []string{"latency quantile: 1 is not in (0, 1)"}},
		{"quantile alone", Guard{Source: src, MaxErrorRate: 0.1, LatencyQuantile: 0.9}, []string{"latency quantile: 0.9 is set but max latency is not"}},
		{"negative latency", Guard{Source: src, MaxLatency: -time.Second}, []string{"max latency: -1s is negative", "no check enabled"}},
		{"tolerance", Guard{Source: src, CompareLatency: true, LatencyTolerance: 1}, []string{"latency tolerance: 1 is not in [0, 1)"}},
		{"tolerance alone", Guard{Source: src, MaxErrorRate: 0.1, LatencyTolerance: 0.1}, []string{"latency tolerance: 0.1 is set but compare latency is off"}},
		{"slack", Guard{Source: src, CompareLatency: true, LatencySlack: -0.1}, []string{"latency slack: -0.1 is not a finite number at least 0"}},
		{"slack alone", Guard{Source: src, MaxErrorRate: 0.1, LatencySlack: 0.2}, []string{"latency slack: 0.2 is set but compare latency is off"}},
		{"alpha", Guard{Source: src, MaxErrorRate: 0.1, Alpha: 1.5}, []string{"alpha: 1.5 is not in (0, 1)"}},
		{"poll", Guard{Source: src, MaxErrorRate: 0.1, PollInterval: -time.Millisecond}, []string{"poll interval: -1ms is negative"}},
		{"min requests", Guard{Source: src, MaxErrorRate: 0.1, MinRequests: -3}, []string{"min requests: -3 is negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			err = tc.g.Watch(t.Context(), target, func(string) { t.Fatal("fired") })
			require.Error(t, err, "Watch refuses a bad guard at once")
		})
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		logE float64
		want string
	}{
		{0, "1"}, {math.Log(37.4), "37"}, {math.Log(9999), "9999"}, {math.Log(1.2e4), "1.2e4"},
		{math.Log(9.97e5), "1.0e6"}, {1000, "2.0e434"}, // e^1000 overflows float64: formatted from its logarithm
	} {
		assert.Equal(t, tc.want, fmtE(tc.logE))
	}
	assert.Equal(t, "100.0%", pct(1))
	assert.Equal(t, "1.0%", pct(0.01))
	assert.Equal(t, "0.05%", pct(0.0005))
	assert.Equal(t, "0.0%", pct(0))
	assert.Equal(t, "99", quantileName(0.99))
	assert.Equal(t, "99.9", quantileName(0.999))
	assert.Equal(t, "50", quantileName(0.5))
}
