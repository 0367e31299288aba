package prometheus

import (
	"context"
	"math"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
)

const errRateTmpl = `sum(rate(ramp_requests_total{backend="{{backend}}",code=~"5.."}[{{window}}])) / sum(rate(ramp_requests_total{backend="{{backend}}"}[{{window}}]))`

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// window30s is an analysis query over the 30 s before t0.
func window30s() analysis.Query {
	return analysis.Query{Canary: "canary", Baseline: "stable", Since: t0.Add(-30 * time.Second), Until: t0}
}

func renderFor(t *testing.T, tmpl, backend, window string) string {
	t.Helper()
	s, err := MustParseTemplate(tmpl).Render(map[string]string{"backend": backend, "window": window})
	require.NoError(t, err)
	return s
}

type answer struct {
	status int
	body   string
}

// byBackend answers a query by the backend="..." it names: the first key
// of answers found in the query wins; anything else is a test failure.
func byBackend(t *testing.T, answers map[string]answer) func(string, url.Values) (int, string) {
	return func(_ string, form url.Values) (int, string) {
		q := form.Get("query")
		for k, a := range answers {
			if strings.Contains(q, `backend="`+k+`"`) {
				return a.status, a.body
			}
		}
		t.Errorf("unexpected query %q", q)
		return 500, "unexpected"
	}
}

func ok(body string) answer { return answer{200, body} }

func newAnalyzer(t *testing.T, url string, metrics ...Metric) *Analyzer {
	t.Helper()
	a, err := New(Config{Client: newTestClient(t, Options{URL: url}), Metrics: metrics})
	require.NoError(t, err)
	return a
}

func errRateMetric() Metric {
	return Metric{Name: "5xx rate", Query: errRateTmpl, Threshold: AtMost(0.01), Unit: Ratio}
}

