package prometheus

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
)

func newSource(t *testing.T, url string, queries map[string]string) *Source {
	t.Helper()
	s, err := NewSource(SourceConfig{Client: newTestClient(t, Options{URL: url}), Queries: queries, Step: 5 * time.Second})
	require.NoError(t, err)
	return s
}

func TestSourceRange(t *testing.T) {
	f := newFakeProm(t, func(path string, form url.Values) (int, string) {
		if path != "/api/v1/query_range" {
			return 400, `{"status":"error","errorType":"bad_data","error":"wrong path"}`
		}
		if strings.Contains(form.Get("query"), `"canary"`) {
			return 200, `{"status":"success","data":{"resultType":"matrix","result":[
				{"metric":{"pod":"a"},"values":[[1,"0.1"],[2,"0.2"]]},{"metric":{"pod":"b"},"values":[[1,"0.3"],[2,"NaN"]]}]}}`
		}
		return 200, `{"status":"success","warnings":["w"],"data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"0.05"]]}]}}`
	})
	src := newSource(t, f.URL, map[string]string{"latency": `x{backend="{{backend}}"}[{{step}}]`})
	s, err := src.Range(context.Background(), window30s(), "latency")
	require.NoError(t, err)
	require.Len(t, s.Canary, 4)
	assert.Equal(t, []float64{0.1, 0.2, 0.3}, s.Canary[:3])
	assert.True(t, math.IsNaN(s.Canary[3]), "NaN is passed on for the judge to handle")
	assert.Equal(t, []float64{0.05}, s.Baseline)
	assert.Equal(t, `x{backend="canary"}[5s]`, s.CanaryQuery)
	assert.Equal(t, `x{backend="stable"}[5s]`, s.BaselineQuery)
	assert.Equal(t, []string{"w"}, s.Warnings)
	require.Len(t, f.requests(), 2)
	for _, r := range f.requests() {
		assert.Equal(t, "1740830370.000", r.Form.Get("start"))
		assert.Equal(t, "1740830400.000", r.Form.Get("end"))
		assert.Equal(t, "5", r.Form.Get("step"))
	}

	// The analysis.SampleSource view of the same.
	c, b, err := src.Samples(context.Background(), window30s(), "latency")
	require.NoError(t, err)
	assert.Len(t, c, 4)
	assert.Equal(t, []float64{0.05}, b)

	q := window30s()
	q.Baseline = ""
	s, err = src.Range(context.Background(), q, "latency")
	require.NoError(t, err)
	assert.Nil(t, s.Baseline)
	assert.Empty(t, s.BaselineQuery)
}

