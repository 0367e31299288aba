package analysis

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
)

// fakeWindows serves fixed windows per backend.
type fakeWindows map[string]Window

func (f fakeWindows) Window(backend string, since, until time.Time) Window {
	w := f[backend]
	w.Backend, w.Since, w.Until = backend, since, until
	return w
}

func TestErrorRateMonitor(t *testing.T) {
	test := SequentialErrorRate{Limit: 0.01}
	m, err := test.NewMonitor()
	require.NoError(t, err)

	r, err := m.Update(0, 0)
	require.NoError(t, err)
	assert.Equal(t, NoData, r.Verdict, "no requests")
	assert.Equal(t, 1.0, r.PValue)

	// 1% errors at the limit: nothing to decide.
	r, err = m.Update(1000, 10)
	require.NoError(t, err)
	assert.Equal(t, NoData, r.Verdict)
	assert.Equal(t, int64(1000), r.N)

	// 5% errors: fail, and the fail stays.
	r, err = m.Update(3000, 110)
	require.NoError(t, err)
	assert.Equal(t, Fail, r.Verdict)
	assert.GreaterOrEqual(t, r.Statistic, math.Log(100))
	assert.LessOrEqual(t, r.PValue, 0.01)
	p := r.PValue
	r, err = m.Update(100000, 130)
	require.NoError(t, err)
	assert.Equal(t, Fail, r.Verdict, "a fail is final")
	assert.Equal(t, p, r.PValue, "the p-value is a running minimum")

	// Bad counts: errors, state untouched.
	_, err = m.Update(10, 20)
	require.ErrorContains(t, err, "20 errors in 10 requests is impossible")
	_, err = m.Update(99999, 130)
	require.ErrorContains(t, err, "counts went down from 130/100000 to 130/99999")
	_, err = m.Update(-1, 0)
	require.Error(t, err)

	m.Reset()
	r, err = m.Update(20000, 10) // 0.05% errors, well under 1%
	require.NoError(t, err)
	assert.Equal(t, Pass, r.Verdict)
	assert.GreaterOrEqual(t, r.PassStatistic, math.Log(100))
	assert.Equal(t, 1.0, r.PValue)
}

func TestSequentialErrorRateAnalyze(t *testing.T) {
	fake := clock.NewFake(time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC))
	tests := []struct {
		name    string
		windows fakeWindows
		test    SequentialErrorRate
		verdict Verdict
		reason  []string
	}{
		{
			name: "fail",
			windows: fakeWindows{
				"v2": {Requests: 1204, Errors: 39},
				"v1": {Requests: 10877, Errors: 11},
			},
			test:    SequentialErrorRate{Limit: 0.01},
			verdict: Fail,
			reason:  []string{"canary 5xx rate 3.24% (n=1,204, 39 errors) > limit 1%", "anytime 99% bounds [", "baseline 0.101% (n=10,877)", "e-value"},
		},
		{
			name:    "pass",
			windows: fakeWindows{"v2": {Requests: 50000, Errors: 100}},
			test:    SequentialErrorRate{Limit: 0.01},
			verdict: Pass,
			reason:  []string{"canary 5xx rate 0.2% (n=50,000, 100 errors) < 1%"},
		},
		{
			name:    "undecided",
			windows: fakeWindows{"v2": {Requests: 300, Errors: 3}},
			test:    SequentialErrorRate{Limit: 0.01},
			verdict: NoData,
			reason:  []string{"no data yet", "not yet above limit 1% nor below 1%"},
		},
		{
			name:    "no requests",
			windows: fakeWindows{},
			test:    SequentialErrorRate{Limit: 0.01},
			verdict: NoData,
			reason:  []string{"no canary requests yet"},
		},
		{
			name:    "pass limit margin",
			windows: fakeWindows{"v2": {Requests: 20000, Errors: 180}},
			test:    SequentialErrorRate{Limit: 0.01, PassLimit: 0.012},
			verdict: Pass,
			reason:  []string{"< 1.2%"},
		},
		{
			name:    "dry run",
			windows: fakeWindows{"v2": {Requests: 1000, Errors: 500}},
			test:    SequentialErrorRate{Limit: 0.01, DryRun: true},
			verdict: Pass,
			reason:  []string{"dry run: ", "> limit 1%"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.test
			s.Source, s.Clock = tt.windows, fake
			q := Query{Canary: "v2"}
			if _, ok := tt.windows["v1"]; ok {
				q.Baseline = "v1"
			}
			res, err := s.Analyze(context.Background(), q)
			require.NoError(t, err)
			assert.Equal(t, tt.verdict, res.Verdict, res.Reason)
			assert.Equal(t, fake.Now(), res.At)
			require.Len(t, res.Metrics, 1)
			m := res.Metrics[0]
			assert.Equal(t, "5xx rate (sequential)", m.Name)
			assert.Equal(t, tt.test.DryRun, m.DryRun)
			for _, r := range tt.reason {
				assert.Contains(t, res.Reason, r)
			}
			w := tt.windows["v2"]
			assert.Equal(t, w.Requests, m.CanaryN)
			if w.Requests > 0 {
				rate := float64(w.Errors) / float64(w.Requests)
				assert.InDelta(t, rate, m.Canary, 1e-12)
				assert.LessOrEqual(t, m.Lower, rate)
				assert.GreaterOrEqual(t, m.Upper, rate)
				assert.False(t, math.IsNaN(m.Statistic))
				assert.True(t, m.PValue >= 0 && m.PValue <= 1)
			} else {
				assert.True(t, math.IsNaN(m.Canary))
			}
			if tt.verdict == Fail {
				assert.Greater(t, m.Lower, tt.test.Limit, "failing means the interval is above the limit")
			}
			if tt.name == "pass" {
				assert.Less(t, m.Upper, tt.test.Limit, "passing means the interval is below the limit")
			}
		})
	}
}