func TestAnalyzeOutcomes(t *testing.T) {
	canaryQuery := renderFor(t, errRateTmpl, "canary", "30s")
	twoSeries := `{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{"code":"500"},"value":[1,"0.1"]},{"metric":{"code":"503"},"value":[1,"0.2"]}]}}`
	tests := []struct {
		name       string
		canary     answer
		verdict    analysis.Verdict
		reason     string // the exact reason, when not empty
		contains   []string
		wantErr    error // errors.Is target, for Error verdicts
		wantAPIErr bool
	}{
		{name: "over the limit fails", canary: ok(vectorOf("0.032")), verdict: analysis.Fail,
			reason: "canary 5xx rate 3.20% > limit 1.00%; baseline 0.10% (query: " + canaryQuery + ")"},
		{name: "at the limit passes", canary: ok(vectorOf("0.01")), verdict: analysis.Pass,
			reason: "canary 5xx rate 1.00% ≤ limit 1.00%; baseline 0.10% (query: " + canaryQuery + ")"},
		{name: "scalar result", canary: ok(scalarOf("0.002")), verdict: analysis.Pass, contains: []string{"0.20% ≤ limit"}},
		{name: "empty result is no data", canary: ok(emptyVector), verdict: analysis.NoData,
			reason: "canary 5xx rate: no data: no series (query: " + canaryQuery + ")"},
		{name: "NaN is no data", canary: ok(vectorOf("NaN")), verdict: analysis.NoData, contains: []string{"no data: value is NaN"}},
		{name: "+Inf is impossible", canary: ok(vectorOf("+Inf")), verdict: analysis.Error, wantErr: ErrImpossible,
			contains: []string{"canary 5xx rate: impossible value +Inf (ratio unit): a ratio lies in [0, 1]"}},
		{name: "-Inf is impossible", canary: ok(vectorOf("-Inf")), verdict: analysis.Error, wantErr: ErrImpossible, contains: []string{"impossible value -Inf"}},
		{name: "a negative error rate is impossible, never a pass", canary: ok(vectorOf("-0.5")), verdict: analysis.Error, wantErr: ErrImpossible,
			reason: "canary 5xx rate: impossible value -0.5 (ratio unit): a ratio lies in [0, 1] (query: " + canaryQuery + ")"},
		{name: "an error rate above 1 is impossible", canary: ok(vectorOf("1.5")), verdict: analysis.Error, wantErr: ErrImpossible, contains: []string{"impossible value 1.5"}},
		{name: "several series is an error", canary: ok(twoSeries), verdict: analysis.Error, wantErr: ErrSeries,
			contains: []string{`2 series: {code="500"}, {code="503"}`, canaryQuery}},
		{name: "bad PromQL quotes Prometheus", canary: answer{400, badPromQL}, verdict: analysis.Error, wantAPIErr: true,
			contains: []string{`bad_data (HTTP 400): invalid parameter "query": 1:14: parse error: unexpected "}" in label matching, expected string`}},
		{name: "query timeout", canary: answer{503, `{"status":"error","errorType":"timeout","error":"query timed out"}`}, verdict: analysis.Error, wantAPIErr: true,
			contains: []string{"timeout (HTTP 503): query timed out"}},
		{name: "malformed JSON", canary: ok(`{"status":"success","data":`), verdict: analysis.Error, wantErr: ErrDecode, contains: []string{"not JSON"}},
		{name: "range vector result", canary: ok(`{"status":"success","data":{"resultType":"matrix","result":[]}}`), verdict: analysis.Error, wantErr: ErrDecode,
			contains: []string{"result is a range vector (matrix)"}},
		{name: "string result", canary: ok(`{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`), verdict: analysis.Error, wantErr: ErrDecode,
			contains: []string{"result is a string"}},
		{name: "histogram sample", canary: ok(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"le":"x"},"histogram":[1,{"count":"1","sum":"1"}]}]}}`),
			verdict: analysis.Error, contains: []string{`series {le="x"} is a native histogram`}},
		{name: "warnings are reported", canary: ok(`{"status":"success","warnings":["partial response"],"data":{"resultType":"scalar","result":[1,"0"]}}`),
			verdict: analysis.Pass, contains: []string{"[prometheus warnings: partial response]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, byBackend(t, map[string]answer{"canary": tc.canary, "stable": ok(vectorOf("0.001"))}))
			a := newAnalyzer(t, f.URL, errRateMetric())
			res, err := a.Analyze(context.Background(), window30s())

			assert.Equal(t, tc.verdict, res.Verdict, "reason: %s", res.Reason)
			require.Len(t, res.Metrics, 1)
			m := res.Metrics[0]
			assert.Equal(t, tc.verdict, m.Verdict)
			assert.Equal(t, m.Reason, res.Reason)
			assert.Equal(t, "5xx rate", m.Name)
			assert.Equal(t, 0.01, m.Upper)
			assert.True(t, math.IsInf(m.Lower, -1))
			assert.Equal(t, t0, res.At)
			if tc.reason != "" {
				assert.Equal(t, tc.reason, res.Reason)
			}
			for _, c := range tc.contains {
				assert.Contains(t, res.Reason, c)
			}
			if tc.verdict == analysis.Error {
				require.Error(t, err)
				assert.Contains(t, err.Error(), `metric "5xx rate"`)
				assert.True(t, math.IsNaN(m.Canary))
				if tc.wantErr != nil {
					assert.ErrorIs(t, err, tc.wantErr)
				}
				if tc.wantAPIErr {
					var apiErr *APIError
					assert.ErrorAs(t, err, &apiErr)
				}
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, 0.001, m.Baseline, "the baseline is evidence")
		})
	}
}

func TestAnalyzeSendsRenderedQueriesAtTheWindowEnd(t *testing.T) {
	f := newFakeProm(t, byBackend(t, map[string]answer{`can\"ary`: ok(vectorOf("0")), "stable": ok(vectorOf("0"))}))
	a := newAnalyzer(t, f.URL, errRateMetric())
	q := window30s()
	q.Canary = `can"ary`
	res, err := a.Analyze(context.Background(), q)
	require.NoError(t, err)
	assert.Equal(t, analysis.Pass, res.Verdict)
	qs := f.queries()
	assert.ElementsMatch(t, []string{
		`sum(rate(ramp_requests_total{backend="can\"ary",code=~"5.."}[30s])) / sum(rate(ramp_requests_total{backend="can\"ary"}[30s]))`,
		`sum(rate(ramp_requests_total{backend="stable",code=~"5.."}[30s])) / sum(rate(ramp_requests_total{backend="stable"}[30s]))`,
	}, qs)
	for _, r := range f.requests() {
		assert.Equal(t, "1740830400.000", r.Form.Get("time"), "evaluated at Until")
	}
}

func TestAnalyzeWindowAndVariables(t *testing.T) {
	tmpl := `x{backend="{{backend}}",v="{{version}}",role="{{role}}",c="{{canary}}",b="{{baseline}}",team="{{team}}",zone="{{zone}}"}[{{window}}:{{step}}] offset {{lag}} > {{rollout_step}}`
	f := newFakeProm(t, fixed(200, vectorOf("0")))
	now := t0
	a, err := New(Config{
		Client:  newTestClient(t, Options{URL: f.URL}),
		Metrics: []Metric{{Name: "m", Query: tmpl, Threshold: AtMost(1)}},
		Window:  10 * time.Minute,
		Vars:    map[string]string{"team": "payments", "zone": "eu", "lag": "1m"},
		Now:     func() time.Time { return now },
	})
	require.NoError(t, err)
	q := analysis.Query{Canary: "v2", Baseline: "v1", Step: 3, Vars: map[string]string{"zone": "us", "undeclared": "ignored"}}
	_, err = a.Analyze(context.Background(), q)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		`x{backend="v2",v="v2",role="canary",c="v2",b="v1",team="payments",zone="us"}[10m:10s] offset 1m > 3`,
		`x{backend="v1",v="v1",role="baseline",c="v2",b="v1",team="payments",zone="us"}[10m:10s] offset 1m > 3`,
	}, f.queries())
	assert.Equal(t, "1740830400.000", f.requests()[0].Form.Get("time"), "no Until: evaluated at Now")

	// A value that cannot stand outside a string is an Error naming it.
	q.Vars["lag"] = "1m) or vector(1"
	res, err := a.Analyze(context.Background(), q)
	require.Error(t, err)
	assert.Equal(t, analysis.Error, res.Verdict)
	assert.Contains(t, err.Error(), `variable "lag"`)
	assert.Contains(t, res.Reason, "(query: "+tmpl+")", "the template is quoted when it cannot be rendered")
	assert.Len(t, f.requests(), 2, "the unsafe query was never sent")
}

