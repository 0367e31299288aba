package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
)

// thWindows is a WindowSource that returns fixed thWindows and remembers the
// span it was asked for.
type thWindows struct {
	by           map[string]analysis.Window
	since, until time.Time
}

func (w *thWindows) Window(backend string, since, until time.Time) analysis.Window {
	w.since, w.until = since, until
	return w.by[backend]
}

// thDist is a Distribution whose every quantile is d.
type thDist struct {
	n int64
	d time.Duration
}

func (x thDist) Count() int64                      { return x.n }
func (x thDist) Quantile(float64) time.Duration    { return x.d }
func (x thDist) CountAtMost(d time.Duration) int64 { return map[bool]int64{true: x.n}[x.d <= d] }

func thWin(requests, errors int64) analysis.Window {
	return analysis.Window{Requests: requests, Errors: errors, Classes: [6]int64{2: requests - errors, 5: errors}}
}

func thWithLatency(w analysis.Window, d time.Duration) analysis.Window {
	w.Latency = thDist{n: w.Requests, d: d}
	return w
}

func thMinSamples(t analysis.Threshold, n int64) analysis.Threshold {
	t.MinSamples = n
	return t
}

func thDryRun(t analysis.Threshold) analysis.Threshold {
	t.DryRun = true
	return t
}

