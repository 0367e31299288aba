package rollback

import (
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
)

// The guard simulation: a fake WindowSource fed on a virtual clock with
// seeded random outcomes — Poisson arrivals, a small error rate and
// log-normal latencies, each request recorded when it completes — and a
// guard polled every 10 ms of virtual time, exactly as Watch polls it.
//
// RAMP_GUARD_SIM=long runs the larger simulation whose figures the report
// quotes; the default is sized to take a few seconds.

// simProfile is how one version behaves.
type simProfile struct {
	rate      float64       // requests per second
	errP      float64       // share of 5xx
	median    time.Duration // log-normal latency: median and σ of log
	sigma     float64
	extra     time.Duration // added to every latency
	errorsFor time.Duration // latency of a 5xx (0: like any other request)
}

// simBackend is one version's recorded outcomes: cumulative counts and a
// latency histogram with the guard's grid as bucket edges.
type simBackend struct {
	n, errs int64
	buckets []int64 // buckets[i]: latencies in (grid[i-1], grid[i]]
	dist    simDist // reused by Window: the guard reads a window before asking for the next
}

type simSource struct {
	backends map[string]*simBackend
	start    time.Time
}

func newSimSource(names ...string) *simSource {
	s := &simSource{backends: map[string]*simBackend{}, start: t0}
	for _, n := range names {
		s.backends[n] = &simBackend{buckets: make([]int64, len(latencyGrid))}
	}
	return s
}

func (s *simSource) record(backend string, status int, d time.Duration) {
	b := s.backends[backend]
	b.n++
	if status >= 500 {
		b.errs++
	}
	b.buckets[sort.Search(len(latencyGrid), func(i int) bool { return latencyGrid[i] >= d })]++
}

// Total returns everything recorded, as analysis.Recorder.Total does.
func (s *simSource) Total(backend string) analysis.Window {
	return s.Window(backend, time.Time{}, time.Time{})
}

// Window returns everything recorded (the fake never expires data).
func (s *simSource) Window(backend string, since, until time.Time) analysis.Window {
	b := s.backends[backend]
	if b == nil {
		return analysis.Window{Backend: backend}
	}
	d := &b.dist
	if d.prefix == nil {
		d.prefix = make([]int64, len(b.buckets)+1)
	}
	for i, c := range b.buckets {
		d.prefix[i+1] = d.prefix[i] + c
	}
	return analysis.Window{Backend: backend, Since: s.start, Requests: b.n, Errors: b.errs, Latency: d}
}

// simDist is a snapshot of a simBackend's latencies.
type simDist struct{ prefix []int64 }

// Buckets lists the non-empty buckets, as analysis.Histogram does; each
// stands for its upper edge.
func (d *simDist) Buckets() iter.Seq[analysis.Bucket] {
	return func(yield func(analysis.Bucket) bool) {
		for i := 1; i < len(d.prefix); i++ {
			c := d.prefix[i] - d.prefix[i-1]
			if c == 0 {
				continue
			}
			v := latencyGrid[i-1]
			if !yield(analysis.Bucket{Value: v, Upper: v, Count: c}) {
				return
			}
		}
	}
}

func (d *simDist) Count() int64 { return d.prefix[len(d.prefix)-1] }

func (d *simDist) CountAtMost(x time.Duration) int64 {
	// Buckets whose upper edge is <= x.
	i := sort.Search(len(latencyGrid), func(i int) bool { return latencyGrid[i] > x })
	return d.prefix[i]
}

func (d *simDist) Quantile(q float64) time.Duration {
	n := d.Count()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	i := sort.Search(len(d.prefix)-1, func(i int) bool { return d.prefix[i+1] >= rank })
	return latencyGrid[min(i, len(latencyGrid)-1)]
}

// completion is a request to be recorded when the virtual clock passes
// its end.
type completion struct {
	canary  bool
	status  int
	latency time.Duration
}

// simRing holds pending completions by the poll in which they end.
const simRingSlots = 4096 // 41 s of 10 ms polls: longer latencies are capped

type simResult struct {
	fired   bool
	at      time.Duration // virtual time of the first fire
	reasons []string
	faulted int // canary requests that arrived between fault and fire
}