func TestAnalyzeStepDefaults(t *testing.T) {
	tests := []struct {
		window time.Duration
		want   string
	}{
		{30 * time.Second, "[30s:1s]"},
		{10 * time.Minute, "[10m:10s]"},
		{90*time.Second + 500*time.Millisecond, "[1m30s500ms:1s]"},
		{2 * time.Hour, "[2h:2m]"},
	}
	for _, tc := range tests {
		f := newFakeProm(t, fixed(200, vectorOf("0")))
		a := newAnalyzer(t, f.URL, Metric{Name: "m", Query: `x[{{window}}:{{step}}]`, Threshold: AtMost(1)})
		_, err := a.Analyze(context.Background(), analysis.Query{Canary: "c", Since: t0.Add(-tc.window), Until: t0})
		require.NoError(t, err)
		assert.Equal(t, "x"+tc.want, f.queries()[0])
	}
}

func TestAnalyzeBadQuery(t *testing.T) {
	f := newFakeProm(t, fixed(200, vectorOf("0")))
	a := newAnalyzer(t, f.URL, Metric{Name: "m", Query: `x{b="{{backend}}"}`, Compare: &Comparison{}})
	tests := []struct {
		name string
		q    analysis.Query
		want string
	}{
		{"since after until", analysis.Query{Canary: "c", Baseline: "b", Since: t0.Add(time.Second), Until: t0},
			"query window: Since 2025-03-01T12:00:01Z is after Until 2025-03-01T12:00:00Z"},
		{"no canary", analysis.Query{Baseline: "b"}, "query Canary is empty"},
		{"no baseline to compare", analysis.Query{Canary: "c"}, `query Baseline is empty but metric "m" compares with the baseline`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := a.Analyze(context.Background(), tc.q)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, analysis.Error, res.Verdict)
			assert.Equal(t, err.Error(), res.Reason)
		})
	}
	assert.Empty(t, f.requests())
}

func TestAnalyzeEmptyWindowIsNoData(t *testing.T) {
	f := newFakeProm(t, fixed(200, vectorOf("0")))
	a := newAnalyzer(t, f.URL, errRateMetric())
	for _, since := range []time.Time{t0, t0.Add(-999 * time.Microsecond)} {
		q := analysis.Query{Canary: "c", Since: since, Until: t0}
		res, err := a.Analyze(context.Background(), q)
		require.NoError(t, err)
		assert.Equal(t, analysis.NoData, res.Verdict)
		assert.Contains(t, res.Reason, "no data: prometheus analyzer: empty analysis window: ")
	}
	assert.Empty(t, f.requests())
}

func TestAnalyzeThresholdKinds(t *testing.T) {
	tests := []struct {
		name    string
		th      Threshold
		unit    Unit
		value   string
		verdict analysis.Verdict
		text    string
	}{
		{"at least, above", AtLeast(0.99), Ratio, "0.995", analysis.Pass, "canary m 99.50% ≥ minimum 99.00%"},
		{"at least, equal", AtLeast(0.99), Ratio, "0.99", analysis.Pass, "≥ minimum 99.00%"},
		{"at least, below", AtLeast(0.99), Ratio, "0.9899", analysis.Fail, "canary m 98.99% < minimum 99.00%"},
		{"between, low end", Between(1, 2), Number, "1", analysis.Pass, "canary m 1 within [1, 2]"},
		{"between, high end", Between(1, 2), Number, "2", analysis.Pass, "within [1, 2]"},
		{"between, above", Between(1, 2), Number, "2.001", analysis.Fail, "canary m 2.001 outside [1, 2]"},
		{"between, below", Between(1, 2), Number, "0.5", analysis.Fail, "outside [1, 2]"},
		{"latency", AtMost(0.25), Seconds, "0.3125", analysis.Fail, "canary m 312.5ms > limit 250ms"},
		{"percent", AtMost(5), Percent, "4.5", analysis.Pass, "canary m 4.50% ≤ limit 5.00%"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, fixed(200, vectorOf(tc.value)))
			a := newAnalyzer(t, f.URL, Metric{Name: "m", Query: `x{b="{{backend}}"}`, Threshold: tc.th, Unit: tc.unit})
			res, err := a.Analyze(context.Background(), analysis.Query{Canary: "c", Until: t0})
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, res.Verdict)
			assert.Contains(t, res.Reason, tc.text)
			assert.True(t, math.IsNaN(res.Metrics[0].Baseline), "no baseline named: NaN")
		})
	}
}