func TestThresholdRules(t *testing.T) {
	cpu := func(w analysis.Window) float64 { return float64(w.Bytes) / 1000 }
	cpuWin := func(bytes int64) analysis.Window { w := thWin(500, 0); w.Bytes = bytes; return w }
	nan := func(analysis.Window) float64 { return math.NaN() }
	cases := []struct {
		name     string
		rule     analysis.Threshold
		canary   analysis.Window
		baseline *analysis.Window
		verdict  analysis.Verdict
		reason   string
	}{
		// Error rate: fail when > limit, pass when <= limit.
		{"error rate above", analysis.ErrorRate(0.01), thWin(1250, 40), thPtr(thWin(10877, 11)),
			analysis.Fail, "canary 5xx rate 3.20% (n=1,250) > limit 1.00%; baseline 0.10% (n=10,877)"},
		{"error rate equal to limit passes", analysis.ErrorRate(0.01), thWin(1000, 10), nil,
			analysis.Pass, "canary 5xx rate 1.00% (n=1,000) ≤ limit 1.00%"},
		{"error rate just above", analysis.ErrorRate(0.01), thWin(1000, 11), nil,
			analysis.Fail, "canary 5xx rate 1.10% (n=1,000) > limit 1.00%"},
		{"error rate above by less than the display", analysis.ErrorRate(0.01), thWin(25000, 251), nil,
			analysis.Fail, "canary 5xx rate 1.004% (n=25,000) > limit 1.000%"},
		{"error rate zero", analysis.ErrorRate(0), thWin(100, 0), nil,
			analysis.Pass, "canary 5xx rate 0.00% (n=100) ≤ limit 0.00%"},
		{"error rate tiny", analysis.ErrorRate(0.0001), thWin(1_000_000, 1), nil,
			analysis.Pass, "canary 5xx rate 0.0001% (n=1,000,000) ≤ limit 0.01%"},
		{"error rate below min samples", analysis.ErrorRate(0.01), thWin(99, 50), thPtr(thWin(5000, 5)),
			analysis.NoData, "canary 5xx rate 50.51% (n=99): too few samples, need 100; baseline 0.10% (n=5,000)"},
		{"error rate at min samples", analysis.ErrorRate(0.01), thWin(100, 0), nil,
			analysis.Pass, "canary 5xx rate 0.00% (n=100) ≤ limit 1.00%"},
		{"error rate no requests", analysis.ErrorRate(0.01), thWin(0, 0), thPtr(thWin(0, 0)),
			analysis.NoData, "canary 5xx rate n/a (n=0): too few samples, need 100; baseline n/a (n=0)"},
		{"custom min samples", thMinSamples(analysis.ErrorRate(0.5), 1), thWin(1, 1), nil,
			analysis.Fail, "canary 5xx rate 100.00% (n=1) > limit 50.00%"},
		{"custom min samples of zero requests", thMinSamples(analysis.ErrorRate(0.5), 1), thWin(0, 0), nil,
			analysis.NoData, "canary 5xx rate n/a (n=0): too few samples, need 1"},

		// Success rate: fail when < limit, pass when >= limit.
		{"success rate equal to limit passes", analysis.SuccessRate(0.99), thWin(1000, 10), nil,
			analysis.Pass, "canary success rate 99.00% (n=1,000) ≥ limit 99.00%"},
		{"success rate below", analysis.SuccessRate(0.99), thWin(1000, 11), thPtr(thWin(2000, 0)),
			analysis.Fail, "canary success rate 98.90% (n=1,000) < limit 99.00%; baseline 100.00% (n=2,000)"},
		{"success rate of one", analysis.SuccessRate(1), thWin(100, 0), nil,
			analysis.Pass, "canary success rate 100.00% (n=100) ≥ limit 100.00%"},

		// Latency quantile: fail when > limit, pass when <= limit.
		{"latency above", analysis.LatencyQuantile(0.99, 300*time.Millisecond), thWithLatency(thWin(1204, 0), 412*time.Millisecond), thPtr(thWithLatency(thWin(10877, 0), 120*time.Millisecond)),
			analysis.Fail, "canary p99 latency 412ms (n=1,204) > limit 300ms; baseline 120ms (n=10,877)"},
		{"latency equal to limit passes", analysis.LatencyQuantile(0.99, 300*time.Millisecond), thWithLatency(thWin(500, 0), 300*time.Millisecond), nil,
			analysis.Pass, "canary p99 latency 300ms (n=500) ≤ limit 300ms"},
		{"latency above by less than the display", analysis.LatencyQuantile(0.5, 300*time.Millisecond), thWithLatency(thWin(500, 0), 300400*time.Microsecond), nil,
			analysis.Fail, "canary p50 latency 300.4ms (n=500) > limit 300ms"},
		{"latency in seconds", analysis.LatencyQuantile(0.999, 2*time.Second), thWithLatency(thWin(500, 0), 2346*time.Millisecond), nil,
			analysis.Fail, "canary p99.9 latency 2.35s (n=500) > limit 2s"},
		{"latency in microseconds", analysis.LatencyQuantile(0.9, time.Millisecond), thWithLatency(thWin(500, 0), 850*time.Microsecond), nil,
			analysis.Pass, "canary p90 latency 850µs (n=500) ≤ limit 1ms"},
		{"latency rounds up a unit", analysis.LatencyQuantile(0.9, 500*time.Millisecond), thWithLatency(thWin(500, 0), 999960*time.Microsecond), nil,
			analysis.Fail, "canary p90 latency 1s (n=500) > limit 500ms"},
		{"latency just below the limit shows the digits", analysis.LatencyQuantile(0.9, time.Second), thWithLatency(thWin(500, 0), 999960*time.Microsecond), nil,
			analysis.Pass, "canary p90 latency 999.96ms (n=500) ≤ limit 1s"},
		{"latency without a distribution", analysis.LatencyQuantile(0.99, time.Second), thWin(500, 0), nil,
			analysis.NoData, "canary p99 latency n/a (n=0): too few samples, need 100"},
		{"latency counts its own samples", analysis.LatencyQuantile(0.99, time.Second), analysis.Window{Requests: 500, Latency: thDist{n: 50, d: time.Millisecond}}, nil,
			analysis.NoData, "canary p99 latency 1ms (n=50): too few samples, need 100"},

		// Any metric within [min, max].
		{"within", analysis.Within("cpu", cpu, 0.2, 0.8), cpuWin(500), nil,
			analysis.Pass, "canary cpu 0.5 (n=500) within [0.2, 0.8]"},
		{"within at max", analysis.Within("cpu", cpu, 0.2, 0.8), cpuWin(800), nil,
			analysis.Pass, "canary cpu 0.8 (n=500) within [0.2, 0.8]"},
		{"within at min", analysis.Within("cpu", cpu, 0.2, 0.8), cpuWin(200), nil,
			analysis.Pass, "canary cpu 0.2 (n=500) within [0.2, 0.8]"},
		{"above max", analysis.Within("cpu", cpu, 0.2, 0.8), cpuWin(900), nil,
			analysis.Fail, "canary cpu 0.9 (n=500) > max 0.8"},
		{"below min", analysis.Within("cpu", cpu, 0.2, 0.8), cpuWin(100), nil,
			analysis.Fail, "canary cpu 0.1 (n=500) < min 0.2"},
		{"upper limit only", analysis.Within("cpu", cpu, math.Inf(-1), 3), cpuWin(3000), nil,
			analysis.Pass, "canary cpu 3 (n=500) ≤ limit 3"},
		{"lower limit only", analysis.Within("cpu", cpu, 1, math.Inf(1)), cpuWin(999), nil,
			analysis.Fail, "canary cpu 0.999 (n=500) < limit 1"},
		{"no limit", analysis.Within("cpu", cpu, math.Inf(-1), math.Inf(1)), cpuWin(123456), nil,
			analysis.Pass, "canary cpu 123.5 (n=500), no limit"},
		{"not measurable", analysis.Within("cpu", nan, 0, 1), cpuWin(1), thPtr(cpuWin(1)),
			analysis.NoData, "canary cpu n/a (n=500): not measurable; baseline n/a (n=500)"},

		{"dry run", thDryRun(analysis.ErrorRate(0.01)), thWin(1000, 500), nil,
			analysis.Fail, "canary 5xx rate 50.00% (n=1,000) > limit 1.00% [dry run]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &thWindows{by: map[string]analysis.Window{"canary": c.canary}}
			q := analysis.Query{Canary: "canary"}
			if c.baseline != nil {
				src.by["stable"] = *c.baseline
				q.Baseline = "stable"
			}
			th, err := analysis.NewThresholds(src, c.rule)
			require.NoError(t, err)
			res, err := th.Analyze(context.Background(), q)
			require.NoError(t, err)
			require.Len(t, res.Metrics, 1)
			m := res.Metrics[0]
			assert.Equal(t, c.verdict, m.Verdict, m.Reason)
			assert.Equal(t, c.reason, m.Reason)
			assert.Equal(t, c.rule.Name, m.Name)
			assert.Equal(t, c.rule.DryRun, m.DryRun)
			assert.Equal(t, c.rule.Min, m.Lower)
			assert.Equal(t, c.rule.Max, m.Upper)
			if !c.rule.DryRun {
				assert.Equal(t, c.verdict, res.Verdict, "one rule decides")
				assert.Equal(t, c.reason, res.Reason)
			}
			if c.baseline == nil {
				assert.True(t, math.IsNaN(m.Baseline), "no baseline: NaN")
				assert.Zero(t, m.BaselineN)
			}
		})
	}
}

