package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
)

func TestCompareMetricKayentaVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/kayenta_classifier.json")
	require.NoError(t, err)
	var file struct {
		Data  map[string][]float64
		Cases []struct {
			Name                  string
			Tolerance, Confidence float64
			Direction             Direction
			Effect, Critical      []float64
			Measure               EffectMeasure
			NaN                   NaNStrategy
			IsCritical            bool
			Experiment, Control   string
			X, Y                  []float64
			Want                  string
			WantCritical          bool
		}
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	require.NotEmpty(t, file.Cases)
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			x, y := c.X, c.Y
			if c.Experiment != "" {
				x, y = file.Data[c.Experiment], file.Data[c.Control]
				require.NotEmpty(t, x)
				require.NotEmpty(t, y)
			}
			m := CompareMetric{
				Name:       "m",
				Direction:  c.Direction,
				Tolerance:  c.Tolerance,
				Effect:     c.Measure,
				NaN:        c.NaN,
				Critical:   c.IsCritical,
				MinSamples: 1, // Kayenta has no minimum
			}
			if c.Effect != nil {
				m.AllowedDecrease, m.AllowedIncrease = c.Effect[0], c.Effect[1]
			}
			if c.Critical != nil {
				m.CriticalDecrease, m.CriticalIncrease = c.Critical[0], c.Critical[1]
			}
			require.Empty(t, m.validate("m"))
			meas, class, critical := m.judge(x, y, c.Confidence)
			want := map[string]cmpClass{"pass": cmpPass, "high": cmpHigh, "low": cmpLow, "nodata": cmpNoData}[c.Want]
			assert.Equal(t, want, class, meas.Reason)
			assert.Equal(t, c.WantCritical, critical, meas.Reason)
			assert.NotEmpty(t, meas.Reason)
			wantVerdict := map[cmpClass]Verdict{cmpPass: Pass, cmpHigh: Fail, cmpLow: Fail, cmpNoData: NoData}[want]
			assert.Equal(t, wantVerdict, meas.Verdict)
		})
	}
}

// seq returns lo, lo+step, … (n values).
func seq(n int, lo, step float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + float64(i)*step
	}
	return v
}

func TestCompareMetricJudgeEvidence(t *testing.T) {
	m := CompareMetric{Name: "latency", Direction: Increase}
	base := seq(30, 100, 1)
	canary := seq(30, 130, 1)
	meas := m.Judge(canary, base, 0) // default confidence 0.98
	assert.Equal(t, Fail, meas.Verdict)
	assert.Equal(t, "latency", meas.Name)
	assert.Equal(t, int64(30), meas.CanaryN)
	assert.Equal(t, int64(30), meas.BaselineN)
	assert.InDelta(t, 144.5, meas.Canary, 1e-12)
	assert.InDelta(t, 114.5, meas.Baseline, 1e-12)
	assert.InDelta(t, 30, meas.Estimate, 1e-12, "HL shift of two shifted sequences")
	assert.Less(t, meas.Lower, 30.0)
	assert.Greater(t, meas.Upper, 30.0)
	assert.Greater(t, meas.Lower, 0.25*30, "clears the dead band")
	assert.Equal(t, 900.0-meas.Statistic < 900, true)
	assert.Less(t, meas.PValue, 1e-6)
	for _, want := range []string{"latency: canary high", "shift +30", "98% CI", "meanRatio 1.262", "n=30/30", "U=", "p="} {
		assert.Contains(t, meas.Reason, want)
	}

	// The same samples with direction Decrease pass: only decreases count.
	m.Direction = Decrease
	meas = m.Judge(canary, base, 0.98)
	assert.Equal(t, Pass, meas.Verdict)
	assert.Contains(t, meas.Reason, "pass (direction decrease)")
}