func TestAnalyzeComparison(t *testing.T) {
	tests := []struct {
		name             string
		cmp              Comparison
		th               Threshold
		canary, baseline answer
		verdict          analysis.Verdict
		text             string
		lower, upper     float64
	}{
		{"increase within relative margin", Comparison{Direction: analysis.Increase, Relative: 0.1}, Threshold{}, ok(vectorOf("0.22")), ok(vectorOf("0.2")), analysis.Pass,
			"canary latency 220ms ≤ 220ms allowed (baseline 200ms + margin 20ms)", math.Inf(-1), 0.22},
		{"increase beyond margin", Comparison{Direction: analysis.Increase, Relative: 0.1}, Threshold{}, ok(vectorOf("0.2201")), ok(vectorOf("0.2")), analysis.Fail,
			"canary latency 220.1ms > 220ms allowed (baseline 200ms + margin 20ms)", math.Inf(-1), 0.22},
		{"absolute plus relative", Comparison{Direction: analysis.Increase, Relative: 0.5, Absolute: 0.05}, Threshold{}, ok(vectorOf("0.35")), ok(vectorOf("0.2")), analysis.Pass,
			"≤ 350ms allowed (baseline 200ms + margin 150ms)", math.Inf(-1), 0.35},
		{"decrease fails", Comparison{Direction: analysis.Decrease, Absolute: 0.01}, Threshold{}, ok(vectorOf("0.18")), ok(vectorOf("0.2")), analysis.Fail,
			"canary latency 180ms < 190ms allowed (baseline 200ms − margin 10ms)", 0.19, math.Inf(1)},
		{"either passes", Comparison{Direction: analysis.Either, Absolute: 0.05}, Threshold{}, ok(vectorOf("0.16")), ok(vectorOf("0.2")), analysis.Pass,
			"within [150ms, 250ms] allowed (baseline 200ms ± margin 50ms)", 0.15, 0.25},
		{"either fails above", Comparison{Absolute: 0.05}, Threshold{}, ok(vectorOf("0.26")), ok(vectorOf("0.2")), analysis.Fail,
			"outside [150ms, 250ms] allowed", 0.15, 0.25},
		{"bounds intersect with threshold", Comparison{Direction: analysis.Increase, Relative: 1}, AtMost(0.3), ok(vectorOf("0.25")), ok(vectorOf("0.2")), analysis.Pass,
			"canary latency 250ms ≤ limit 300ms and ≤ 400ms allowed", math.Inf(-1), 0.3},
		{"threshold fails, comparison passes", Comparison{Direction: analysis.Increase, Relative: 1}, AtMost(0.1), ok(vectorOf("0.25")), ok(vectorOf("0.2")), analysis.Fail,
			"canary latency 250ms > limit 100ms", math.Inf(-1), 0.1},
		{"baseline empty is no data", Comparison{}, Threshold{}, ok(vectorOf("0.2")), ok(emptyVector), analysis.NoData,
			"baseline has no data: no series", math.Inf(-1), math.Inf(1)},
		{"baseline NaN is no data", Comparison{}, Threshold{}, ok(vectorOf("0.2")), ok(vectorOf("NaN")), analysis.NoData,
			"baseline has no data: value is NaN", math.Inf(-1), math.Inf(1)},
		{"baseline error is error", Comparison{}, Threshold{}, ok(vectorOf("0.2")), answer{400, badPromQL}, analysis.Error,
			"baseline: prometheus: bad_data (HTTP 400)", math.Inf(-1), math.Inf(1)},
		{"threshold fail beats baseline error", Comparison{}, AtMost(0.1), ok(vectorOf("0.2")), answer{400, badPromQL}, analysis.Fail,
			"canary latency 200ms > limit 100ms", math.Inf(-1), 0.1},
		{"threshold pass, baseline error", Comparison{}, AtMost(1), ok(vectorOf("0.2")), answer{400, badPromQL}, analysis.Error,
			"baseline: prometheus", math.Inf(-1), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, byBackend(t, map[string]answer{"canary": tc.canary, "stable": tc.baseline}))
			cmp := tc.cmp
			a := newAnalyzer(t, f.URL, Metric{Name: "latency", Query: `x{backend="{{backend}}"}`, Compare: &cmp, Threshold: tc.th, Unit: Seconds})
			res, err := a.Analyze(context.Background(), window30s())
			assert.Equal(t, tc.verdict, res.Verdict, res.Reason)
			assert.Contains(t, res.Reason, tc.text)
			assert.Equal(t, tc.verdict == analysis.Error, err != nil, "err: %v", err)
			m := res.Metrics[0]
			assert.InDelta(t, tc.lower, m.Lower, 1e-12)
			assert.InDelta(t, tc.upper, m.Upper, 1e-12)
			if math.IsInf(tc.lower, 0) {
				assert.Equal(t, tc.lower, m.Lower)
			}
			if math.IsInf(tc.upper, 0) {
				assert.Equal(t, tc.upper, m.Upper)
			}
		})
	}
}