func thPtr[T any](v T) *T { return &v }

func TestThresholdEvidence(t *testing.T) {
	src := &thWindows{by: map[string]analysis.Window{
		"canary": thWithLatency(thWin(1250, 40), 250*time.Millisecond),
		"stable": thWithLatency(thWin(10877, 11), 120*time.Millisecond),
	}}
	clk := clock.NewFake(recStart)
	th := &analysis.Thresholds{
		Source: src,
		Rules:  []analysis.Threshold{analysis.ErrorRate(0.01), analysis.LatencyQuantile(0.99, 300*time.Millisecond)},
		Clock:  clk,
	}
	since, until := recStart.Add(-time.Minute), recStart
	res, err := th.Analyze(context.Background(), analysis.Query{Canary: "canary", Baseline: "stable", Since: since, Until: until})
	require.NoError(t, err)
	assert.True(t, since.Equal(src.since) && until.Equal(src.until), "the query's span is what is judged")
	assert.True(t, recStart.Equal(res.At))
	require.Len(t, res.Metrics, 2)
	rate := res.Metrics[0]
	assert.Equal(t, "5xx rate", rate.Name)
	assert.Equal(t, analysis.Fail, rate.Verdict)
	assert.Equal(t, 40.0/1250, rate.Canary)
	assert.Equal(t, 11.0/10877, rate.Baseline)
	assert.Equal(t, int64(1250), rate.CanaryN)
	assert.Equal(t, int64(10877), rate.BaselineN)
	assert.Equal(t, 0.0, rate.Lower)
	assert.Equal(t, 0.01, rate.Upper)
	assert.True(t, math.IsNaN(rate.Statistic) && math.IsNaN(rate.PValue), "no test was run")
	assert.False(t, rate.DryRun)
	assert.Equal(t, "canary 5xx rate 3.20% (n=1,250) > limit 1.00%; baseline 0.10% (n=10,877)", rate.Reason)
	lat := res.Metrics[1]
	assert.Equal(t, analysis.Pass, lat.Verdict)
	assert.Equal(t, 0.25, lat.Canary)
	assert.Equal(t, 0.12, lat.Baseline)
	assert.Equal(t, 0.3, lat.Upper)
	assert.Equal(t, analysis.Fail, res.Verdict)
	assert.Equal(t, rate.Reason, res.Reason, "the failing metric explains the verdict")
}