func TestCompareMetricRules(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	base := seq(20, 10, 0.5)
	tests := []struct {
		name         string
		m            CompareMetric
		canary, base []float64
		wantClass    cmpClass
		wantN        [2]int64
		wantReason   string
	}{
		{
			name:   "nan removed",
			m:      CompareMetric{Name: "m"},
			canary: append(seq(20, 10, 0.5), nan, inf, math.Inf(-1)), base: base,
			wantClass: cmpPass, wantN: [2]int64{20, 20}, wantReason: "identical",
		},
		{
			// Replacing non-finite points by 0 pulls the canary down:
			// enough zeros make it low.
			name:   "nan replaced by zero",
			m:      CompareMetric{Name: "m", NaN: ReplaceNaN},
			canary: append(seq(6, 10, 1), nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, inf), base: base,
			wantClass: cmpLow, wantN: [2]int64{20, 20}, wantReason: "canary low",
		},
		{
			name:   "too few samples",
			m:      CompareMetric{Name: "m"},
			canary: seq(9, 10, 1), base: base,
			wantClass: cmpNoData, wantN: [2]int64{9, 20}, wantReason: "canary has 9 samples, baseline 20; need 10 each",
		},
		{
			name:   "too few after cleaning",
			m:      CompareMetric{Name: "m", MinSamples: 12},
			canary: append(seq(11, 10, 1), nan), base: base,
			wantClass: cmpNoData, wantN: [2]int64{11, 20}, wantReason: "1 dropped; need 12 each",
		},
		{
			name:   "must have data",
			m:      CompareMetric{Name: "m", MustHaveData: true},
			canary: nil, base: base,
			wantClass: cmpMissing, wantN: [2]int64{0, 20}, wantReason: "must have data",
		},
		{
			name:   "all equal",
			m:      CompareMetric{Name: "m"},
			canary: []float64{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, base: []float64{3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
			wantClass: cmpPass, wantN: [2]int64{11, 10}, wantReason: "every sample is 3",
		},
		{
			name:   "tolerance widens the dead band",
			m:      CompareMetric{Name: "m", Tolerance: 2},
			canary: seq(20, 12, 0.5), base: base,
			wantClass: cmpPass, wantN: [2]int64{20, 20}, wantReason: "dead band ±4",
		},
		{
			name:   "shift beyond the dead band",
			m:      CompareMetric{Name: "m"},
			canary: seq(20, 15, 0.5), base: base,
			wantClass: cmpHigh, wantN: [2]int64{20, 20}, wantReason: "canary high",
		},
		{
			name:   "effect size not reached",
			m:      CompareMetric{Name: "m", AllowedIncrease: 1.5},
			canary: seq(20, 15, 0.5), base: base,
			wantClass: cmpPass, wantN: [2]int64{20, 20}, wantReason: "meanRatio 1.339",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meas, class, _ := tt.m.judge(tt.canary, tt.base, 0.98)
			assert.Equal(t, tt.wantClass, class, meas.Reason)
			assert.Equal(t, tt.wantN, [2]int64{meas.CanaryN, meas.BaselineN})
			assert.Contains(t, meas.Reason, tt.wantReason)
		})
	}
}

func TestCompareMetricOutliers(t *testing.T) {
	// The canary is 40 lower, clearly, but one spike of 10⁶ makes its mean
	// 67 times the baseline's, so the mean-ratio effect size says
	// "increase" and the decrease does not count. Kayenta's outlier filter
	// (fences at the 1st/99th percentiles or 3 IQR, whichever is wider)
	// drops the spike and only the spike.
	base := seq(100, 100, 1)
	canary := append(seq(100, 60, 1), 1e6)
	m := CompareMetric{Name: "m"}
	meas, class, _ := m.judge(canary, base, 0.98)
	require.Equal(t, cmpPass, class, meas.Reason)
	assert.Contains(t, meas.Reason, "meanRatio 66.95")

	m.RemoveOutliers = true
	meas, class, _ = m.judge(canary, base, 0.98)
	assert.Equal(t, cmpLow, class, meas.Reason)
	assert.Equal(t, int64(100), meas.CanaryN, "the spike is dropped")
	assert.Equal(t, int64(100), meas.BaselineN, "nothing else is")
	assert.Contains(t, meas.Reason, "1 dropped")
	assert.Contains(t, meas.Reason, "meanRatio 0.732")
}

func TestCmpPercentile(t *testing.T) {
	// Apache Commons Math's default estimator: position p(n+1)/100.
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	assert.Equal(t, 2.75, cmpPercentile(s, 25)) // pos 2.75
	assert.Equal(t, 8.25, cmpPercentile(s, 75)) // pos 8.25
	assert.Equal(t, 5.5, cmpPercentile(s, 50))  // pos 5.5
	assert.Equal(t, 1.0, cmpPercentile(s, 1))   // pos 0.11 < 1
	assert.Equal(t, 10.0, cmpPercentile(s, 99)) // pos 10.89 >= n
	assert.Equal(t, 7.0, cmpPercentile([]float64{7}, 50))
}

// fakeSamples serves fixed samples per metric.
type fakeSamples struct {
	data  map[string][2][]float64
	err   map[string]error
	calls atomic.Int64
}

func (f *fakeSamples) Samples(ctx context.Context, q Query, metric string) ([]float64, []float64, error) {
	f.calls.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := f.err[metric]; err != nil {
		return nil, nil, err
	}
	d, ok := f.data[metric]
	if !ok {
		return nil, nil, nil
	}
	return d[0], d[1], nil
}

var (
	tcBase = seq(30, 100, 1)
	tcSame = seq(30, 100, 1)
	tcHigh = seq(30, 200, 1)
	tcLow  = seq(30, 0, 1)
)

func TestComparisonScoring(t *testing.T) {
	q := Query{Canary: "v2", Baseline: "v1"}
	pass := [2][]float64{tcSame, tcBase}
	high := [2][]float64{tcHigh, tcBase}
	low := [2][]float64{tcLow, tcBase}
	none := [2][]float64{nil, tcBase}
	tests := []struct {
		name        string
		c           Comparison
		data        map[string][2][]float64
		wantVerdict Verdict
		wantScore   float64
		wantReason  string
	}{
		{
			name:        "all pass",
			c:           Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}}},
			data:        map[string][2][]float64{"a": pass, "b": pass},
			wantVerdict: Pass, wantScore: 100, wantReason: "score 100.00 >= pass 95: 2 of 2 metrics pass",
		},
		{
			name:        "one of two fails",
			c:           Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}}},
			data:        map[string][2][]float64{"a": pass, "b": high},
			wantVerdict: Fail, wantScore: 50, wantReason: "score 50.00 < marginal 75: 1 of 2 metrics pass; failing: b",
		},
		{
			name:        "marginal waits",
			c:           Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "e"}}},
			data:        map[string][2][]float64{"a": pass, "b": pass, "c": pass, "d": pass, "e": low},
			wantVerdict: NoData, wantScore: 80, wantReason: "score 80.00 is marginal (>= 75, < pass 95)",
		},
		{
			name: "thresholds",
			c: Comparison{PassScore: 80, MarginalScore: 70,
				Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "e"}}},
			data:        map[string][2][]float64{"a": pass, "b": pass, "c": pass, "d": pass, "e": low},
			wantVerdict: Pass, wantScore: 80, wantReason: "score 80.00 >= pass 80",
		},
		{
			// Group "latency" weighs 70: its failure sinks the score to 30.
			name: "weighted groups",
			c: Comparison{GroupWeights: map[string]float64{"latency": 70},
				Metrics: []CompareMetric{{Name: "p50", Group: "latency"}, {Name: "p99", Group: "latency"}, {Name: "errors"}}},
			data:        map[string][2][]float64{"p50": high, "p99": high, "errors": pass},
			wantVerdict: Fail, wantScore: 30, wantReason: "score 30.00 < marginal 75",
		},
		{
			name: "half a weighted group",
			c: Comparison{GroupWeights: map[string]float64{"latency": 60, "errors": 40},
				Metrics: []CompareMetric{{Name: "p50", Group: "latency"}, {Name: "p99", Group: "latency"}, {Name: "5xx", Group: "errors"}}},
			data:        map[string][2][]float64{"p50": pass, "p99": high, "5xx": pass},
			wantVerdict: Fail, wantScore: 70, wantReason: "score 70.00",
		},
		{
			name: "critical failure beats the score",
			c: Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"},
				{Name: "5xx", Critical: true, Direction: Increase}}},
			data:        map[string][2][]float64{"a": pass, "b": pass, "c": pass, "d": pass, "5xx": high},
			wantVerdict: Fail, wantScore: 0, wantReason: "critical metric failed (score 0): 5xx: canary high",
		},
		{
			name:        "critical without data",
			c:           Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}, {Name: "5xx", Critical: true}}},
			data:        map[string][2][]float64{"a": pass, "b": pass, "5xx": none},
			wantVerdict: NoData, wantScore: 100, wantReason: "critical metric has no data: 5xx: no data",
		},
		{
			name:        "too many without data",
			c:           Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}}},
			data:        map[string][2][]float64{"a": pass, "b": none},
			wantVerdict: NoData, wantScore: 100, wantReason: "1 of 2 metrics have no data (limit 50%)",
		},
		{
			name: "a group without data",
			c: Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}, {Name: "c"},
				{Name: "z", Group: "other"}}},
			data:        map[string][2][]float64{"a": pass, "b": pass, "c": pass, "z": none},
			wantVerdict: NoData, wantScore: 100, wantReason: "group other has no metric with data",
		},
		{
			name: "must have data counts as failed",
			c: Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b"}, {Name: "c"},
				{Name: "z", MustHaveData: true}}},
			data:        map[string][2][]float64{"a": pass, "b": pass, "c": pass, "z": none},
			wantVerdict: NoData, wantScore: 75, wantReason: "score 75.00 is marginal",
		},
		{
			name:        "dry run does not count",
			c:           Comparison{Metrics: []CompareMetric{{Name: "a"}, {Name: "b", DryRun: true}}},
			data:        map[string][2][]float64{"a": pass, "b": high},
			wantVerdict: Pass, wantScore: 100, wantReason: "1 of 1 metrics pass",
		},
		{
			name:        "only dry run",
			c:           Comparison{Metrics: []CompareMetric{{Name: "b", DryRun: true}}},
			data:        map[string][2][]float64{"b": high},
			wantVerdict: NoData, wantScore: math.NaN(), wantReason: "every metric is dry-run",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSamples{data: tt.data}
			c := tt.c
			c.Source = src
			require.NoError(t, c.Validate())
			card, err := c.Score(context.Background(), q)
			require.NoError(t, err)
			assert.Equal(t, tt.wantVerdict, card.Verdict, card.Reason)
			if math.IsNaN(tt.wantScore) {
				assert.True(t, math.IsNaN(card.Score))
			} else {
				assert.InDelta(t, tt.wantScore, card.Score, 1e-9, card.Reason)
			}
			assert.Contains(t, card.Reason, tt.wantReason)
			assert.Len(t, card.Metrics, len(c.Metrics))
			assert.Equal(t, int64(len(c.Metrics)), src.calls.Load())
			for i, m := range card.Metrics {
				assert.Equal(t, c.Metrics[i].Name, m.Name, "evidence in metric order")
				assert.Equal(t, c.Metrics[i].DryRun, m.DryRun)
			}
		})
	}
}