func TestAnalyzeCounts(t *testing.T) {
	countTmpl := `sum(increase(ramp_requests_total{backend="{{backend}}"}[{{window}}]))`
	metric := Metric{Name: "5xx rate", Query: errRateTmpl, Count: countTmpl, MinCount: 100, Threshold: AtMost(0.01), Unit: Ratio,
		Compare: &Comparison{Direction: analysis.Increase, Absolute: 0.005}}
	answers := func(cv, cn, bv, bn answer) func(string, url.Values) (int, string) {
		return func(_ string, form url.Values) (int, string) {
			q := form.Get("query")
			count := strings.HasPrefix(q, "sum(increase")
			switch {
			case strings.Contains(q, `"canary"`) && count:
				return cn.status, cn.body
			case strings.Contains(q, `"canary"`):
				return cv.status, cv.body
			case count:
				return bn.status, bn.body
			}
			return bv.status, bv.body
		}
	}
	tests := []struct {
		name           string
		cv, cn, bv, bn answer
		verdict        analysis.Verdict
		text           string
		canaryN        int64
		baselineN      int64
	}{
		{"issue example", ok(vectorOf("0.032")), ok(vectorOf("1204.4")), ok(vectorOf("0.001")), ok(vectorOf("10877")), analysis.Fail,
			"canary 5xx rate 3.20% (n=1,204) > limit 1.00% and > 0.60% allowed (baseline 0.10% (n=10,877) + margin 0.50%)", 1204, 10877},
		{"pass", ok(vectorOf("0.002")), ok(vectorOf("500")), ok(vectorOf("0.001")), ok(vectorOf("900")), analysis.Pass,
			"canary 5xx rate 0.20% (n=500) ≤ limit 1.00% and ≤ 0.60% allowed (baseline 0.10% (n=900) + margin 0.50%)", 500, 900},
		{"canary too few", ok(vectorOf("0.5")), ok(vectorOf("99")), ok(vectorOf("0.001")), ok(vectorOf("900")), analysis.NoData,
			"canary 5xx rate 50.00% (n=99): no data: n below the minimum 100", 99, 900},
		{"canary count empty is zero", ok(emptyVector), ok(emptyVector), ok(vectorOf("0.001")), ok(vectorOf("900")), analysis.NoData,
			"no data: no series", 0, 900},
		{"baseline too few", ok(vectorOf("0.002")), ok(vectorOf("500")), ok(vectorOf("0.001")), ok(vectorOf("10")), analysis.NoData,
			"no data: canary 5xx rate 0.20% (n=500) cannot be compared: baseline 0.10% (n=10) has n below the minimum 100", 500, 10},
		{"too few but threshold fails", ok(vectorOf("0.5")), ok(vectorOf("100")), ok(vectorOf("0.001")), ok(vectorOf("10")), analysis.Fail,
			"canary 5xx rate 50.00% (n=100) > limit 1.00%", 100, 10},
		{"canary count error", ok(vectorOf("0.5")), answer{422, `{"status":"error","errorType":"execution","error":"boom"}`}, ok(vectorOf("0.001")), ok(vectorOf("10")), analysis.Error,
			"canary 5xx rate: prometheus: execution (HTTP 422): boom (count query: sum(increase(", 0, 10},
		{"canary count NaN", ok(vectorOf("0.5")), ok(vectorOf("NaN")), ok(vectorOf("0.001")), ok(vectorOf("10")), analysis.NoData,
			"no data: count value is NaN", 0, 10},
		{"negative canary count", ok(vectorOf("0.002")), ok(vectorOf("-3")), ok(vectorOf("0.001")), ok(vectorOf("900")), analysis.Error,
			"canary 5xx rate: impossible value: count -3, a count is finite and at least 0 (count query: sum(increase(", 0, 900},
		{"impossible baseline", ok(vectorOf("0.002")), ok(vectorOf("500")), ok(vectorOf("-0.5")), ok(vectorOf("900")), analysis.Error,
			"cannot be compared: baseline impossible value -0.5 (ratio unit)", 500, 900},
		{"negative baseline count", ok(vectorOf("0.002")), ok(vectorOf("500")), ok(vectorOf("0.001")), ok(vectorOf("-900")), analysis.Error,
			"cannot be compared: baseline impossible value: count -900", 500, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, answers(tc.cv, tc.cn, tc.bv, tc.bn))
			a := newAnalyzer(t, f.URL, metric)
			res, err := a.Analyze(context.Background(), window30s())
			assert.Equal(t, tc.verdict, res.Verdict, res.Reason)
			assert.Contains(t, res.Reason, tc.text)
			assert.Equal(t, tc.verdict == analysis.Error, err != nil)
			assert.Equal(t, tc.canaryN, res.Metrics[0].CanaryN)
			assert.Equal(t, tc.baselineN, res.Metrics[0].BaselineN)
			assert.Len(t, f.requests(), 4)
		})
	}
}