func TestSequentialErrorRateErrors(t *testing.T) {
	s := SequentialErrorRate{Limit: 1.5, PassLimit: -1, Alpha: 2}
	err := s.Validate()
	require.Error(t, err)
	for _, w := range []string{"limit: 1.5 is not in (0, 1)", "pass limit: -1", "alpha: 2"} {
		assert.Contains(t, err.Error(), w)
	}
	_, err = s.NewMonitor()
	require.Error(t, err)

	res, err := s.Analyze(context.Background(), Query{})
	require.Error(t, err)
	assert.Equal(t, Error, res.Verdict)
	for _, w := range []string{"source: nil", "query canary: empty", "limit: 1.5"} {
		assert.Contains(t, err.Error(), w)
	}

	ok := SequentialErrorRate{Limit: 0.01, Source: fakeWindows{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = ok.Analyze(ctx, Query{Canary: "v2"})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Error, res.Verdict)

	now := time.Now()
	_, err = ok.Analyze(context.Background(), Query{Canary: "v2", Since: now, Until: now.Add(-time.Second)})
	require.ErrorContains(t, err, "is not after since")
}

func TestErrorRatioMonitorLindonMalek(t *testing.T) {
	// Lindon & Malek's example: counts (10, 30), null shares (½, ½),
	// Dirichlet prior 100 × shares: log BF 1.274879, p 0.279465. Here the
	// canary has the 30 errors (the side that counts), traffic is 50/50.
	test := SequentialErrorRatio{CanaryShare: 0.5, Concentration: 100, Mixture: DirichletMixture}
	m, err := test.NewMonitor()
	require.NoError(t, err)
	r, err := m.Update(1000, 30, 1000, 10)
	require.NoError(t, err)
	assert.InDelta(t, 1.274879, r.Statistic, 5e-7)
	assert.InDelta(t, 0.279465, r.PValue, 5e-7)
	assert.Equal(t, NoData, r.Verdict)
	assert.Equal(t, int64(30), r.N)
	assert.Equal(t, int64(10), r.BaselineN)

	// The same counts the other way round: the canary is the better arm;
	// the fail side does not count it.
	m.Reset()
	r, err = m.Update(1000, 10, 1000, 30)
	require.NoError(t, err)
	assert.Equal(t, 0.0, r.Statistic)
	assert.Equal(t, 1.0, r.PValue)
}

func TestErrorRatioMonitor(t *testing.T) {
	m, err := (&SequentialErrorRatio{}).NewMonitor()
	require.NoError(t, err)
	r, err := m.Update(0, 0, 100, 1)
	require.NoError(t, err)
	assert.Equal(t, NoData, r.Verdict, "no canary requests")
	m.Reset()
	r, err = m.Update(100, 0, 200, 0)
	require.NoError(t, err)
	assert.Equal(t, NoData, r.Verdict, "no errors at all")

	// 10% canary share, canary errors ten times as often: fail.
	r, err = m.Update(10000, 50, 90000, 45)
	require.NoError(t, err)
	assert.Equal(t, Fail, r.Verdict)
	assert.LessOrEqual(t, r.PValue, 0.01)

	_, err = m.Update(10000, 40, 90000, 45)
	require.ErrorContains(t, err, "canary: counts went down")
	_, err = m.Update(10000, 50, 90000, 90001)
	require.ErrorContains(t, err, "baseline: 90001 errors in 90000 requests")

	// Equal rates, lots of errors: pass (ratio shown below 2).
	m.Reset()
	r, err = m.Update(200000, 1000, 200000, 1000)
	require.NoError(t, err)
	assert.Equal(t, Pass, r.Verdict)
	assert.Greater(t, r.PassStatistic, math.Log(100))
	assert.Less(t, r.Statistic, 0.0, "the evidence is against a worse canary")
}

func TestSequentialErrorRatioAnalyze(t *testing.T) {
	tests := []struct {
		name    string
		windows fakeWindows
		test    SequentialErrorRatio
		verdict Verdict
		reason  []string
	}{
		{
			name:    "fail",
			windows: fakeWindows{"v2": {Requests: 10000, Errors: 60}, "v1": {Requests: 90000, Errors: 45}},
			verdict: Fail,
			reason:  []string{"canary 5xx rate 0.6% (n=10,000, 60 errors) vs baseline 0.05% (n=90,000, 45 errors): ratio > allowed 1", "e-value"},
		},
		{
			name:    "pass",
			windows: fakeWindows{"v2": {Requests: 200000, Errors: 1000}, "v1": {Requests: 200000, Errors: 1000}},
			verdict: Pass,
			reason:  []string{"ratio < 2"},
		},
		{
			name:    "undecided",
			windows: fakeWindows{"v2": {Requests: 1000, Errors: 5}, "v1": {Requests: 1000, Errors: 4}},
			verdict: NoData,
			reason:  []string{"no data yet", "not yet above 1 nor below 2"},
		},
		{
			name:    "no errors",
			windows: fakeWindows{"v2": {Requests: 1000}, "v1": {Requests: 1000}},
			verdict: NoData,
			reason:  []string{"no errors on either side"},
		},
		{
			name:    "no canary requests",
			windows: fakeWindows{"v1": {Requests: 1000, Errors: 3}},
			verdict: NoData,
			reason:  []string{"no data: canary 5xx rate n/a (n=0"},
		},
		{
			name:    "allowed ratio",
			windows: fakeWindows{"v2": {Requests: 10000, Errors: 60}, "v1": {Requests: 90000, Errors: 45}},
			test:    SequentialErrorRatio{MaxRatio: 20, PassRatio: 40},
			verdict: Pass,
			reason:  []string{"ratio < 40"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.test
			s.Source = tt.windows
			res, err := s.Analyze(context.Background(), Query{Canary: "v2", Baseline: "v1"})
			require.NoError(t, err)
			assert.Equal(t, tt.verdict, res.Verdict, res.Reason)
			for _, r := range tt.reason {
				assert.Contains(t, res.Reason, r)
			}
			m := res.Metrics[0]
			c, b := tt.windows["v2"], tt.windows["v1"]
			assert.Equal(t, c.Requests, m.CanaryN)
			assert.Equal(t, b.Requests, m.BaselineN)
			if c.Errors+b.Errors > 0 && c.Requests > 0 && b.Requests > 0 {
				ratio := (float64(c.Errors) / float64(c.Requests)) / (float64(b.Errors) / float64(b.Requests))
				assert.InDelta(t, ratio, m.Estimate, 1e-9)
				assert.Less(t, m.Lower, ratio)
				assert.Greater(t, m.Upper, ratio)
				if tt.verdict == Fail {
					assert.Greater(t, m.Lower, 1.0, "failing means the ratio's bounds are above the allowed ratio")
				}
			}
		})
	}

	s := SequentialErrorRatio{Source: fakeWindows{}}
	_, err := s.Analyze(context.Background(), Query{Canary: "v2"})
	require.ErrorContains(t, err, "query baseline: empty")

	bad := SequentialErrorRatio{MaxRatio: -1, PassRatio: math.Inf(1), CanaryShare: 1, Concentration: math.NaN(), Alpha: -0.1}
	err = bad.Validate()
	require.Error(t, err)
	for _, w := range []string{"max ratio: -1", "pass ratio: +Inf", "canary share: 1", "concentration: NaN", "alpha: -0.1"} {
		assert.Contains(t, err.Error(), w)
	}
}

// histOf returns a simHist holding the durations.
func histOf(ds ...time.Duration) *simHist {
	h := newSimHist()
	for _, d := range ds {
		h.add(d)
	}
	return h
}

// spread returns n durations evenly spread over [lo, hi).
func spread(n int, lo, hi time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = lo + time.Duration(float64(hi-lo)*(float64(i)+0.5)/float64(n))
	}
	return out
}