func TestComparisonGroupScores(t *testing.T) {
	src := &fakeSamples{data: map[string][2][]float64{
		"p50": {tcSame, tcBase}, "p99": {tcHigh, tcBase}, "5xx": {nil, tcBase}, "rps": {tcSame, tcBase},
	}}
	c, err := NewComparison(src,
		CompareMetric{Name: "p50", Group: "latency"}, CompareMetric{Name: "p99", Group: "latency"},
		CompareMetric{Name: "5xx", Group: "errors", MustHaveData: true}, CompareMetric{Name: "rps"})
	require.NoError(t, err)
	card, err := c.Score(context.Background(), Query{Canary: "b", Baseline: "a"})
	require.NoError(t, err)
	require.Len(t, card.Groups, 3)
	byName := map[string]GroupScore{}
	for _, g := range card.Groups {
		byName[g.Name] = g
	}
	assert.Equal(t, GroupScore{Name: "latency", Score: 50, Weight: 100.0 / 3, Pass: 1, High: 1}, byName["latency"])
	assert.Equal(t, GroupScore{Name: "errors", Score: 0, Weight: 100.0 / 3, Missing: 1}, byName["errors"])
	assert.Equal(t, GroupScore{Name: DefaultGroup, Score: 100, Weight: 100.0 / 3, Pass: 1}, byName[DefaultGroup])
	assert.InDelta(t, 50, card.Score, 1e-9)
	assert.Equal(t, Fail, card.Verdict)
	assert.Equal(t, []string{DefaultGroup, "errors", "latency"}, []string{card.Groups[0].Name, card.Groups[1].Name, card.Groups[2].Name})
}