// simulate runs guard g for length, the canary behaving as healthy until
// faultAt and as bad from then on (bad nil: healthy throughout).
func simulate(t testing.TB, g Guard, seed uint64, length, faultAt time.Duration, stable, healthy simProfile, bad *simProfile) simResult {
	src := newSimSource("v1", "v2")
	g.Source = src
	run, err := g.start(target)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	poll := g.PollInterval
	if poll == 0 {
		poll = DefaultGuardPoll
	}
	var ring [simRingSlots][]completion
	interarrival := func(p simProfile) time.Duration {
		return time.Duration(rng.ExpFloat64() / p.rate * float64(time.Second))
	}
	next := [2]time.Duration{interarrival(stable), interarrival(healthy)}
	faulted := 0
	var res simResult
	for slot := 1; ; slot++ {
		now := time.Duration(slot) * poll
		if now > length {
			return res
		}
		for arm, canary := range []bool{false, true} {
			for next[arm] <= now {
				at := next[arm]
				p := stable
				if canary {
					p = healthy
					if bad != nil && at >= faultAt {
						p = *bad
						faulted++
					}
				}
				status, lat := 200, time.Duration(float64(p.median)*math.Exp(p.sigma*rng.NormFloat64()))+p.extra
				if rng.Float64() < p.errP {
					status = 503
					if p.errorsFor > 0 {
						lat = p.errorsFor
					}
				}
				end := min(int((at+lat+poll-1)/poll), slot+simRingSlots-1)
				ring[end%simRingSlots] = append(ring[end%simRingSlots], completion{canary, status, lat})
				next[arm] = at + interarrival(p)
			}
		}
		due := &ring[slot%simRingSlots]
		for _, c := range *due {
			backend := "v1"
			if c.canary {
				backend = "v2"
			}
			src.record(backend, c.status, c.latency)
		}
		*due = (*due)[:0]
		if reasons := run.poll(); len(reasons) > 0 {
			res.fired, res.at, res.reasons, res.faulted = true, now, reasons, faulted
			return res
		}
	}
}

// The profiles of the simulation: 1,000 requests/s, 10% to the canary;
// 0.1% errors; log-normal latency with median 20 ms and σ 0.5 (p99 64 ms).
var (
	simStable  = simProfile{rate: 900, errP: 0.001, median: 20 * time.Millisecond, sigma: 0.5}
	simHealthy = simProfile{rate: 100, errP: 0.001, median: 20 * time.Millisecond, sigma: 0.5}
	sim5xx     = simProfile{rate: 100, errP: 1, median: 20 * time.Millisecond, sigma: 0.5, errorsFor: 2 * time.Millisecond}
	simSlow    = simProfile{rate: 100, errP: 0.001, median: 20 * time.Millisecond, sigma: 0.5, extra: 300 * time.Millisecond}
)

// simGuard is the guard under test: every check on, α = 1%.
func simGuard() Guard {
	return Guard{
		MaxErrorRate:     0.01,
		CompareErrorRate: true,
		MaxLatency:       250 * time.Millisecond,
		LatencyQuantile:  0.99,
		CompareLatency:   true,
		LatencyTolerance: 0.05,
		Alpha:            0.01,
		Source:           newSimSource(),
	}
}

type simSize struct {
	healthyRuns  int
	healthyFor   time.Duration
	longRun      time.Duration // one more healthy run this long (0: none)
	badRuns      int
	badWarmup    time.Duration
	badMaxLength time.Duration
}

func simSizes() simSize {
	switch {
	case os.Getenv("RAMP_GUARD_SIM") == "long":
		return simSize{healthyRuns: 200, healthyFor: 10 * time.Minute, longRun: 6 * time.Hour, badRuns: 101, badWarmup: 2 * time.Minute, badMaxLength: time.Minute}
	case testing.Short() || raceEnabled:
		return simSize{healthyRuns: 3, healthyFor: time.Minute, badRuns: 7, badWarmup: 10 * time.Second, badMaxLength: 10 * time.Second}
	}
	return simSize{healthyRuns: 10, healthyFor: 3 * time.Minute, badRuns: 21, badWarmup: 30 * time.Second, badMaxLength: 10 * time.Second}
}