func TestLatencyMonitor(t *testing.T) {
	base := histOf(spread(20000, 10*time.Millisecond, 100*time.Millisecond)...)
	same := histOf(spread(20000, 10*time.Millisecond, 100*time.Millisecond)...)
	slow := histOf(spread(20000, 13*time.Millisecond, 130*time.Millisecond)...)

	m, err := (&SequentialLatency{}).NewMonitor()
	require.NoError(t, err)
	r, err := m.Update(same, base)
	require.NoError(t, err)
	assert.Equal(t, Pass, r.Verdict, "identical distributions pass")
	assert.Greater(t, r.PassStatistic, 0.0)
	assert.Less(t, r.Statistic, 0.0)
	assert.Equal(t, 1.0, r.PValue)

	m, err = (&SequentialLatency{}).NewMonitor()
	require.NoError(t, err)
	r, err = m.Update(slow, base)
	require.NoError(t, err)
	assert.Equal(t, Fail, r.Verdict, "30% slower fails")
	assert.Greater(t, r.Statistic, 0.0)
	assert.Less(t, r.PValue, 1e-6)

	// With 35% slack the same canary is allowed.
	m, err = (&SequentialLatency{Slack: 0.35}).NewMonitor()
	require.NoError(t, err)
	r, err = m.Update(slow, base)
	require.NoError(t, err)
	assert.Equal(t, Pass, r.Verdict)

	// Empty or missing distributions: no data.
	r, err = m.Update(nil, base)
	require.NoError(t, err)
	assert.Equal(t, NoData, r.Verdict)
	r, err = m.Update(newSimHist(), base)
	require.NoError(t, err)
	assert.Equal(t, NoData, r.Verdict)
}