func TestAnalyzeCombinesMetrics(t *testing.T) {
	answers := map[string]answer{
		"pass":   ok(vectorOf("0")),
		"fail":   ok(vectorOf("5")),
		"nodata": ok(emptyVector),
		"error":  {400, badPromQL},
	}
	metric := func(kind string, dry bool) Metric {
		return Metric{Name: kind, Query: `x{k="` + kind + `",backend="{{backend}}"}`, Threshold: AtMost(1), DryRun: dry}
	}
	tests := []struct {
		name    string
		metrics []Metric
		verdict analysis.Verdict
		reasons []string
	}{
		{"all pass", []Metric{metric("pass", false)}, analysis.Pass, []string{"canary pass 0 ≤ limit 1"}},
		{"fail beats error", []Metric{metric("error", false), metric("fail", false), metric("pass", false)}, analysis.Fail, []string{"canary fail 5 > limit 1"}},
		{"error beats no data", []Metric{metric("nodata", false), metric("error", false)}, analysis.Error, []string{"canary error: prometheus: bad_data"}},
		{"no data beats pass", []Metric{metric("pass", false), metric("nodata", false)}, analysis.NoData, []string{"canary nodata: no data"}},
		{"dry run never decides", []Metric{metric("fail", true), metric("error", true), metric("pass", false)}, analysis.Pass, []string{"canary pass"}},
		{"only dry run", []Metric{metric("fail", true)}, analysis.Pass, []string{"every metric is dry-run"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, func(_ string, form url.Values) (int, string) {
				q := form.Get("query")
				for k, a := range answers {
					if strings.Contains(q, `k="`+k+`"`) {
						return a.status, a.body
					}
				}
				return 500, ""
			})
			a := newAnalyzer(t, f.URL, tc.metrics...)
			res, err := a.Analyze(context.Background(), analysis.Query{Canary: "c", Until: t0})
			assert.Equal(t, tc.verdict, res.Verdict, res.Reason)
			for _, r := range tc.reasons {
				assert.Contains(t, res.Reason, r)
			}
			assert.Equal(t, tc.verdict == analysis.Error, err != nil)
			require.Len(t, res.Metrics, len(tc.metrics))
			for i, m := range tc.metrics {
				assert.Equal(t, m.Name, res.Metrics[i].Name)
				assert.Equal(t, m.DryRun, res.Metrics[i].DryRun)
			}
		})
	}
}

func TestAnalyzeOnlyReasonsOfTheDecidingVerdict(t *testing.T) {
	f := newFakeProm(t, func(_ string, form url.Values) (int, string) {
		if strings.Contains(form.Get("query"), "a{") {
			return 200, vectorOf("5")
		}
		return 200, vectorOf("0")
	})
	a := newAnalyzer(t, f.URL,
		Metric{Name: "a", Query: `a{b="{{backend}}"}`, Threshold: AtMost(1)},
		Metric{Name: "b", Query: `b{b="{{backend}}"}`, Threshold: AtMost(1)})
	res, err := a.Analyze(context.Background(), analysis.Query{Canary: "c", Until: t0})
	require.NoError(t, err)
	assert.Equal(t, `canary a 5 > limit 1 (query: a{b="c"})`, res.Reason)
	assert.Equal(t, analysis.Pass, res.Metrics[1].Verdict)
}

func TestAnalyzeUnreachableAndTimeout(t *testing.T) {
	// Unreachable: a port nobody listens on.
	c := newTestClient(t, Options{URL: "http://127.0.0.1:1"})
	a, err := New(Config{Client: c, Metrics: []Metric{errRateMetric()}})
	require.NoError(t, err)
	res, err := a.Analyze(context.Background(), window30s())
	require.Error(t, err)
	assert.Equal(t, analysis.Error, res.Verdict)
	assert.Contains(t, res.Reason, "canary 5xx rate: prometheus: Post")
	assert.Contains(t, res.Reason, "127.0.0.1:1")

	// Timed out: the server never answers within the client's Timeout.
	release := make(chan struct{})
	srv := httptest.NewServer(hang(release))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	a, err = New(Config{Client: newTestClient(t, Options{URL: srv.URL, Timeout: 30 * time.Millisecond}), Metrics: []Metric{errRateMetric()}})
	require.NoError(t, err)
	res, err = a.Analyze(context.Background(), window30s())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, analysis.Error, res.Verdict)

	// Cancelled by the caller.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = a.Analyze(ctx, window30s())
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, analysis.Error, res.Verdict)
}

