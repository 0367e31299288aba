package analysis

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
)

func TestRecorderInFlight(t *testing.T) {
	r, clk := newFakeRecorder(t, RecorderOptions{}, "a")
	var tokens []int64
	for range 5 {
		tokens = append(tokens, r.Start("a"))
		clk.Advance(10 * time.Millisecond)
	}
	// Started 50, 40, 30, 20, 10 ms ago.
	assert.Equal(t, int64(0), r.InFlight("a", 100*time.Millisecond))
	assert.Equal(t, int64(3), r.InFlight("a", 25*time.Millisecond), "started 30, 40, 50 ms ago")
	assert.Equal(t, int64(5), r.InFlight("a", 0))
	clk.Advance(200 * time.Millisecond)
	assert.Equal(t, int64(5), r.InFlight("a", 200*time.Millisecond))
	r.Finish("a", tokens[0], 200, 260*time.Millisecond, 10)
	assert.Equal(t, int64(4), r.InFlight("a", 200*time.Millisecond))
	w := r.Total("a")
	assert.Equal(t, int64(1), w.Requests, "Finish records the request as Observe does")
	slow, n := w.SlowerThan(200 * time.Millisecond)
	assert.Equal(t, [2]int64{5, 5}, [2]int64{slow, n}, "one completed, four pending past 200ms")
	require.NotNil(t, w.Pending)
	past := r.Window("a", time.Time{}, recT0.Add(time.Millisecond))
	assert.Nil(t, past.Pending, "a window that ends in the past has nothing pending")
	assert.Equal(t, int64(0), r.InFlight("b", 0), "unknown backend")
}

// Requests in flight longer than the ring still count, and counts stay
// exact whatever order requests end in, across ring reuse.
func TestRecorderInFlightModel(t *testing.T) {
	r, clk := newFakeRecorder(t, RecorderOptions{InFlightResolution: time.Millisecond}, "a")
	rng := rand.New(rand.NewPCG(1, 2))
	type req struct {
		token int64
		start time.Duration
	}
	var open []req
	var now time.Duration
	for step := range 5000 {
		switch rng.IntN(3) {
		case 0:
			open = append(open, req{r.Start("a"), now})
		case 1:
			if len(open) > 0 {
				i := rng.IntN(len(open))
				r.Finish("a", open[i].token, 200, now-open[i].start, 0)
				open = append(open[:i], open[i+1:]...)
			}
		case 2:
			d := time.Duration(rng.IntN(20)) * time.Millisecond
			clk.Advance(d)
			now += d
		}
		require.Equal(t, int64(len(open)), r.InFlight("a", -time.Millisecond), "step %d: every request in flight", step)
		// Conservative: never counts a request younger than d; counts every
		// one older than d by more than the resolution (within the span).
		d := time.Duration(rng.IntN(100)) * time.Millisecond
		var surely, maybe int64
		for _, o := range open {
			age := now - o.start
			if age > d+time.Millisecond {
				surely++
			}
			if age > d {
				maybe++
			}
		}
		got := r.InFlight("a", d)
		require.LessOrEqual(t, got, maybe, "step %d: counted a request younger than %v", step, d)
		require.GreaterOrEqual(t, got, surely, "step %d: missed a request older than %v", step, d)
	}
}

func TestRecorderErroredWakes(t *testing.T) {
	r, _ := newFakeRecorder(t, RecorderOptions{}, "a")
	ch := r.Errored("a")
	require.NotNil(t, ch)
	assert.Equal(t, ch, r.Errored("a"), "one channel until the next error")
	r.Observe("a", 200, time.Millisecond, 0)
	r.Observe("a", StatusClientClosedRequest, time.Millisecond, 0)
	select {
	case <-ch:
		t.Fatal("woken without an error")
	default:
	}
	r.Observe("a", 503, time.Millisecond, 0)
	select {
	case <-ch:
	default:
		t.Fatal("a 5xx did not wake the waiter")
	}
	assert.NotEqual(t, ch, r.Errored("a"), "a fresh channel after the error")
}

func TestRecorderGoneIsCensored(t *testing.T) {
	r, _ := newFakeRecorder(t, RecorderOptions{}, "a")
	for range 7 {
		r.Observe("a", 200, 20*time.Millisecond, 0)
	}
	r.Observe("a", StatusClientClosedRequest, 50*time.Millisecond, 0) // waited less than the limit: says nothing
	r.Observe("a", StatusClientClosedRequest, 3*time.Second, 0)       // waited past it: slow
	for _, w := range []Window{r.Total("a"), r.Window("a", time.Time{}, time.Time{})} {
		assert.Equal(t, int64(7), w.Requests)
		assert.Equal(t, int64(0), w.Errors)
		assert.Equal(t, int64(2), w.Gone)
		slow, n := w.SlowerThan(200 * time.Millisecond)
		assert.Equal(t, int64(1), slow)
		assert.Equal(t, int64(8), n)
		assert.Equal(t, int64(7), w.Latency.Count(), "gone requests are not completed latencies")
	}
}