func TestSourceErrors(t *testing.T) {
	f := newFakeProm(t, fixed(400, badPromQL))
	src := newSource(t, f.URL, map[string]string{"m": `x{backend="{{backend}}"}`})
	_, _, err := src.Samples(context.Background(), window30s(), "m")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Contains(t, err.Error(), `metric "m"`)
	assert.Contains(t, err.Error(), `(query: x{backend=`)

	_, _, err = src.Samples(context.Background(), window30s(), "nope")
	assert.ErrorIs(t, err, ErrUnknownMetric)
	assert.ErrorContains(t, err, `unknown metric "nope" (have m)`)

	q := window30s()
	q.Canary = ""
	_, _, err = src.Samples(context.Background(), q, "m")
	assert.ErrorContains(t, err, "Canary is empty")

	q = window30s()
	q.Since = q.Until.Add(time.Second)
	_, _, err = src.Samples(context.Background(), q, "m")
	assert.ErrorContains(t, err, "is after Until")

	hist := newFakeProm(t, fixed(200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"histograms":[[1,{"count":"1","sum":"1"}]]}]}}`))
	src = newSource(t, hist.URL, map[string]string{"m": `x{backend="{{backend}}"}`})
	_, _, err = src.Samples(context.Background(), window30s(), "m")
	assert.ErrorContains(t, err, `series {a="b"} holds native histograms`)

	wrong := newFakeProm(t, fixed(200, vectorOf("1")))
	src = newSource(t, wrong.URL, map[string]string{"m": `x{backend="{{backend}}"}`})
	_, _, err = src.Samples(context.Background(), window30s(), "m")
	assert.ErrorIs(t, err, ErrDecode)
}

func TestSourceEmptyWindowIsNoSamples(t *testing.T) {
	f := newFakeProm(t, fixed(400, badPromQL))
	src := newSource(t, f.URL, map[string]string{"m": `x{backend="{{backend}}"}`})
	c, b, err := src.Samples(context.Background(), analysis.Query{Canary: "c", Baseline: "b", Since: t0, Until: t0}, "m")
	require.NoError(t, err)
	assert.Empty(t, c)
	assert.Empty(t, b)
	assert.Empty(t, f.requests())
}

func TestNewSourceRejectsBadConfig(t *testing.T) {
	c := newTestClient(t, Options{URL: "http://127.0.0.1:1"})
	tests := []struct {
		name string
		cfg  SourceConfig
		want []string
	}{
		{"nothing", SourceConfig{}, []string{"prometheus source: Client is nil", "Queries is empty"}},
		{"empty name", SourceConfig{Client: c, Queries: map[string]string{"": "x"}}, []string{"a metric name is empty"}},
		{"empty query", SourceConfig{Client: c, Queries: map[string]string{"m": " "}}, []string{`Queries["m"] is empty`}},
		{"unknown var", SourceConfig{Client: c, Queries: map[string]string{"m": `x{a="{{nope}}"}`}}, []string{`Queries["m"]: unknown variable "nope"`}},
		{"negative", SourceConfig{Client: c, Queries: map[string]string{"m": "x"}, Window: -1, Step: -1}, []string{"Window -1ns is negative", "Step -1ns is negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSource(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestSourceFeedsComparison runs the Mann-Whitney analysis.Comparison on
// samples from the Source: a canary whose latency samples sit well above
// the baseline's fails; the same samples on both sides pass.
func TestSourceFeedsComparison(t *testing.T) {
	matrix := func(base float64) string {
		var b strings.Builder
		b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[`)
		for i := range 30 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `[%d,"%g"]`, 1700000000+5*i, base+0.001*float64(i%10))
		}
		b.WriteString(`]}]}}`)
		return b.String()
	}
	tests := []struct {
		name     string
		canary   float64
		verdict  analysis.Verdict
		estimate float64
	}{
		{"slower canary fails", 0.2, analysis.Fail, 0.1},
		{"same canary passes", 0.1, analysis.Pass, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, func(_ string, form url.Values) (int, string) {
				if strings.Contains(form.Get("query"), `"canary"`) {
					return 200, matrix(tc.canary)
				}
				return 200, matrix(0.1)
			})
			src := newSource(t, f.URL, map[string]string{"p99 latency": `x{backend="{{backend}}"}`})
			cmp, err := analysis.NewComparison(src, analysis.CompareMetric{Name: "p99 latency", Direction: analysis.Increase})
			require.NoError(t, err)
			res, err := cmp.Analyze(context.Background(), window30s())
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, res.Verdict, res.Reason)
			require.Len(t, res.Metrics, 1)
			m := res.Metrics[0]
			assert.Equal(t, int64(30), m.CanaryN)
			assert.Equal(t, int64(30), m.BaselineN)
			assert.InDelta(t, tc.estimate, m.Estimate, 1e-9)
		})
	}
}

// A sample outside its metric's unit makes the comparison an Error, never
// a verdict (issue 12, §3).
func TestSourceImpossibleSamples(t *testing.T) {
	f := newFakeProm(t, func(_ string, form url.Values) (int, string) {
		if strings.Contains(form.Get("query"), `"canary"`) {
			return 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"0.01"],[2,"-0.5"],[3,"NaN"]]}]}}`
		}
		return 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"0.01"],[2,"0.02"]]}]}}`
	})
	queries := map[string]string{"5xx rate": `r{backend="{{backend}}"}`}
	src, err := NewSource(SourceConfig{Client: newTestClient(t, Options{URL: f.URL}), Queries: queries,
		Units: map[string]Unit{"5xx rate": Ratio}, Step: 5 * time.Second})
	require.NoError(t, err)
	_, err = src.Range(context.Background(), window30s(), "5xx rate")
	require.ErrorIs(t, err, ErrImpossible)
	assert.Contains(t, err.Error(), `metric "5xx rate": canary: impossible value -0.5 (ratio unit)`)

	c, err := analysis.NewComparison(src, analysis.CompareMetric{Name: "5xx rate", MinSamples: 1})
	require.NoError(t, err)
	res, err := c.Analyze(context.Background(), window30s())
	require.ErrorIs(t, err, ErrImpossible)
	assert.Equal(t, analysis.Error, res.Verdict)

	_, err = NewSource(SourceConfig{Client: newTestClient(t, Options{URL: f.URL}), Queries: queries,
		Units: map[string]Unit{"latency": Seconds, "5xx rate": Unit(9)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Units["latency"]: no query of that name`)
	assert.Contains(t, err.Error(), `Units["5xx rate"]: 9 is unknown`)
}
