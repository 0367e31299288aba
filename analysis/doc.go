// Package analysis judges whether a new version is healthy.
//
// An Analyzer turns a Query (which versions, which window) into a Result: a
// Verdict — Pass, Fail, NoData or Error — with the evidence behind it, one
// Measurement per metric, and a one-line reason a person can read. NoData
// is its own verdict and is never a pass: a small sample says nothing.
//
// A Policy says how often a step's analysis is measured and how many
// results of each kind settle it; Tally applies those rules (see Policy for
// the exact comparisons).
//
// analysis is a leaf: it imports neither traffic nor the rollout engine.
//
// # Recording requests
//
// A Recorder is the embedded source of measurements: give it to the
// traffic splitter as its Observer and it counts every request per
// backend — by status class, response bytes and latency — so that no
// Prometheus is needed. Window(backend, since, until) reads back what a
// backend did over a span; Total reads everything since the backend was
// first seen. A Collector exposes the totals to Prometheus as
// ramp_requests_total{backend,code}, ramp_request_duration_seconds and
// ramp_response_bytes_total.
//
// Time is cut into slices (6 s by default) kept in a ring (11 by default,
// so at least the last 60 s are remembered). A window is the sum of the
// slices that overlap the span asked for, so it may start up to one slice
// earlier than asked; Window.Since and Window.Until say what it covers. A
// slice is reused when its turn comes round again, after its counts are
// added to the backend's totals, which therefore never go down.
//
// Latency goes into a log-linear histogram of 974 buckets: 36 per octave
// from 1.024 µs to 137 s, plus one below and one above that range. A
// quantile read from it is within 1 % of the exact one (0.979 % at worst).
//
// A request whose client went away before the response
// (StatusClientClosedRequest, 499) is no server error: it is counted in
// Window.Gone, not in Requests or Errors, and how long its client waited
// is kept at a quarter-octave resolution as a right-censored latency
// (Window.SlowerThan counts it as slower than a limit it waited past).
// Requests in flight are counted too when the splitter reports their
// start (Recorder.Start and Finish): InFlight(backend, d) counts those in
// flight for longer than d, so that a version that hangs is judged slow
// before any of its requests ends.
//
// Window covers at most Span (60 s by default) whole. RecorderOptions.Span
// sizes the slices from the longest step to judge, and CheckSpan refuses
// a longer step with an error wrapping ErrSpanTooLong, rather than judging
// its last minute only; ramp.New asks every judge over a Recorder so.
//
// Memory per backend is fixed when the backend is added and never grows
// with the number of requests. With the defaults it is 58,648 bytes of
// fields, 57,208 B measured on the heap:
//
//	one slice:  974 × 4 B latency counts (uint32: 4 billion a bucket a slice)
//	          + 109 × 4 B counts of gone requests by wait
//	          + 8 × 8 B status-class and byte counters, padded
//	          + 8 B saying which slice the ring slot holds      =  4,424 B
//	totals:     974 × 8 B + 109 × 8 B + 9 × 8 B, 128 × 8 B of
//	            in-flight counts, locks and padding             =  9,984 B
//	11 slices + totals                                          = 58,648 B
//
// Each further slice costs 4,424 B; 12 or more slices pass 64 KiB once the
// allocator rounds the ring up to whole pages. Recording a request is
// three atomic adds and no lock or allocation (Start and Finish add a
// compare-and-swap each and one read of the monotonic clock); the wall
// clock, which costs more to read than the rest, is read once per tick
// (SliceDuration/100, 1–50 ms) by the first request after it.
//
// # Thresholds
//
// Thresholds is an Analyzer that holds the canary to fixed limits:
// ErrorRate (5xx share <= x), SuccessRate (non-5xx share >= x),
// LatencyQuantile (q-quantile <= d) and Within (any function of a window
// in [min, max]). The rules for each Threshold:
//
//   - a value the metric cannot take (±Inf, a rate outside [0, 1], a
//     negative latency) or a negative sample size → Error naming the
//     metric and the value, never Pass;
//   - fewer samples than MinSamples (default 100) → NoData, never Pass;
//   - a value that cannot be computed (NaN) → NoData;
//   - value < Min or value > Max → Fail (strict: equal to a limit passes);
//   - otherwise Pass.
//
// The canary's window is Query.Since..Query.Until; the baseline's window
// over the same span is measured alongside as evidence only. Verdicts
// combine as: any Fail → Fail, else any Error → Error, else any NoData →
// NoData, else Pass; dry-run
// thresholds are reported but never decide. Each Measurement's Reason
// gives the numbers, e.g.
//
//	canary 5xx rate 3.20% (n=1,250) > limit 1.00%; baseline 0.10% (n=10,877)
//
// # Comparing canary and baseline
//
// Comparison is an Analyzer that compares the two, metric by metric, the
// way Kayenta's NetflixACAJudge does, over samples a SampleSource gives
// (one value per point of the window: a Prometheus range query, say). Per
// metric (CompareMetric): non-finite samples are removed or replaced by 0,
// outliers optionally dropped (Kayenta's IQR fences), fewer than
// MinSamples (10) on either side is NoData; then a Mann-Whitney U test
// with the Hodges–Lehmann shift and its confidence interval (R's
// wilcox.test with tie and continuity correction, its roots located
// exactly, so tiny values such as latencies in seconds keep an ordered,
// scale-invariant interval). The metric fails "high" when the interval's
// lower end is above Tolerance·|shift| (0.25 by default) and the effect
// size — the ratio of means, or the common-language effect size — reaches
// AllowedIncrease; "low" symmetrically; Direction says which of the two
// count. Group scores (the share of metrics passing) are weighted into a
// score: ≥ PassScore (95) passes, below MarginalScore (75) fails, and in
// between is marginal, which is NoData: wait for more evidence. A Critical
// metric that fails fails the analysis on its own and scores it 0, as
// Kayenta's WeightedSumScorer does. CompareMetric documents every rule and
// comparison exactly; each Measurement carries the means, sample sizes,
// the shift as Estimate with its interval as Lower and Upper, U as
// Statistic, the p-value and the effect size as Ratio. The tests check the
// classifier against Kayenta's ClassifierSuite vectors and the scorer
// against its ScorerSuite vectors (testdata/).
//
// Where ramp deliberately differs from Kayenta (every other rule is
// Kayenta's):
//
//   - Missing data never passes and never fails. A metric without data is
//     NoData; when NoDataLimit (50%) or more of the metrics have none, the
//     verdict is NoData (Kayenta fails with score 0); a Critical metric
//     without data makes the verdict NoData (Kayenta fails with score 0);
//     under ReplaceNaN a metric with no samples at all is NoData (Kayenta
//     passes it). MustHaveData gives Kayenta's NODATA_FAIL for a metric.
//   - A marginal score (MarginalScore ≤ score < PassScore) is NoData: the
//     rollout waits for more evidence instead of continuing.
//   - A metric needs MinSamples (10) samples on each side, where Kayenta
//     judges any non-empty sample; set MinSamples 1 for Kayenta's rule.
//   - Outliers are kept unless RemoveOutliers is set (Kayenta's
//     NetflixACAJudge always removes them, with factor 3).
//   - The Mann-Whitney interval's ends are located exactly (Kayenta finds
//     them numerically), and an end that falls exactly on the dead band's
//     edge is decided by the rank-sum test of that shift.
//   - A group none of whose metrics has data scores 100, as in Kayenta,
//     but makes the verdict NoData.
//   - Dry-run metrics are measured and reported but never scored.
//
// # Sequential tests
//
// A fixed-sample test re-run as data arrives raises false alarms with
// every look (re-running a z-test after every 100 requests up to 20,000
// fails 7–19% of healthy canaries at α = 1%). SequentialErrorRate (error
// rate against a limit, a mixture of likelihood ratios),
// SequentialErrorRatio (canary against baseline: a one-sided mixture of
// likelihood ratios on where the errors land, or the Bayes factor of
// Lindon & Malek) and SequentialLatency (time-uniform bands on both
// latency distributions, Howard & Ramdas) are anytime-valid instead: they
// may be checked continuously, and a canary that is no worse than allowed
// is failed with probability at most Alpha (1%) over the whole run. Each
// fails as soon as the evidence says worse than allowed, passes only once
// it says within the pass threshold, and is NoData in between. Each has a
// monitor (NewMonitor, Update on cumulative counts, allocation-free) for a
// continuous rollback guard and an Analyze over a WindowSource; give the
// Analyzer a fixed Query.Since (the step's start), since the guarantee is
// about one growing stream. Measurements carry the log e-value or log
// Bayes factor as Statistic, the always-valid p-value, the time-uniform
// bounds and the sample sizes.
//
// # Requests to a verdict
//
// SequentialErrorRatio (the default EffectMixture, α = 1%) on a canary
// whose error rate is a multiple of the baseline's 0.5%, 50/50 traffic,
// looked at every 100 requests; requests count both versions. The fixed
// sample is what a one-sided two-proportion z-test at the same α needs
// for power 0.8 (stats.TwoProportionSampleSize), looked at once:
//
//	regression  median  p90      fixed n (power 0.8)
//	1.5×        45,900  98,600   39,892
//	2×          10,500  24,500   11,952
//	3×           3,500   7,200    3,972
//	10×            600     900      528
//
// A/A (both at 0.5%), 1,000 runs looked at every 100 requests up to
// 20,000: 0.4% false fails (≤ α). Every figure comes from 1,000 seeded
// runs of TestSimErrorRatioTable (RAMP_LONG_SIM=1 reproduces them
// exactly; by default it checks them on 200 runs). The Lindon–Malek
// Bayes factor (DirichletMixture) needs a median of 4,400 requests for
// the 3× case. No anytime-valid test at α = 1% can do much better: Wald's
// sequential probability ratio test that knows the effect is exactly 3× —
// the e-process that grows fastest at that effect — needs a median of
// 3,200 in the same simulation, so a median of 3,000 is out of reach
// unless α is raised. The price of watching continuously is thus 0–15%
// more requests at the median than a fixed test for effects of 2× and
// more, in exchange for never inflating false alarms.
package analysis
