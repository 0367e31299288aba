package analysis_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
)

// An impossible measurement is an Error naming the metric and the value,
// never a pass (issue 12, §3): before, a -50% error rate passed a 1% limit.
func TestThresholdImpossibleValuesAreErrors(t *testing.T) {
	neg := analysis.Window{Requests: 1000, Errors: -500}
	over := analysis.Window{Requests: 1000, Errors: 1500}
	for _, tc := range []struct {
		name string
		rule analysis.Threshold
		win  analysis.Window
		want string
	}{
		{"negative error rate", analysis.ErrorRate(0.01), neg, "value -0.5 is impossible: a rate lies in [0, 1]"},
		{"error rate above 1", analysis.ErrorRate(0.01), over, "value 1.5 is impossible"},
		{"success rate above 1", analysis.SuccessRate(0.99), neg, "value 1.5 is impossible"},
		{"negative latency", analysis.LatencyQuantile(0.99, time.Second),
			analysis.Window{Requests: 1000, Latency: thDist{n: 1000, d: -time.Millisecond}}, "value -0.001 is impossible: a latency"},
		{"negative sample size", analysis.ErrorRate(0.01), analysis.Window{Requests: -5}, "sample size -5 is impossible"},
		{"infinite value", analysis.Within("apdex", func(analysis.Window) float64 { return math.Inf(1) }, 0, 1),
			analysis.Window{Requests: 1000}, "value +Inf is impossible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &thWindows{by: map[string]analysis.Window{"canary": tc.win}}
			th, err := analysis.NewThresholds(src, tc.rule)
			require.NoError(t, err)
			res, err := th.Analyze(context.Background(), analysis.Query{Canary: "canary"})
			require.Error(t, err)
			assert.Equal(t, analysis.Error, res.Verdict, res.Reason)
			require.Len(t, res.Metrics, 1)
			assert.Equal(t, analysis.Error, res.Metrics[0].Verdict)
			assert.Contains(t, res.Reason, tc.rule.Name)
			assert.Contains(t, res.Reason, tc.want)
		})
	}
}

// A failing rule still wins over an impossible one: the rollback is safe.
func TestThresholdFailWinsOverError(t *testing.T) {
	src := &thWindows{by: map[string]analysis.Window{"canary": {Requests: 1000, Errors: 500,
		Latency: thDist{n: 1000, d: -time.Millisecond}}}}
	th, err := analysis.NewThresholds(src, analysis.ErrorRate(0.01), analysis.LatencyQuantile(0.99, time.Second))
	require.NoError(t, err)
	res, err := th.Analyze(context.Background(), analysis.Query{Canary: "canary"})
	require.NoError(t, err)
	assert.Equal(t, analysis.Fail, res.Verdict)
	assert.Equal(t, analysis.Error, res.Metrics[1].Verdict)
}

// Measurement.Ratio carries canary ÷ baseline, so nobody parses reasons.
func TestMeasurementRatio(t *testing.T) {
	src := &thWindows{by: map[string]analysis.Window{
		"canary": {Requests: 1000, Errors: 30}, "stable": {Requests: 1000, Errors: 10}}}
	th, err := analysis.NewThresholds(src, analysis.ErrorRate(0.01))
	require.NoError(t, err)
	res, err := th.Analyze(context.Background(), analysis.Query{Canary: "canary", Baseline: "stable"})
	require.NoError(t, err)
	assert.InDelta(t, 3.0, res.Metrics[0].Ratio, 1e-12)

	b, err := res.Metrics[0].MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(b), `"ratio":3`)
	var back analysis.Measurement
	require.NoError(t, back.UnmarshalJSON(b))
	assert.InDelta(t, 3.0, back.Ratio, 1e-12)

	assert.True(t, math.IsNaN(analysis.RatioOf(0, 0)))
	assert.True(t, math.IsInf(analysis.RatioOf(1, 0), 1))
	assert.True(t, math.IsNaN(analysis.RatioOf(math.NaN(), 1)))
}
