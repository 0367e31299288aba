// Package prometheus judges a canary by PromQL queries against a
// Prometheus server (or anything serving its HTTP API: Thanos, Cortex,
// Mimir, VictoriaMetrics).
//
// A Client runs instant (/api/v1/query) and range (/api/v1/query_range)
// queries and decodes the answers into prometheus/common/model values,
// strictly: a malformed answer is an error wrapping ErrDecode, and an
// error answer is an *APIError that quotes Prometheus's errorType and
// message. Options cover bearer tokens, basic auth, TLS, extra headers,
// a per-request timeout and context cancellation.
//
// An Analyzer (an analysis.Analyzer) runs a list of Metrics. Each metric
// is a query Template — PromQL with {{name}} placeholders whose values
// are escaped for where they stand, so that no backend name can change
// the query — and how to judge its value: a Threshold, a Comparison with
// the baseline, or both.
//
//	sum(rate(ramp_requests_total{backend="{{backend}}",code=~"5.."}[{{window}}]))
//	  /
//	sum(rate(ramp_requests_total{backend="{{backend}}"}[{{window}}]))
//
// No series is NoData, never a pass: a ratio whose numerator selects
// series that do not exist yet (no 5xx so far) is therefore NoData too.
// Where "none" means 0, say so in the query: (sum(rate(...)) or
// vector(0)) / sum(rate(...)).
//
// A short example, judging the canary's 5xx rate against a 1% limit over
// the span the analysis.Query names:
//
//	client, err := prometheus.NewClient(prometheus.Options{URL: "http://prometheus:9090"})
//	...
//	analyzer, err := prometheus.New(prometheus.Config{
//		Client: client,
//		Metrics: []prometheus.Metric{{
//			Name:      "5xx rate",
//			Query:     errRate, // the template above
//			Threshold: prometheus.AtMost(0.01),
//			Unit:      prometheus.Ratio,
//		}},
//	})
//	...
//	res, err := analyzer.Analyze(ctx, analysis.Query{Canary: "v2", Baseline: "v1", Since: stepStart})
//
// The built-in variables are backend (the version measured: the
// canary, or the baseline in the baseline's run), version (the same),
// role ("canary" or "baseline"), canary and baseline (both names),
// window (the span analysed, a Prometheus duration), step (the range
// query resolution) and rollout_step; Config.Vars declares more. A
// template that refers to anything else is refused by New, naming the
// variable.
//
// # The rules for one metric
//
// The canary's query is evaluated at the end of the window; it must
// yield a scalar or an instant vector with one sample. A window shorter
// than Prometheus's 1 ms resolution (a step that has just begun) is
// NoData without a query; Since after Until is an Error.
//
//   - Prometheus unreachable, timing out, or answering with an error
//     (bad PromQL: HTTP 400 bad_data, quoted) → Error. So is a malformed
//     answer, a range vector or string result, a native histogram
//     sample, and several series where one is expected (the error names
//     them). The engine counts Errors toward the consecutive-error limit.
//   - No series → NoData. A NaN value (0/0) → NoData, saying so.
//   - A value the metric cannot take → Error wrapping ErrImpossible,
//     naming the metric and the value, never a pass: ±Inf; for Unit
//     Ratio a value outside [0, 1], for Percent outside [0, 100], for
//     Seconds below 0; a count (Count) that is negative. The same for the
//     baseline's value or count makes the comparison an Error.
//   - With Count set: a count below MinCount → NoData.
//   - Threshold: Pass when Min <= value <= Max (a missing bound does not
//     apply), Fail otherwise. Both comparisons are inclusive.
//   - Comparison: the margin is Absolute + Relative × |baseline|; for
//     Increase, Pass when canary <= baseline + margin, else Fail; for
//     Decrease, Pass when canary >= baseline − margin, else Fail; Either
//     (analysis.Direction's zero value) needs both. A baseline without a value is NoData, a baseline query
//     that fails is Error.
//   - Threshold and Comparison together: the worse of the two, in the
//     order Fail, Error, NoData, Pass.
//
// The analysis's verdict is the worst of its metrics' in the same order
// (a proven failure outranks a failing source), ignoring DryRun metrics,
// which are measured and reported only. Each Measurement holds the
// canary's and the baseline's values (NaN when not measured), the
// sample sizes when Count is set, the bounds the canary had to stay
// within (±Inf for none) and a reason that quotes the numbers and the
// query, such as
//
//	canary 5xx rate 3.20% (n=1,204) > limit 1.00%; baseline 0.10% (n=10,877) (query: sum(rate(...)))
//
// A Source runs query templates as range queries instead, one value per
// point of the window, and is the analysis.SampleSource that feeds the
// Mann-Whitney analysis.Comparison (Kayenta's judge) from Prometheus:
//
//	src, err := prometheus.NewSource(prometheus.SourceConfig{
//		Client:  client,
//		Queries: map[string]string{"p99 latency": p99}, // by CompareMetric.Name
//	})
//	...
//	cmp, err := analysis.NewComparison(src, analysis.CompareMetric{Name: "p99 latency", Direction: analysis.Increase})
package prometheus