func TestThresholdsCombine(t *testing.T) {
	src := &thWindows{by: map[string]analysis.Window{"canary": thWithLatency(thWin(1000, 50), 100*time.Millisecond)}}
	failing := analysis.ErrorRate(0.01)                     // 5% > 1%
	passing := analysis.LatencyQuantile(0.5, time.Second)   // 100ms <= 1s
	noData := thMinSamples(analysis.SuccessRate(0.9), 5000) // 1000 < 5000
	passing2 := analysis.Within("bytes", func(analysis.Window) float64 { return 1 }, 0, 2)
	cases := []struct {
		name    string
		rules   []analysis.Threshold
		verdict analysis.Verdict
		reasons []string // of the deciding metrics, in order
	}{
		{"all pass", []analysis.Threshold{passing, passing2}, analysis.Pass, []string{"p50 latency", "bytes"}},
		{"a fail wins", []analysis.Threshold{passing, noData, failing}, analysis.Fail, []string{"5xx rate"}},
		{"no data beats pass", []analysis.Threshold{passing, noData}, analysis.NoData, []string{"success rate"}},
		{"dry-run fail does not decide", []analysis.Threshold{thDryRun(failing), passing}, analysis.Pass, []string{"p50 latency"}},
		{"dry-run no data does not decide", []analysis.Threshold{thDryRun(noData), passing}, analysis.Pass, []string{"p50 latency"}},
		{"dry run only", []analysis.Threshold{thDryRun(failing), thDryRun(passing)}, analysis.Pass, []string{"5xx rate", "p50 latency"}},
		{"two fails", []analysis.Threshold{failing, passing, analysis.Within("big", func(analysis.Window) float64 { return 9 }, 0, 1)}, analysis.Fail, []string{"5xx rate", "big"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			th, err := analysis.NewThresholds(src, c.rules...)
			require.NoError(t, err)
			res, err := th.Analyze(context.Background(), analysis.Query{Canary: "canary"})
			require.NoError(t, err)
			assert.Equal(t, c.verdict, res.Verdict, res.Reason)
			require.Len(t, res.Metrics, len(c.rules), "every rule is reported")
			var want string
			for i, name := range c.reasons {
				for _, m := range res.Metrics {
					if m.Name == name {
						if i > 0 {
							want += " | "
						}
						want += m.Reason
					}
				}
			}
			if c.name == "dry run only" {
				want = "dry run only: " + want
			}
			assert.Equal(t, want, res.Reason)
		})
	}
}