func TestComparisonAnalyze(t *testing.T) {
	src := &fakeSamples{data: map[string][2][]float64{"lat": {tcHigh, tcBase}}}
	fake := clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	c := &Comparison{Source: src, Metrics: []CompareMetric{{Name: "lat", Direction: Increase}}, Clock: fake}
	res, err := c.Analyze(context.Background(), Query{Canary: "v2", Baseline: "v1"})
	require.NoError(t, err)
	assert.Equal(t, Fail, res.Verdict)
	assert.Equal(t, fake.Now(), res.At)
	require.Len(t, res.Metrics, 1)
	assert.Equal(t, Fail, res.Metrics[0].Verdict)
	assert.InDelta(t, 100, res.Metrics[0].Estimate, 1e-9)
	var _ Analyzer = c
}

func TestComparisonErrors(t *testing.T) {
	boom := errors.New("prometheus unreachable")
	src := &fakeSamples{
		data: map[string][2][]float64{"a": {tcSame, tcBase}},
		err:  map[string]error{"b": boom},
	}
	c, err := NewComparison(src, CompareMetric{Name: "a"}, CompareMetric{Name: "b"})
	require.NoError(t, err)

	res, err := c.Analyze(context.Background(), Query{Canary: "v2", Baseline: "v1"})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, Error, res.Verdict)
	assert.Contains(t, res.Reason, `metric "b": prometheus unreachable`)

	res, err = c.Analyze(context.Background(), Query{Canary: "v2"})
	require.Error(t, err)
	assert.Equal(t, Error, res.Verdict)
	assert.Contains(t, err.Error(), "query baseline: empty")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = c.Analyze(ctx, Query{Canary: "v2", Baseline: "v1"})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Error, res.Verdict)

	bad := &Comparison{Source: src, Metrics: []CompareMetric{{Name: "a", Tolerance: -1}}}
	res, err = bad.Analyze(context.Background(), Query{Canary: "v2", Baseline: "v1"})
	require.Error(t, err)
	assert.Equal(t, Error, res.Verdict)
	assert.Contains(t, err.Error(), "tolerance: -1")
}