func TestAnalyzeConcurrencyBound(t *testing.T) {
	var inFlight, most atomic.Int32
	var mu sync.Mutex
	f := newFakeProm(t, nil)
	f.answer = func(string, url.Values) (int, string) {
		n := inFlight.Add(1)
		mu.Lock()
		if n > most.Load() {
			most.Store(n)
		}
		mu.Unlock()
		defer inFlight.Add(-1)
		time.Sleep(5 * time.Millisecond) // widen the overlap a real server would have
		return 200, vectorOf("0")
	}
	var metrics []Metric
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		metrics = append(metrics, Metric{Name: n, Query: n + `{b="{{backend}}"}`, Threshold: AtMost(1)})
	}
	a, err := New(Config{Client: newTestClient(t, Options{URL: f.URL}), Metrics: metrics, Concurrency: 2})
	require.NoError(t, err)
	res, err := a.Analyze(context.Background(), window30s())
	require.NoError(t, err)
	assert.Equal(t, analysis.Pass, res.Verdict)
	assert.Len(t, f.requests(), 10)
	assert.LessOrEqual(t, most.Load(), int32(2))
}

func TestNewRejectsBadConfig(t *testing.T) {
	c := newTestClient(t, Options{URL: "http://127.0.0.1:1"})
	good := errRateMetric()
	nan := math.NaN()
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"nil client", Config{Metrics: []Metric{good}}, []string{"Client is nil"}},
		{"no metrics", Config{Client: c}, []string{"Metrics is empty"}},
		{"negative window", Config{Client: c, Metrics: []Metric{good}, Window: -time.Second}, []string{"Window -1s is negative"}},
		{"negative step", Config{Client: c, Metrics: []Metric{good}, Step: -time.Second}, []string{"Step -1s is negative"}},
		{"negative concurrency", Config{Client: c, Metrics: []Metric{good}, Concurrency: -1}, []string{"Concurrency -1 is negative"}},
		{"unknown variable", Config{Client: c, Metrics: []Metric{{Name: "m", Query: `x{a="{{team}}"}`, Threshold: AtMost(1)}}},
			[]string{`metric 0 "m": Query: unknown variable "team"`, "declare others in Config.Vars"}},
		{"unknown variable in count", Config{Client: c, Metrics: []Metric{{Name: "m", Query: `x`, Count: `y[{{windw}}]`, Threshold: AtMost(1)}}},
			[]string{`metric 0 "m": Count: unknown variable "windw"`}},
		{"name outside quotes", Config{Client: c, Metrics: []Metric{{Name: "m", Query: `x{a={{backend}}}`, Threshold: AtMost(1)}}},
			[]string{`variable "backend" at offset 4 is outside a string literal`}},
		{"template syntax", Config{Client: c, Metrics: []Metric{{Name: "m", Query: `x{a="{{backend"}`, Threshold: AtMost(1)}}},
			[]string{`metric 0 "m": Query: query template: offset 5`}},
		{"empty query", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "  ", Threshold: AtMost(1)}}}, []string{`metric 0 "m": Query is empty`}},
		{"empty name", Config{Client: c, Metrics: []Metric{{Query: "x", Threshold: AtMost(1)}}}, []string{"metric 0: Name is empty"}},
		{"duplicate name", Config{Client: c, Metrics: []Metric{good, good}}, []string{`metric 1 "5xx rate": Name is used by an earlier metric`}},
		{"judges nothing", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "x"}}}, []string{"judges nothing"}},
		{"NaN threshold", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "x", Threshold: AtMost(nan)}}}, []string{"threshold max is NaN"}},
		{"inverted range", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "x", Threshold: Between(2, 1)}}}, []string{"threshold min 2 is above max 1"}},
		{"negative tolerance", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "x", Compare: &Comparison{Relative: -0.1, Absolute: nan}}}},
			[]string{"relative tolerance -0.1", "absolute tolerance NaN"}},
		{"bad direction", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "x", Compare: &Comparison{Direction: 7}}}}, []string{"compare direction 7 is unknown"}},
		{"min count without count", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "x", MinCount: 5, Threshold: AtMost(1)}}}, []string{"MinCount 5 is set but Count is empty"}},
		{"negative min count", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "x", Count: "y", MinCount: -1, Threshold: AtMost(1)}}}, []string{"MinCount -1 must be"}},
		{"bad unit", Config{Client: c, Metrics: []Metric{{Name: "m", Query: "x", Unit: 9, Threshold: AtMost(1)}}}, []string{"Unit 9 is unknown"}},
		{"builtin var redefined", Config{Client: c, Metrics: []Metric{good}, Vars: map[string]string{"window": "1m"}}, []string{`Vars: "window" is a built-in variable`}},
		{"bad var name", Config{Client: c, Metrics: []Metric{good}, Vars: map[string]string{"a-b": "1"}}, []string{`Vars: name "a-b"`}},
		{"everything at once", Config{Window: -1, Metrics: []Metric{{Name: "m"}}}, []string{"Client is nil", "Window", "Query is empty", "judges nothing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, a)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestAnalyzerMetricsAndDefaults(t *testing.T) {
	c := newTestClient(t, Options{URL: "http://127.0.0.1:1"})
	a, err := New(Config{Client: c, Metrics: []Metric{errRateMetric()}})
	require.NoError(t, err)
	assert.Equal(t, []Metric{errRateMetric()}, a.Metrics())
	at, window, step, err := a.span(analysis.Query{Until: t0})
	require.NoError(t, err)
	assert.Equal(t, t0, at)
	assert.Equal(t, DefaultWindow, window)
	assert.Equal(t, 5*time.Second, step)
	assert.Equal(t, DefaultConcurrency, a.conc)
}

func TestUnitFormat(t *testing.T) {
	tests := []struct {
		u    Unit
		v    float64
		want string
	}{
		{Number, 1234.5678, "1235"},
		{Number, 0.000123456, "0.0001235"},
		{Ratio, 0.032, "3.20%"},
		{Ratio, 0.00001, "0.001%"},
		{Ratio, 0, "0.00%"},
		{Percent, 99.5, "99.50%"},
		{Seconds, 0.25, "250ms"},
		{Seconds, 1.23456, "1.235s"},
		{Seconds, 0.0001234, "123.4µs"},
		{Seconds, 1e300, "1e+300s"},
		{Seconds, 12345.6, "12346s"},
		{Seconds, 0, "0s"},
		{Seconds, 3e-8, "30ns"},
		{Seconds, -0.5, "-500ms"},
		{Seconds, math.NaN(), "NaN"},
		{Ratio, math.Inf(1), "+Inf"},
		{Number, math.Inf(-1), "-Inf"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.u.Format(tc.v), "%v.Format(%v)", tc.u, tc.v)
	}
}

func TestUnitText(t *testing.T) {
	for _, u := range []Unit{Number, Ratio, Percent, Seconds} {
		b, err := u.MarshalText()
		require.NoError(t, err)
		var got Unit
		require.NoError(t, got.UnmarshalText(b))
		assert.Equal(t, u, got)
	}
	var u Unit
	assert.ErrorContains(t, u.UnmarshalText([]byte("bytes")), `unknown unit "bytes"`)
	assert.Equal(t, "Unit(9)", Unit(9).String())
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1204: "1,204", 10877: "10,877", 1234567: "1,234,567", -1234: "-1,234"} {
		assert.Equal(t, want, thousands(n))
	}
	assert.Equal(t, int64(0), roundCount(math.NaN()))
	assert.Equal(t, int64(0), roundCount(-3))
	assert.Equal(t, int64(math.MaxInt64), roundCount(1e30))
	assert.Equal(t, int64(3), roundCount(2.5))
}