func TestThresholdsValidation(t *testing.T) {
	src := &thWindows{}
	fn := func(analysis.Window) float64 { return 0 }
	cases := []struct {
		name  string
		src   analysis.WindowSource
		rules []analysis.Threshold
		want  []string
	}{
		{"no source", nil, []analysis.Threshold{analysis.ErrorRate(0.01)}, []string{"thresholds source: nil"}},
		{"no rules", src, nil, []string{"thresholds rules: none given"}},
		{"rate above one", src, []analysis.Threshold{analysis.ErrorRate(1.5)}, []string{`threshold "5xx rate" max: 1.5 is outside [0, 1]`}},
		{"rate negative", src, []analysis.Threshold{analysis.SuccessRate(-0.1)}, []string{`threshold "success rate" min: -0.1 is outside [0, 1]`}},
		{"rate NaN", src, []analysis.Threshold{analysis.ErrorRate(math.NaN())}, []string{`threshold "5xx rate" max: NaN is not a number`}},
		{"quantile above one", src, []analysis.Threshold{analysis.LatencyQuantile(1.5, time.Second)}, []string{"quantile: 1.5 is outside (0, 1)"}},
		{"quantile zero", src, []analysis.Threshold{analysis.LatencyQuantile(0, time.Second)}, []string{"quantile: 0 is outside (0, 1)"}},
		{"quantile one", src, []analysis.Threshold{analysis.LatencyQuantile(1, time.Second)}, []string{"quantile: 1 is outside (0, 1)"}},
		{"quantile NaN", src, []analysis.Threshold{analysis.LatencyQuantile(math.NaN(), time.Second)}, []string{"quantile: NaN is outside (0, 1)"}},
		{"latency limit zero", src, []analysis.Threshold{analysis.LatencyQuantile(0.99, 0)}, []string{`threshold "p99 latency" max: 0s must be positive`}},
		{"latency limit negative", src, []analysis.Threshold{analysis.LatencyQuantile(0.99, -time.Second)}, []string{"max: -1s must be positive"}},
		{"negative min samples", src, []analysis.Threshold{thMinSamples(analysis.ErrorRate(0.01), -1)}, []string{`threshold "5xx rate" min samples: -1 is negative`}},
		{"min above max", src, []analysis.Threshold{analysis.Within("x", fn, 2, 1)}, []string{`threshold "x" min: 2 is above max 1`}},
		{"within NaN", src, []analysis.Threshold{analysis.Within("x", fn, math.NaN(), 1)}, []string{`threshold "x" min: NaN is not a number`}},
		{"no name", src, []analysis.Threshold{analysis.Within("", fn, 0, 1)}, []string{"threshold rules[0] name: empty"}},
		{"no function", src, []analysis.Threshold{analysis.Within("x", nil, 0, 1)}, []string{`threshold "x" value: nil function`}},
		{"duplicate names", src, []analysis.Threshold{analysis.ErrorRate(0.01), analysis.ErrorRate(0.02)}, []string{`threshold "5xx rate" name: also used by rules[0]`}},
		{"every problem at once", nil, []analysis.Threshold{analysis.ErrorRate(2), analysis.LatencyQuantile(7, 0)}, []string{"source: nil", "max: 2 is outside", "quantile: 7", "max: 0s"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			th, err := analysis.NewThresholds(c.src, c.rules...)
			require.Error(t, err)
			assert.Nil(t, th)
			for _, w := range c.want {
				assert.ErrorContains(t, err, w)
			}
			// A struct built by hand is checked when it runs.
			res, err := (&analysis.Thresholds{Source: c.src, Rules: c.rules}).Analyze(context.Background(), analysis.Query{Canary: "canary"})
			require.Error(t, err)
			assert.Equal(t, analysis.Error, res.Verdict)
			assert.Equal(t, err.Error(), res.Reason)
		})
	}
}