func TestComparisonValidate(t *testing.T) {
	src := &fakeSamples{}
	tests := []struct {
		name string
		c    Comparison
		want []string
	}{
		{"empty", Comparison{}, []string{"source: nil", "metrics: none given"}},
		{"metric fields", Comparison{Source: src, Metrics: []CompareMetric{{
			Direction: 7, NaN: 3, Effect: 4, Tolerance: math.NaN(), AllowedIncrease: -1,
			CriticalDecrease: math.Inf(1), OutlierFactor: -2, MinSamples: -1,
		}}}, []string{
			"metrics[0] name: empty", "direction: 7", "nan strategy: 3", "effect: 4",
			"tolerance: NaN", "allowed increase: -1", "critical decrease: +Inf",
			"outlier factor: -2", "min samples: -1",
		}},
		{"duplicate names", Comparison{Source: src, Metrics: []CompareMetric{{Name: "a"}, {Name: "a"}}},
			[]string{`"a" name: also used by metrics[0]`}},
		{"settings", Comparison{Source: src, Metrics: []CompareMetric{{Name: "a"}},
			Confidence: 1.5, PassScore: 101, MarginalScore: -1, NoDataLimit: 2},
			[]string{"confidence: 1.5", "pass score: 101", "marginal score: -1", "no-data limit: 2"}},
		{"marginal above pass", Comparison{Source: src, Metrics: []CompareMetric{{Name: "a"}},
			PassScore: 60, MarginalScore: 70}, []string{"marginal score: 70 is above the pass score 60"}},
		{"weights", Comparison{Source: src, Metrics: []CompareMetric{{Name: "a", Group: "x"}, {Name: "b", Group: "y"}},
			GroupWeights: map[string]float64{"x": 80, "y": 30, "z": 0}},
			[]string{`group weight "z": no metric`, "sum to 110, more than 100"}},
		{"weights short of 100", Comparison{Source: src, Metrics: []CompareMetric{{Name: "a", Group: "x"}},
			GroupWeights: map[string]float64{"x": 80}}, []string{"every group has a weight but they sum to 80"}},
		{"weight range", Comparison{Source: src, Metrics: []CompareMetric{{Name: "a", Group: "x"}, {Name: "b"}},
			GroupWeights: map[string]float64{"x": -5}}, []string{`group weight "x": -5 is not in [0, 100]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := NewComparison(nil)
	require.Error(t, err)
}

func TestCompareTextEncodings(t *testing.T) {
	for _, d := range []Direction{Either, Increase, Decrease} {
		b, err := d.MarshalText()
		require.NoError(t, err)
		var got Direction
		require.NoError(t, got.UnmarshalText(b))
		assert.Equal(t, d, got)
	}
	for _, s := range []NaNStrategy{RemoveNaN, ReplaceNaN} {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var got NaNStrategy
		require.NoError(t, got.UnmarshalText(b))
		assert.Equal(t, s, got)
	}
	for _, e := range []EffectMeasure{MeanRatio, CLES} {
		b, err := e.MarshalText()
		require.NoError(t, err)
		var got EffectMeasure
		require.NoError(t, got.UnmarshalText(b))
		assert.Equal(t, e, got)
	}
	var d Direction
	assert.ErrorContains(t, d.UnmarshalText([]byte("up")), `direction "up"`)
	_, err := Direction(9).MarshalText()
	assert.ErrorContains(t, err, "direction 9")
	assert.Equal(t, "Direction(9)", Direction(9).String())
	var s NaNStrategy
	assert.ErrorContains(t, s.UnmarshalText([]byte("drop")), `nan strategy "drop"`)
	var e EffectMeasure
	assert.ErrorContains(t, e.UnmarshalText([]byte("ratio")), `effect measure "ratio"`)
	assert.True(t, strings.HasPrefix(NaNStrategy(5).String(), "NaNStrategy("))
	assert.True(t, strings.HasPrefix(EffectMeasure(5).String(), "EffectMeasure("))
}

// The scorer against Kayenta's WeightedSumScorer vectors, classifications
// given (the classifier has its own vectors above).
func TestComparisonKayentaScorerVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/kayenta_scorer.json")
	require.NoError(t, err)
	var file struct {
		Cases []struct {
			Name    string
			Weights map[string]float64
			Metrics []struct {
				Class, Group string
				Critical     bool
			}
			Score       float64
			RampScore   *float64 `json:"ramp_score"`
			RampVerdict Verdict  `json:"ramp_verdict"`
		}
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	require.NotEmpty(t, file.Cases)
	classes := map[string]cmpClass{"pass": cmpPass, "high": cmpHigh, "low": cmpLow, "nodata": cmpNoData}
	verdicts := map[cmpClass]Verdict{cmpPass: Pass, cmpHigh: Fail, cmpLow: Fail, cmpNoData: NoData}
	for _, tc := range file.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			c := Comparison{GroupWeights: tc.Weights}
			var judged []cmpJudged
			for i, m := range tc.Metrics {
				class, ok := classes[m.Class]
				require.True(t, ok, m.Class)
				name := fmt.Sprintf("m%d", i)
				c.Metrics = append(c.Metrics, CompareMetric{Name: name, Group: m.Group, Critical: m.Critical})
				judged = append(judged, cmpJudged{
					meas:  Measurement{Name: name, Verdict: verdicts[class], Reason: name + ": " + m.Class},
					class: class, critical: m.Critical && (class == cmpHigh || class == cmpLow),
				})
			}
			card := c.score(judged)
			want := tc.Score
			if tc.RampScore != nil {
				want = *tc.RampScore
			}
			assert.InDelta(t, want, card.Score, 1e-9, card.Reason)
			assert.Equal(t, tc.RampVerdict, card.Verdict, card.Reason)
		})
	}
}