func TestGuardSimulationHealthy(t *testing.T) {
	size := simSizes()
	g := simGuard()
	fires := 0
	var requests int64
	var virtual time.Duration
	runs := size.healthyRuns
	for i := range runs + 1 {
		length := size.healthyFor
		if i == runs {
			if size.longRun == 0 {
				break
			}
			length = size.longRun
		}
		res := simulate(t, g, uint64(1000+i), length, 0, simStable, simHealthy, nil)
		if res.fired {
			fires++
			t.Logf("run %d: false fire at %v: %v", i, res.at, res.reasons)
		}
		requests += int64((simHealthy.rate + simStable.rate) * length.Seconds())
		virtual += length
	}
	if size.longRun > 0 {
		runs++
	}
	t.Logf("healthy: %d false fires in %d runs (%.0f virtual minutes, ~%d requests of which 10%% to the canary, polled every 10 ms)",
		fires, runs, virtual.Minutes(), requests)
	// The guarantee is P(ever fire) <= α per run. Allow binomial slack:
	// more than max(1, 3·α·runs) fires would be a broken guard.
	limit := max(1, int(math.Ceil(3*g.Alpha*float64(runs))))
	assert.LessOrEqual(t, fires, limit)
}

func TestGuardSimulationBadCanary(t *testing.T) {
	size := simSizes()
	for _, tc := range []struct {
		name   string
		bad    simProfile
		within time.Duration // median time to fire must be below
		check  string        // the check expected to fire first
	}{
		{"100% 5xx", sim5xx, 250 * time.Millisecond, "5xx rate"},
		{"+300ms", simSlow, time.Second, "latency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var times []time.Duration
			var faulted []int
			for i := range size.badRuns {
				res := simulate(t, simGuard(), uint64(5000+i), size.badWarmup+size.badMaxLength, size.badWarmup, simStable, simHealthy, &tc.bad)
				require.True(t, res.fired, "run %d never fired", i)
				require.GreaterOrEqual(t, res.at, size.badWarmup, "run %d fired before the fault: %v", i, res.reasons)
				assert.Contains(t, res.reasons[0], tc.check)
				times = append(times, res.at-size.badWarmup)
				faulted = append(faulted, res.faulted)
				if i == 0 {
					t.Logf("first run's reasons: %q", res.reasons)
				}
			}
			slices.Sort(times)
			slices.Sort(faulted)
			med, worst := times[len(times)/2], times[len(times)-1]
			t.Logf("%s: over %d runs, time from fault to fire: median %v, worst %v; canary requests sent since the fault: median %d, worst %d",
				tc.name, len(times), med, worst, faulted[len(faulted)/2], faulted[len(faulted)-1])
			assert.Less(t, med, tc.within)
		})
	}
}

// TestGuardSimulationAtTheLimit is the hard case for validity: a canary
// exactly at each check's limit (the boundary of the null hypothesis),
// watched by that check alone with α = 1%. However long it watches, the
// share of runs in which it ever fires must stay within α.
func TestGuardSimulationAtTheLimit(t *testing.T) {
	runs, length := 40, time.Minute
	switch {
	case os.Getenv("RAMP_GUARD_SIM") == "long":
		runs, length = 200, 3*time.Minute
	case testing.Short() || raceEnabled:
		runs, length = 5, 20*time.Second
	}
	// p99 of the log-normal is median·e^(2.326·σ); MaxLatency sits on a
	// bucket edge of the fake's grid so that "slower than" is exact.
	p99 := latencyGrid[sort.Search(len(latencyGrid), func(i int) bool { return latencyGrid[i] >= 64*time.Millisecond })]
	median := time.Duration(float64(p99) / math.Exp(2.3263479*0.5))
	at := simProfile{rate: 100, errP: 0.01, median: median, sigma: 0.5}
	for _, tc := range []struct {
		name           string
		g              Guard
		stable, canary simProfile
	}{
		{"error rate at its limit", Guard{MaxErrorRate: 0.01}, at, at},
		{"error rate equal to baseline", Guard{CompareErrorRate: true}, simProfile{rate: 900, errP: 0.01, median: median, sigma: 0.5}, at},
		{"p99 at its limit", Guard{MaxLatency: p99, LatencyQuantile: 0.99}, at, at},
		{"latency distribution equal to baseline", Guard{CompareLatency: true}, simProfile{rate: 900, errP: 0.01, median: median, sigma: 0.5}, at},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.g.Alpha = 0.01
			tc.g.Source = newSimSource()
			fires := 0
			for i := range runs {
				if res := simulate(t, tc.g, uint64(9000+i), length, 0, tc.stable, tc.canary, nil); res.fired {
					fires++
					t.Logf("run %d fired at %v: %q", i, res.at, res.reasons)
				}
			}
			t.Logf("%s: %d of %d runs fired (%v each, α = %v)", tc.name, fires, runs, length, tc.g.Alpha)
			assert.LessOrEqual(t, fires, max(1, int(math.Ceil(3*tc.g.Alpha*float64(runs)))))
		})
	}
}