func TestThresholdsQueryErrors(t *testing.T) {
	th, err := analysis.NewThresholds(&thWindows{}, analysis.ErrorRate(0.01))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		q    analysis.Query
		want string
		is   error
	}{
		{"no canary", context.Background(), analysis.Query{Baseline: "stable"}, "query canary: empty", nil},
		{"until before since", context.Background(), analysis.Query{Canary: "c", Since: recStart, Until: recStart.Add(-time.Second)}, "query until: ", nil},
		{"empty span", context.Background(), analysis.Query{Canary: "c", Since: recStart, Until: recStart}, "is not after since", nil},
		{"cancelled", ctx, analysis.Query{Canary: "c"}, "context canceled", context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := th.Analyze(c.ctx, c.q)
			require.Error(t, err)
			assert.ErrorContains(t, err, c.want)
			if c.is != nil {
				assert.True(t, errors.Is(err, c.is))
			}
			assert.Equal(t, analysis.Error, res.Verdict)
			assert.Equal(t, err.Error(), res.Reason)
		})
	}
}

func TestThresholdsOverRecorder(t *testing.T) {
	r, clk := newTestRecorder(t, analysis.RecorderOptions{SliceDuration: time.Second, Slices: 10}, "stable", "canary")
	th, err := analysis.NewThresholds(r, analysis.ErrorRate(0.05), analysis.LatencyQuantile(0.99, 50*time.Millisecond))
	require.NoError(t, err)
	q := analysis.Query{Canary: "canary", Baseline: "stable"}
	judge := func() analysis.Result {
		res, err := th.Analyze(context.Background(), q)
		require.NoError(t, err)
		return res
	}
	assert.Equal(t, analysis.NoData, judge().Verdict, "no traffic yet")
	// A healthy canary.
	for i := range 400 {
		r.Observe("stable", 200, 10*time.Millisecond, 1)
		status := 200
		if i%100 == 0 {
			status = 500 // 1%
		}
		r.Observe("canary", status, 12*time.Millisecond, 1)
	}
	res := judge()
	assert.Equal(t, analysis.Pass, res.Verdict, res.Reason)
	// Five seconds later it turns bad; the window of the last 3 s sees
	// only that.
	clk.Advance(5 * time.Second)
	for range 200 {
		r.Observe("canary", 503, 80*time.Millisecond, 1)
	}
	q.Since = clk.Now().Add(-3 * time.Second)
	res = judge()
	assert.Equal(t, analysis.Fail, res.Verdict)
	assert.Contains(t, res.Reason, "canary 5xx rate 100.00% (n=200) > limit 5.00%; baseline n/a (n=0) | canary p99 latency 8")
	assert.Contains(t, res.Reason, "ms (n=200) > limit 50ms; baseline n/a (n=0)")
	assert.InEpsilon(t, 0.080, res.Metrics[1].Canary, 0.01, "p99 within 1%")
}

func ExampleThresholds() {
	clk := clock.NewFake(recStart)
	rec, _ := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk}, "stable", "canary")
	for i := range 10_000 {
		rec.Observe("stable", 200, 20*time.Millisecond, 512)
		if i%10 == 0 {
			status := 200
			if i%1000 == 0 {
				status = 503 // 10 of the canary's 1,000 requests fail
			}
			rec.Observe("canary", status, 35*time.Millisecond, 512)
		}
	}
	th, err := analysis.NewThresholds(rec,
		analysis.ErrorRate(0.005),
		analysis.LatencyQuantile(0.99, 50*time.Millisecond),
	)
	if err != nil {
		panic(err)
	}
	res, err := th.Analyze(context.Background(), analysis.Query{Baseline: "stable", Canary: "canary"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Verdict)
	for _, m := range res.Metrics {
		// Latencies read from the recorder are within 1%: 35ms shows as 35.2ms.
		fmt.Println(m.Verdict, "-", m.Reason)
	}
	// Output:
	// fail
	// fail - canary 5xx rate 1.00% (n=1,000) > limit 0.50%; baseline 0.00% (n=10,000)
	// pass - canary p99 latency 35.2ms (n=1,000) ≤ limit 50ms; baseline 20.1ms (n=10,000)
}