func TestLatencyMonitorTail(t *testing.T) {
	// Same bulk, but 10% of the canary's requests are five times slower:
	// a shift in the tail only.
	bulk := spread(18000, 10*time.Millisecond, 100*time.Millisecond)
	base := histOf(append(bulk, spread(2000, 10*time.Millisecond, 100*time.Millisecond)...)...)
	tail := histOf(append(bulk, spread(2000, 50*time.Millisecond, 500*time.Millisecond)...)...)
	m, err := (&SequentialLatency{}).NewMonitor()
	require.NoError(t, err)
	r, err := m.Update(tail, base)
	require.NoError(t, err)
	assert.Equal(t, Fail, r.Verdict)
}

func TestLatencyMonitorQuantileLimit(t *testing.T) {
	// Canary and baseline alike, but 3% of requests take over a second
	// against a p99 limit of 500 ms.
	ds := append(spread(9700, 10*time.Millisecond, 100*time.Millisecond), spread(300, time.Second, 2*time.Second)...)
	test := SequentialLatency{Quantile: 0.99, Limit: 500 * time.Millisecond}
	m, err := test.NewMonitor()
	require.NoError(t, err)
	r, err := m.Update(histOf(ds...), histOf(ds...))
	require.NoError(t, err)
	assert.Equal(t, Fail, r.Verdict)
	assert.Less(t, r.PValue, 0.01)

	// Under the limit: pass needs both the bands and the limit.
	ok := spread(20000, 10*time.Millisecond, 100*time.Millisecond)
	m, err = test.NewMonitor()
	require.NoError(t, err)
	r, err = m.Update(histOf(ok...), histOf(ok...))
	require.NoError(t, err)
	assert.Equal(t, Pass, r.Verdict)
}