func TestRecorderStartFinishAllocs(t *testing.T) {
	r, err := NewRecorder(RecorderOptions{}, "a")
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(1000, func() {
		tok := r.Start("a")
		r.Finish("a", tok, 200, time.Millisecond, 10)
	})
	assert.Zero(t, allocs)
}

// BenchmarkRecorderRequest compares, side by side, what the splitter's
// observer costs per request: Observe alone (the recorder before in-flight
// tracking) and Start + Finish.
func BenchmarkRecorderRequest(b *testing.B) {
	r, err := NewRecorder(RecorderOptions{}, "a")
	require.NoError(b, err)
	b.Run("observe", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Observe("a", 200, time.Millisecond, 10)
			}
		})
	})
	b.Run("start+finish", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tok := r.Start("a")
				r.Finish("a", tok, 200, time.Millisecond, 10)
			}
		})
	})
}

// A canary that hangs fails its latency threshold though no request ever
// ends (issue 12, §1); one whose clients give up past the limit fails too
// (§2), while clients that give up early say nothing.
func TestThresholdLatencyCountsCensored(t *testing.T) {
	r, clk := newFakeRecorder(t, RecorderOptions{}, "v1", "v2")
	th, err := NewThresholds(r, LatencyQuantile(0.99, 200*time.Millisecond))
	require.NoError(t, err)
	analyze := func() Result {
		res, err := th.Analyze(t.Context(), Query{Canary: "v2", Baseline: "v1"})
		require.NoError(t, err)
		return res
	}
	for range 1000 {
		r.Observe("v2", 200, 20*time.Millisecond, 0)
	}
	assert.Equal(t, Pass, analyze().Verdict)

	// 300 abandoned after 50 ms: unknown beyond that, so left out.
	for range 300 {
		r.Observe("v2", StatusClientClosedRequest, 50*time.Millisecond, 0)
	}
	assert.Equal(t, Pass, analyze().Verdict)

	// Then the canary hangs: 20 requests in flight, 300 ms old.
	for range 20 {
		r.Start("v2")
	}
	clk.Advance(300 * time.Millisecond)
	res := analyze()
	assert.Equal(t, Fail, res.Verdict, res.Reason)
	assert.Contains(t, res.Reason, "(n=1,020) > limit 200ms, of which 20 abandoned by their clients or still in flight after more than 200ms")
	assert.Equal(t, int64(1020), res.Metrics[0].CanaryN)
	assert.Greater(t, res.Metrics[0].Canary, 0.2)
}

func TestThresholdLatencyCountsGonePastLimit(t *testing.T) {
	r, _ := newFakeRecorder(t, RecorderOptions{}, "v2")
	th, err := NewThresholds(r, LatencyQuantile(0.99, 200*time.Millisecond))
	require.NoError(t, err)
	for range 1000 {
		r.Observe("v2", 200, 20*time.Millisecond, 0)
	}
	for range 15 {
		r.Observe("v2", StatusClientClosedRequest, 3*time.Second, 0) // gave up after 3 s
	}
	res, err := th.Analyze(t.Context(), Query{Canary: "v2"})
	require.NoError(t, err)
	assert.Equal(t, Fail, res.Verdict, res.Reason)
	assert.Equal(t, int64(1015), res.Metrics[0].CanaryN)
}

func TestRecorderSpan(t *testing.T) {
	r, err := NewRecorder(RecorderOptions{})
	require.NoError(t, err)
	assert.Equal(t, 60*time.Second, r.Span())
	require.NoError(t, r.CheckSpan(time.Minute))
	err = r.CheckSpan(5 * time.Minute)
	require.ErrorIs(t, err, ErrSpanTooLong)
	assert.Contains(t, err.Error(), "a step of 5m0s is longer than the recorder remembers (span 1m0s")
	assert.Contains(t, err.Error(), "set RecorderOptions.Span to at least 5m0s")

	// Sized from the longest step: same memory, coarser slices.
	r, err = NewRecorder(RecorderOptions{Span: 10 * time.Minute})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, r.Span(), 10*time.Minute)
	assert.Less(t, r.Span(), 10*time.Minute+10*time.Millisecond)
	require.NoError(t, r.CheckSpan(10*time.Minute))

	// A window over the whole 10-minute step holds all of it.
	clk := clock.NewFake(recT0)
	r, err = NewRecorder(RecorderOptions{Span: 10 * time.Minute, Clock: clk}, "a")
	require.NoError(t, err)
	for range 600 {
		r.Observe("a", 200, time.Millisecond, 0)
		clk.Advance(time.Second)
	}
	w := r.Window("a", recT0, time.Time{})
	assert.Equal(t, int64(600), w.Requests)

	_, err = NewRecorder(RecorderOptions{Span: time.Minute, SliceDuration: time.Second})
	require.ErrorContains(t, err, "are both set")
	_, err = NewRecorder(RecorderOptions{Span: -time.Second})
	require.ErrorContains(t, err, "recorder span: -1s is negative")
}