func TestAnalyzeImpossibleByUnit(t *testing.T) {
	for _, tc := range []struct {
		unit  Unit
		value string
		bad   bool
	}{
		{Seconds, "-0.001", true}, {Seconds, "0", false}, {Seconds, "1e9", false},
		{Percent, "100.5", true}, {Percent, "-1", true}, {Percent, "99.5", false},
		{Ratio, "1", false}, {Ratio, "1.0001", true},
		{Number, "-1e+300", false}, {Number, "+Inf", true},
	} {
		t.Run(tc.unit.String()+" "+tc.value, func(t *testing.T) {
			f := newFakeProm(t, byBackend(t, map[string]answer{"canary": ok(vectorOf(tc.value)), "stable": ok(vectorOf("0"))}))
			a := newAnalyzer(t, f.URL, Metric{Name: "m", Query: `x{backend="{{backend}}"}`, Threshold: AtMost(1e12), Unit: tc.unit})
			res, err := a.Analyze(context.Background(), window30s())
			if tc.bad {
				assert.ErrorIs(t, err, ErrImpossible)
				assert.Equal(t, analysis.Error, res.Verdict, res.Reason)
				assert.Contains(t, res.Reason, "canary m: impossible value "+tc.value)
				return
			}
			assert.NoError(t, err)
			assert.NotEqual(t, analysis.Error, res.Verdict, res.Reason)
		})
	}
}