func TestSequentialLatencyAnalyze(t *testing.T) {
	base := histOf(spread(20000, 10*time.Millisecond, 100*time.Millisecond)...)
	slow := histOf(spread(20000, 13*time.Millisecond, 130*time.Millisecond)...)
	s := SequentialLatency{Source: fakeWindows{"v2": {Latency: slow}, "v1": {Latency: base}}}
	res, err := s.Analyze(context.Background(), Query{Canary: "v2", Baseline: "v1"})
	require.NoError(t, err)
	assert.Equal(t, Fail, res.Verdict)
	m := res.Metrics[0]
	assert.Equal(t, "latency (sequential)", m.Name)
	assert.Equal(t, int64(20000), m.CanaryN)
	assert.Equal(t, int64(20000), m.BaselineN)
	assert.Greater(t, m.Estimate, 0.1, "the worst gap between the distribution functions")
	assert.Greater(t, m.Lower, 0.0, "its lower bound is above 0: the canary is slower")
	assert.Greater(t, m.Baseline, m.Canary)
	for _, w := range []string{"canary slower than allowed", "of canary vs", "bands ±", "n=20,000/20,000"} {
		assert.Contains(t, res.Reason, w)
	}

	s.Source = fakeWindows{"v2": {}, "v1": {Latency: base}}
	res, err = s.Analyze(context.Background(), Query{Canary: "v2", Baseline: "v1"})
	require.NoError(t, err)
	assert.Equal(t, NoData, res.Verdict)
	assert.Contains(t, res.Reason, "no data: 0 canary and 20,000 baseline latency samples")

	bad := SequentialLatency{Slack: -1, Margin: 1, PassMargin: 2, Quantile: 0.99, Points: -3, Alpha: 1}
	err = bad.Validate()
	require.Error(t, err)
	for _, w := range []string{"slack: -1", "margin: 1 is not in [0, 1)", "pass margin: 2", "limit: 0s is not positive", "points: -3", "alpha: 1"} {
		assert.Contains(t, err.Error(), w)
	}
	err = (&SequentialLatency{Limit: time.Second}).Validate()
	require.ErrorContains(t, err, "quantile: 0 is not in (0, 1)")
}

func TestSequentialUpdatesDoNotAllocate(t *testing.T) {
	rate, err := (&SequentialErrorRate{Limit: 0.01}).NewMonitor()
	require.NoError(t, err)
	ratio, err := (&SequentialErrorRatio{}).NewMonitor()
	require.NoError(t, err)
	lat, err := (&SequentialLatency{Quantile: 0.99, Limit: time.Second}).NewMonitor()
	require.NoError(t, err)
	c := histOf(spread(1000, time.Millisecond, 10*time.Millisecond)...)
	b := histOf(spread(1000, time.Millisecond, 10*time.Millisecond)...)
	var n int64
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		n += 100
		_, _ = rate.Update(n, n/100)
		_, _ = ratio.Update(n, n/200, 9*n, 9*n/200)
		_, _ = lat.Update(c, b)
	}))
}

func BenchmarkErrorRateMonitorUpdate(b *testing.B) {
	m, err := (&SequentialErrorRate{Limit: 0.01}).NewMonitor()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for range b.N {
		n += 10
		if _, err := m.Update(n, n/200); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkErrorRatioMonitorUpdate(b *testing.B) {
	m, err := (&SequentialErrorRatio{}).NewMonitor()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for range b.N {
		n += 10
		if _, err := m.Update(n, n/200, 9*n, 9*n/200); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLatencyMonitorUpdate(b *testing.B) {
	// The monitor's own cost over a cheap distribution (simHist: binary
	// searches over 1% buckets); with another Distribution the cost of its
	// Quantile and CountAtMost adds to this.
	c := histOf(spread(20000, 10*time.Millisecond, 130*time.Millisecond)...)
	base := histOf(spread(20000, 10*time.Millisecond, 100*time.Millisecond)...)
	m, err := (&SequentialLatency{Slack: 1}).NewMonitor()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := m.Update(c, base); err != nil {
			b.Fatal(err)
		}
	}
}
