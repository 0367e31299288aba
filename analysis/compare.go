package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/ramp-go/ramp/analysis/stats"
	"github.com/ramp-go/ramp/clock"
)

// SampleSource yields the samples of one metric for the canary and the
// baseline of a query: one value per point of the analysis window (a
// Prometheus range query, for instance). Values may include NaN and ±Inf;
// the Comparison decides what to do with them. An error means the source
// failed and makes the whole analysis an Error.
type SampleSource interface {
	Samples(ctx context.Context, q Query, metric string) (canary, baseline []float64, err error)
}

// SampleSourceFunc adapts a function to SampleSource.
type SampleSourceFunc func(ctx context.Context, q Query, metric string) (canary, baseline []float64, err error)

// Samples calls f.
func (f SampleSourceFunc) Samples(ctx context.Context, q Query, metric string) ([]float64, []float64, error) {
	return f(ctx, q, metric)
}

// Direction says which change of a metric counts against the canary.
type Direction int

// Directions, as Kayenta's "direction" setting.
const (
	// Either: a significant increase or decrease fails the metric.
	Either Direction = iota
	// Increase: only an increase fails it (latency, error counts).
	Increase
	// Decrease: only a decrease fails it (throughput, success ratio).
	Decrease
)

func (d Direction) String() string {
	switch d {
	case Either:
		return "either"
	case Increase:
		return "increase"
	case Decrease:
		return "decrease"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// MarshalText encodes the direction by name.
func (d Direction) MarshalText() ([]byte, error) {
	if d < Either || d > Decrease {
		return nil, fmt.Errorf("analysis: direction %d is not either, increase or decrease", int(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText decodes "either", "increase" or "decrease".
func (d *Direction) UnmarshalText(b []byte) error {
	for _, c := range []Direction{Either, Increase, Decrease} {
		if c.String() == string(b) {
			*d = c
			return nil
		}
	}
	return fmt.Errorf("analysis: direction %q is not either, increase or decrease", b)
}

// NaNStrategy says what to do with samples that are not finite numbers
// (NaN, +Inf, −Inf), as Kayenta's "nanStrategy" setting.
type NaNStrategy int

// NaN strategies.
const (
	// RemoveNaN drops them (Kayenta's default, "remove").
	RemoveNaN NaNStrategy = iota
	// ReplaceNaN replaces them with 0 ("replace"): for metrics such as
	// error counts where a missing point means none happened.
	ReplaceNaN
)

func (s NaNStrategy) String() string {
	switch s {
	case RemoveNaN:
		return "remove"
	case ReplaceNaN:
		return "replace"
	}
	return fmt.Sprintf("NaNStrategy(%d)", int(s))
}

// MarshalText encodes the strategy by name.
func (s NaNStrategy) MarshalText() ([]byte, error) {
	if s != RemoveNaN && s != ReplaceNaN {
		return nil, fmt.Errorf("analysis: nan strategy %d is not remove or replace", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes "remove" or "replace".
func (s *NaNStrategy) UnmarshalText(b []byte) error {
	switch string(b) {
	case "remove":
		*s = RemoveNaN
	case "replace":
		*s = ReplaceNaN
	default:
		return fmt.Errorf("analysis: nan strategy %q is not remove or replace", b)
	}
	return nil
}

// EffectMeasure is how a CompareMetric sizes a difference, as Kayenta's
// "effectSize.measure" setting.
type EffectMeasure int

// Effect-size measures.
const (
	// MeanRatio is mean(canary)/mean(baseline) (Kayenta's "meanRatio",
	// the default). It is undefined when the baseline's mean is 0, and the
	// effect-size conditions then hold (Kayenta's current behaviour).
	MeanRatio EffectMeasure = iota
	// CLES is the common-language effect size U/(N·M): the probability
	// that a canary sample exceeds a baseline sample, ties counting half
	// (Kayenta's "cles"). 0.5 means no effect.
	CLES
)

func (e EffectMeasure) String() string {
	switch e {
	case MeanRatio:
		return "meanRatio"
	case CLES:
		return "cles"
	}
	return fmt.Sprintf("EffectMeasure(%d)", int(e))
}

// MarshalText encodes the measure by Kayenta's name.
func (e EffectMeasure) MarshalText() ([]byte, error) {
	if e != MeanRatio && e != CLES {
		return nil, fmt.Errorf("analysis: effect measure %d is not meanRatio or cles", int(e))
	}
	return []byte(e.String()), nil
}

// UnmarshalText decodes "meanRatio" or "cles".
func (e *EffectMeasure) UnmarshalText(b []byte) error {
	switch string(b) {
	case "meanRatio":
		*e = MeanRatio
	case "cles":
		*e = CLES
	default:
		return fmt.Errorf("analysis: effect measure %q is not meanRatio or cles", b)
	}
	return nil
}

// Defaults of a Comparison and its metrics (Kayenta's NetflixACAJudge
// values where it has one).
const (
	DefaultConfidence        = 0.98 // Comparison.Confidence
	DefaultTolerance         = 0.25 // CompareMetric.Tolerance
	DefaultOutlierFactor     = 3.0  // CompareMetric.OutlierFactor
	DefaultCompareMinSamples = 10   // CompareMetric.MinSamples
	DefaultPassScore         = 95.0 // Comparison.PassScore
	DefaultMarginalScore     = 75.0 // Comparison.MarginalScore
	DefaultNoDataLimit       = 0.5  // Comparison.NoDataLimit
	DefaultGroup             = "default"
)

// CompareMetric configures the comparison of one metric. Its zero value
// (with a Name) is Kayenta's default metric — direction either, tolerance
// 0.25, mean-ratio effect sizes 1, NaN removed, not critical — except in
// two ways: it needs MinSamples (10) samples on each side where Kayenta
// judges any non-empty sample (set MinSamples to 1 for Kayenta's rule),
// and it keeps outliers where Kayenta's NetflixACAJudge removes them (set
// RemoveOutliers).
//
// The classification, exactly (x canary samples, y baseline samples):
//
//  1. Samples that are not finite are removed (RemoveNaN) or replaced by 0
//     (ReplaceNaN).
//  2. With RemoveOutliers, each side's samples outside
//     [min(P1, Q1 − f·IQR), max(P99, Q3 + f·IQR)] are dropped, f =
//     OutlierFactor, Pk the k-th percentile by Apache Commons Math's
//     default estimator (position k·(n+1)/100, linear interpolation) —
//     Kayenta's IQRDetector with reduceSensitivity.
//  3. If either side has fewer than MinSamples samples left, the metric
//     has no data (NoData; with MustHaveData it also counts as a failed
//     metric in the score, Kayenta's NODATA_FAIL).
//  4. If the two sides hold the same values (in any order), or every
//     sample of both has one value, it passes.
//  5. The Mann-Whitney test of x against y gives the Hodges–Lehmann
//     estimate Δ of the shift x − y and its confidence interval [L, U] at
//     the Comparison's Confidence (see stats.MannWhitney: R's
//     wilcox.test with tie and continuity correction). With c =
//     Tolerance·|Δ| and e the effect size (Effect: the ratio of means by
//     default):
//     - High (Fail) when Direction is Increase or Either, L > c and
//     e ≥ AllowedIncrease;
//     - Low (Fail) when Direction is Decrease or Either, U < −c and
//     e ≤ AllowedDecrease;
//     - otherwise Pass.
//     These are Kayenta's MannWhitneyClassifier rules: the interval must
//     clear a dead band of ±Tolerance·|Δ| around no change, and the effect
//     size must reach allowedIncrease or allowedDecrease. All comparisons
//     are strict except the effect sizes (≥ and ≤), as in Kayenta. An
//     undefined effect size (mean ratio over a baseline mean of 0)
//     satisfies its conditions. When an end of the interval is exactly ±c
//     (c is then a pairwise difference — 0 for metrics that are mostly
//     zeros), the rank-sum test of the shift ±c decides: L > c holds when
//     that test rejects the shift c in favour of a larger one at the
//     interval's level (stats.RankSumZ), and likewise for U < −c.
//  6. A Critical metric that is High with e ≥ CriticalIncrease, or Low
//     with e ≤ CriticalDecrease, fails the whole analysis whatever the
//     score; a Critical metric with no data makes it NoData.
//
// One deliberate difference from Kayenta: a metric with no samples under
// ReplaceNaN has no data here, where Kayenta passes it.
type CompareMetric struct {
	// Name is passed to the SampleSource and names the evidence; it must
	// be unique within a Comparison.
	Name string
	// Group is the scoring group; empty means DefaultGroup.
	Group string
	// Direction says which change fails the metric.
	Direction Direction
	// Tolerance is the dead band around no change as a fraction of the
	// absolute Hodges–Lehmann estimate. Zero means DefaultTolerance (0.25);
	// use a tiny positive value for none.
	Tolerance float64
	// Effect is the effect-size measure.
	Effect EffectMeasure
	// AllowedIncrease and AllowedDecrease are the effect sizes that an
	// increase must reach (≥) and a decrease must fall to (≤) to fail the
	// metric. Zero means no effect: 1 for MeanRatio, 0.5 for CLES.
	AllowedIncrease, AllowedDecrease float64
	// CriticalIncrease and CriticalDecrease are the effect sizes at which
	// a failing Critical metric fails the whole analysis. Zero means no
	// effect, as above.
	CriticalIncrease, CriticalDecrease float64
	// NaN says what to do with non-finite samples.
	NaN NaNStrategy
	// RemoveOutliers drops each side's outliers before the test (Kayenta's
	// NetflixACAJudge always does, with factor 3).
	RemoveOutliers bool
	// OutlierFactor is the IQR multiple of the outlier fences. Zero means
	// DefaultOutlierFactor (3).
	OutlierFactor float64
	// MinSamples is the number of samples each side needs after cleaning;
	// fewer is NoData. Zero means DefaultCompareMinSamples (10).
	MinSamples int
	// Critical metrics fail the whole analysis when they fail (see above).
	Critical bool
	// MustHaveData counts a metric without data as failed in the score.
	MustHaveData bool
	// DryRun metrics are measured and reported but never decide.
	DryRun bool
}

func (m CompareMetric) group() string {
	if m.Group == "" {
		return DefaultGroup
	}
	return m.Group
}

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func (m CompareMetric) validate(label string) []error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("analysis: compare metric %s %s: %v %s", label, field, v, why))
	}
	if m.Name == "" {
		errs = append(errs, fmt.Errorf("analysis: compare metric %s name: empty", label))
	}
	if m.Direction < Either || m.Direction > Decrease {
		bad("direction", int(m.Direction), "is not Either, Increase or Decrease")
	}
	if m.NaN != RemoveNaN && m.NaN != ReplaceNaN {
		bad("nan strategy", int(m.NaN), "is not RemoveNaN or ReplaceNaN")
	}
	if m.Effect != MeanRatio && m.Effect != CLES {
		bad("effect", int(m.Effect), "is not MeanRatio or CLES")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"tolerance", m.Tolerance},
		{"allowed increase", m.AllowedIncrease},
		{"allowed decrease", m.AllowedDecrease},
		{"critical increase", m.CriticalIncrease},
		{"critical decrease", m.CriticalDecrease},
		{"outlier factor", m.OutlierFactor},
	} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			bad(f.name, f.v, "is not a finite number >= 0")
		}
	}
	if m.MinSamples < 0 {
		bad("min samples", m.MinSamples, "is negative")
	}
	return errs
}

// cmpClass is a metric's classification, Kayenta's labels.
type cmpClass int

const (
	cmpNoData cmpClass = iota
	cmpPass
	cmpHigh
	cmpLow
	cmpMissing // no data, but the metric must have data
)

// Judge classifies one metric from its samples at the given confidence
// level (0 means DefaultConfidence) and returns the evidence: the means of
// the cleaned samples as Canary and Baseline, their sizes, the
// Hodges–Lehmann shift canary − baseline as Estimate with its confidence
// interval as Lower and Upper, the U statistic and the two-sided p-value.
// The rules are in the CompareMetric documentation.
func (m CompareMetric) Judge(canary, baseline []float64, confidence float64) Measurement {
	meas, _, _ := m.judge(canary, baseline, orDefault(confidence, DefaultConfidence))
	return meas
}

func (m CompareMetric) judge(canary, baseline []float64, conf float64) (Measurement, cmpClass, bool) {
	x := cmpClean(canary, m)
	y := cmpClean(baseline, m)
	meas := Measurement{
		Name:      m.Name,
		Canary:    cmpMean(x),
		Baseline:  cmpMean(y),
		CanaryN:   int64(len(x)),
		BaselineN: int64(len(y)),
		Lower:     math.NaN(),
		Upper:     math.NaN(),
		Statistic: math.NaN(),
		PValue:    math.NaN(),
		Estimate:  math.NaN(),
		DryRun:    m.DryRun,
	}
	meas.Ratio = RatioOf(meas.Canary, meas.Baseline)
	dropped := ""
	if d := len(canary) - len(x) + len(baseline) - len(y); d > 0 {
		dropped = fmt.Sprintf(", %d dropped", d)
	}
	minN := m.MinSamples
	if minN == 0 {
		minN = DefaultCompareMinSamples
	}
	if len(x) < minN || len(y) < minN {
		meas.Verdict = NoData
		meas.Reason = fmt.Sprintf("%s: no data: canary has %d samples, baseline %d%s; need %d each",
			m.Name, len(x), len(y), dropped, minN)
		if m.MustHaveData {
			meas.Reason += " (must have data: counts as failed)"
			return meas, cmpMissing, false
		}
		return meas, cmpNoData, false
	}
	if cmpSameValues(x, y) {
		meas.Verdict = Pass
		meas.Estimate, meas.Lower, meas.Upper = 0, 0, 0
		meas.Statistic = float64(len(x)) * float64(len(y)) / 2
		meas.PValue = 1
		meas.Reason = fmt.Sprintf("%s: pass: canary and baseline samples are identical (n=%d/%d%s)",
			m.Name, len(x), len(y), dropped)
		return meas, cmpPass, false
	}
	res, err := stats.MannWhitney(x, y, conf)
	if errors.Is(err, stats.ErrAllTied) {
		meas.Verdict = Pass
		meas.Estimate, meas.Lower, meas.Upper = 0, 0, 0
		meas.Statistic = float64(len(x)) * float64(len(y)) / 2
		meas.PValue = 1
		meas.Reason = fmt.Sprintf("%s: pass: every sample is %s (n=%d/%d%s)",
			m.Name, cmpNum(x[0]), len(x), len(y), dropped)
		return meas, cmpPass, false
	}
	if err != nil { // cannot happen: the samples are cleaned and non-empty
		meas.Verdict = NoData
		meas.Reason = fmt.Sprintf("%s: no data: %v", m.Name, err)
		return meas, cmpNoData, false
	}
	meas.Estimate, meas.Lower, meas.Upper = res.Estimate, res.Lower, res.Upper
	meas.Statistic, meas.PValue = res.U, res.PValue

	neutral := 1.0
	effect := math.NaN()
	switch m.Effect {
	case CLES:
		neutral = 0.5
		effect = res.U / (float64(res.N) * float64(res.M))
	default:
		if meas.Baseline != 0 {
			effect = meas.Canary / meas.Baseline
		}
	}
	atLeast := func(v, thr float64) bool { return math.IsNaN(v) || v >= thr }
	atMost := func(v, thr float64) bool { return math.IsNaN(v) || v <= thr }
	crit := orDefault(m.Tolerance, DefaultTolerance) * math.Abs(res.Estimate)
	allowInc := orDefault(m.AllowedIncrease, neutral)
	allowDec := orDefault(m.AllowedDecrease, neutral)
	zq := stats.NormalQuantile(1 - (1-conf)/2)
	high := (m.Direction == Increase || m.Direction == Either) &&
		cmpAbove(x, y, res.Lower, crit, zq) && atLeast(effect, allowInc)
	low := (m.Direction == Decrease || m.Direction == Either) &&
		cmpBelow(x, y, res.Upper, crit, zq) && atMost(effect, allowDec)

	effectText := "undefined (baseline mean 0)"
	if !math.IsNaN(effect) {
		effectText = strconv.FormatFloat(effect, 'f', 3, 64)
	}
	evidence := fmt.Sprintf("shift %s (%s CI %s..%s), dead band ±%s, %s %s (n=%d/%d%s, U=%s, p=%s)",
		cmpSigned(res.Estimate), cmpPercent(conf), cmpSigned(res.Lower), cmpSigned(res.Upper), cmpNum(crit),
		m.Effect, effectText, len(x), len(y), dropped, cmpNum(res.U), cmpP(res.PValue))
	var class cmpClass
	critical := false
	switch {
	case high:
		class = cmpHigh
		critical = m.Critical && atLeast(effect, orDefault(m.CriticalIncrease, neutral))
		meas.Verdict = Fail
		meas.Reason = fmt.Sprintf("%s: canary high: CI lower %s > %s and %s %s >= allowed %s; %s",
			m.Name, cmpSigned(res.Lower), cmpNum(crit), m.Effect, effectText, cmpNum(allowInc), evidence)
	case low:
		class = cmpLow
		critical = m.Critical && atMost(effect, orDefault(m.CriticalDecrease, neutral))
		meas.Verdict = Fail
		meas.Reason = fmt.Sprintf("%s: canary low: CI upper %s < -%s and %s %s <= allowed %s; %s",
			m.Name, cmpSigned(res.Upper), cmpNum(crit), m.Effect, effectText, cmpNum(allowDec), evidence)
	default:
		class = cmpPass
		meas.Verdict = Pass
		meas.Reason = fmt.Sprintf("%s: pass (direction %s): %s", m.Name, m.Direction, evidence)
	}
	if critical {
		meas.Reason += " [critical]"
	}
	return meas, class, critical
}

// cmpAbove reports whether the interval's lower end L lies above the dead
// band, L > c, and cmpBelow whether its upper end U lies below it,
// U < −c. Where the end sits exactly on ±c — which happens when c is a
// pairwise difference, typically 0 for metrics with many zeros — the
// rank-sum test of that shift itself decides: it is what the interval
// inverts, and R's or Kayenta's root finders, stopping within their
// tolerance, land on either side of such a point by chance.
func cmpAbove(x, y []float64, lower, c, zq float64) bool {
	if lower != c {
		return lower > c
	}
	_, z, err := stats.RankSumZ(x, y, c)
	return err == nil && z > zq
}

func cmpBelow(x, y []float64, upper, c, zq float64) bool {
	if upper != -c {
		return upper < -c
	}
	_, z, err := stats.RankSumZ(x, y, -c)
	return err == nil && z < -zq
}

// cmpSameValues reports whether x and y hold the same multiset of values.
func cmpSameValues(x, y []float64) bool {
	if len(x) != len(y) {
		return false
	}
	a, b := slices.Clone(x), slices.Clone(y)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// cmpClean applies the NaN strategy and the outlier filter.
func cmpClean(v []float64, m CompareMetric) []float64 {
	out := make([]float64, 0, len(v))
	for _, f := range v {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			if m.NaN == ReplaceNaN {
				out = append(out, 0)
			}
			continue
		}
		out = append(out, f)
	}
	if !m.RemoveOutliers || len(out) == 0 {
		return out
	}
	sorted := slices.Clone(out)
	slices.Sort(sorted)
	f := orDefault(m.OutlierFactor, DefaultOutlierFactor)
	q1, q3 := cmpPercentile(sorted, 25), cmpPercentile(sorted, 75)
	lo := math.Min(cmpPercentile(sorted, 1), q1-f*(q3-q1))
	hi := math.Max(cmpPercentile(sorted, 99), q3+f*(q3-q1))
	kept := out[:0]
	for _, v := range out {
		if v >= lo && v <= hi {
			kept = append(kept, v)
		}
	}
	return kept
}

// cmpPercentile is Apache Commons Math's default percentile estimate
// (the one Kayenta's IQRDetector used): position p·(n+1)/100 in the sorted
// data, clamped to the ends, interpolated linearly.
func cmpPercentile(sorted []float64, p float64) float64 {
	n := float64(len(sorted))
	pos := p * (n + 1) / 100
	switch {
	case pos < 1:
		return sorted[0]
	case pos >= n:
		return sorted[len(sorted)-1]
	}
	i := math.Floor(pos)
	lower := sorted[int(i)-1]
	return lower + (pos-i)*(sorted[int(i)]-lower)
}

func cmpMean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var s float64
	for _, f := range v {
		s += f
	}
	return s / float64(len(v))
}

func cmpNum(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func cmpSigned(v float64) string {
	if v > 0 {
		return "+" + cmpNum(v)
	}
	return cmpNum(v)
}

func cmpPercent(v float64) string { return strconv.FormatFloat(v*100, 'g', 4, 64) + "%" }

func cmpP(p float64) string { return strconv.FormatFloat(p, 'g', 3, 64) }

// Comparison compares canary and baseline metric by metric, Kayenta's way,
// and scores the result. It implements Analyzer.
//
// Scoring, exactly (Kayenta's WeightedSumScorer and
// ThresholdScoreClassifier, with ramp's rule that missing data is never a
// pass, nor a failure unless a metric's MustHaveData asks for it):
//
//   - Dry-run metrics are reported and ignored from here on.
//   - A Critical metric that fails critically (see CompareMetric) makes the
//     verdict Fail, whatever the score.
//   - A Critical metric with no data makes it NoData. (Kayenta fails.)
//   - When at least NoDataLimit of the metrics have no data, the verdict is
//     NoData. (Kayenta fails.)
//   - Each group's score is 100 × passing / (passing + high + low +
//     missing) over its metrics with data (missing: MustHaveData metrics
//     without data). A group none of whose metrics has data counts as 100
//     in the score, as in Kayenta, but makes the verdict NoData.
//   - The score is Σ group score × weight / 100, rounded to two decimals.
//     GroupWeights gives weights in percent; groups without one share what
//     is left of 100 equally.
//   - score ≥ PassScore is Pass; MarginalScore ≤ score < PassScore is
//     "marginal": NoData, so the rollout waits for more evidence instead of
//     promoting; score < MarginalScore is Fail.
type Comparison struct {
	// Source gives the samples.
	Source SampleSource
	// Metrics are compared one by one; there must be at least one.
	Metrics []CompareMetric
	// Confidence is the level of the Mann-Whitney confidence intervals, in
	// (0, 1). Zero means DefaultConfidence (0.98).
	Confidence float64
	// PassScore and MarginalScore are the score thresholds, in [0, 100].
	// Zero means DefaultPassScore (95) and DefaultMarginalScore (75).
	PassScore, MarginalScore float64
	// GroupWeights are the groups' weights in percent (see Comparison).
	GroupWeights map[string]float64
	// NoDataLimit is the fraction of metrics without data at which the
	// verdict is NoData, in (0, 1]. Zero means DefaultNoDataLimit (0.5).
	NoDataLimit float64
	// Clock stamps Result.At. Nil means the real clock.
	Clock clock.Clock
}

// NewComparison returns the comparison of metrics from src with the
// default settings, or every problem with them.
func NewComparison(src SampleSource, metrics ...CompareMetric) (*Comparison, error) {
	c := &Comparison{Source: src, Metrics: metrics}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate reports every problem with c at once.
func (c *Comparison) Validate() error {
	var errs []error
	if c.Source == nil {
		errs = append(errs, errors.New("analysis: comparison source: nil"))
	}
	if len(c.Metrics) == 0 {
		errs = append(errs, errors.New("analysis: comparison metrics: none given"))
	}
	if c.Confidence != 0 && !(c.Confidence > 0 && c.Confidence < 1) {
		errs = append(errs, fmt.Errorf("analysis: comparison confidence: %v is not in (0, 1)", c.Confidence))
	}
	pass, marginal := c.scores()
	if !(c.PassScore >= 0 && c.PassScore <= 100) {
		errs = append(errs, fmt.Errorf("analysis: comparison pass score: %v is not in [0, 100]", c.PassScore))
	}
	if !(c.MarginalScore >= 0 && c.MarginalScore <= 100) {
		errs = append(errs, fmt.Errorf("analysis: comparison marginal score: %v is not in [0, 100]", c.MarginalScore))
	}
	if marginal > pass {
		errs = append(errs, fmt.Errorf("analysis: comparison marginal score: %v is above the pass score %v", marginal, pass))
	}
	if c.NoDataLimit != 0 && !(c.NoDataLimit > 0 && c.NoDataLimit <= 1) {
		errs = append(errs, fmt.Errorf("analysis: comparison no-data limit: %v is not in (0, 1]", c.NoDataLimit))
	}
	seen := map[string]int{}
	groups := map[string]bool{}
	for i, m := range c.Metrics {
		label := fmt.Sprintf("metrics[%d]", i)
		if m.Name != "" {
			label = strconv.Quote(m.Name)
			if j, dup := seen[m.Name]; dup {
				errs = append(errs, fmt.Errorf("analysis: compare metric %s name: also used by metrics[%d]", label, j))
			}
			seen[m.Name] = i
		}
		errs = append(errs, m.validate(label)...)
		if !m.DryRun {
			groups[m.group()] = true
		}
	}
	var sum float64
	names := make([]string, 0, len(c.GroupWeights))
	for g := range c.GroupWeights {
		names = append(names, g)
	}
	slices.Sort(names)
	for _, g := range names {
		w := c.GroupWeights[g]
		if !(w >= 0 && w <= 100) {
			errs = append(errs, fmt.Errorf("analysis: comparison group weight %q: %v is not in [0, 100]", g, w))
		}
		if !groups[g] {
			errs = append(errs, fmt.Errorf("analysis: comparison group weight %q: no metric (other than dry-run) is in that group", g))
		}
		sum += w
	}
	if sum > 100+1e-9 {
		errs = append(errs, fmt.Errorf("analysis: comparison group weights: they sum to %v, more than 100", sum))
	} else if len(groups) > 0 && allWeighted(groups, c.GroupWeights) && math.Abs(sum-100) > 1e-9 {
		errs = append(errs, fmt.Errorf("analysis: comparison group weights: every group has a weight but they sum to %v, not 100", sum))
	}
	return errors.Join(errs...)
}

func allWeighted(groups map[string]bool, w map[string]float64) bool {
	for g := range groups {
		if _, ok := w[g]; !ok {
			return false
		}
	}
	return true
}

func (c *Comparison) scores() (pass, marginal float64) {
	return orDefault(c.PassScore, DefaultPassScore), orDefault(c.MarginalScore, DefaultMarginalScore)
}

// GroupScore is the score of one metric group.
type GroupScore struct {
	Name string
	// Score is 100 × Pass / (Pass + High + Low + Missing); NaN when the
	// group has no metric with data.
	Score float64
	// Weight is the group's weight in percent.
	Weight float64
	// Metric counts by classification.
	Pass, High, Low, NoData, Missing int
}

// Scorecard is the full outcome of a Comparison.
type Scorecard struct {
	Verdict Verdict
	Reason  string
	// Score is the weighted score in [0, 100] (NaN when no group has data).
	Score float64
	// Groups holds each group's score, sorted by name.
	Groups []GroupScore
	// Metrics is the evidence, in the order of Comparison.Metrics.
	Metrics []Measurement
}

// Analyze runs Score and returns its verdict, reason and evidence.
func (c *Comparison) Analyze(ctx context.Context, q Query) (Result, error) {
	res := Result{At: clock.Or(c.Clock).Now()}
	card, err := c.Score(ctx, q)
	res.Verdict, res.Reason, res.Metrics = card.Verdict, card.Reason, card.Metrics
	return res, err
}

// Score fetches every metric's samples (up to four at a time), judges
// them and scores the result. It returns an Error scorecard with the error
// when ctx is done, the configuration is invalid, the query names no
// canary or baseline, or the source fails.
func (c *Comparison) Score(ctx context.Context, q Query) (Scorecard, error) {
	fail := func(err error) (Scorecard, error) {
		return Scorecard{Verdict: Error, Reason: err.Error(), Score: math.NaN()}, err
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("analysis: comparison: %w", err))
	}
	if err := c.Validate(); err != nil {
		return fail(err)
	}
	var qerrs []error
	if q.Canary == "" {
		qerrs = append(qerrs, errors.New("analysis: query canary: empty"))
	}
	if q.Baseline == "" {
		qerrs = append(qerrs, errors.New("analysis: query baseline: empty (a comparison needs one)"))
	}
	if len(qerrs) > 0 {
		return fail(errors.Join(qerrs...))
	}

	type sample struct{ canary, baseline []float64 }
	got := make([]sample, len(c.Metrics))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, m := range c.Metrics {
		g.Go(func() error {
			cs, bs, err := c.Source.Samples(gctx, q, m.Name)
			if err != nil {
				return fmt.Errorf("analysis: comparison metric %q: %w", m.Name, err)
			}
			got[i] = sample{cs, bs}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fail(err)
	}

	conf := orDefault(c.Confidence, DefaultConfidence)
	judged := make([]cmpJudged, len(c.Metrics))
	for i, m := range c.Metrics {
		judged[i].meas, judged[i].class, judged[i].critical = m.judge(got[i].canary, got[i].baseline, conf)
	}
	return c.score(judged), nil
}

// cmpJudged is one metric's classification.
type cmpJudged struct {
	meas     Measurement
	class    cmpClass
	critical bool // failed critically
}

// score scores the metrics' classifications (Kayenta's WeightedSumScorer
// and ThresholdScoreClassifier, with the differences in the package doc).
func (c *Comparison) score(judged []cmpJudged) Scorecard {
	card := Scorecard{Metrics: make([]Measurement, len(c.Metrics))}
	byGroup := map[string]*GroupScore{}
	var criticalFail, criticalNoData, noData []string
	var decided, noDataCount int
	for i, m := range c.Metrics {
		meas, class, critical := judged[i].meas, judged[i].class, judged[i].critical
		card.Metrics[i] = meas
		if m.DryRun {
			continue
		}
		decided++
		gs := byGroup[m.group()]
		if gs == nil {
			gs = &GroupScore{Name: m.group()}
			byGroup[m.group()] = gs
		}
		switch class {
		case cmpPass:
			gs.Pass++
		case cmpHigh:
			gs.High++
		case cmpLow:
			gs.Low++
		case cmpMissing:
			gs.Missing++
		case cmpNoData:
			gs.NoData++
		}
		if class == cmpNoData {
			noDataCount++
		}
		if class == cmpNoData || class == cmpMissing {
			noData = append(noData, m.Name)
			if m.Critical {
				criticalNoData = append(criticalNoData, meas.Reason)
			}
		}
		if critical {
			criticalFail = append(criticalFail, meas.Reason)
		}
	}

	// Group scores and weights.
	var weighted float64
	for _, w := range c.GroupWeights {
		weighted += w
	}
	unweighted := 0
	for name := range byGroup {
		if _, ok := c.GroupWeights[name]; !ok {
			unweighted++
		}
	}
	share := 0.0
	if unweighted > 0 {
		share = (100 - weighted) / float64(unweighted)
	}
	var emptyGroups []string
	score := 0.0
	for _, gs := range byGroup {
		gs.Weight = share
		if w, ok := c.GroupWeights[gs.Name]; ok {
			gs.Weight = w
		}
		total := gs.Pass + gs.High + gs.Low + gs.Missing
		if total == 0 {
			gs.Score = math.NaN()
			emptyGroups = append(emptyGroups, gs.Name)
			score += 100 * gs.Weight / 100 // Kayenta's effective score; the verdict below says NoData
			continue
		}
		gs.Score = 100 * float64(gs.Pass) / float64(total)
		score += gs.Score * gs.Weight / 100
		card.Groups = append(card.Groups, *gs)
	}
	for _, name := range emptyGroups {
		card.Groups = append(card.Groups, *byGroup[name])
	}
	slices.SortFunc(card.Groups, func(a, b GroupScore) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(emptyGroups)
	card.Score = math.Round(score*100) / 100
	if decided == 0 {
		card.Score = math.NaN()
	}

	pass, marginal := c.scores()
	limit := orDefault(c.NoDataLimit, DefaultNoDataLimit)
	passing := 0
	var failing []string
	for i, m := range c.Metrics {
		if m.DryRun {
			continue
		}
		switch card.Metrics[i].Verdict {
		case Pass:
			passing++
		case Fail:
			failing = append(failing, m.Name)
		}
	}
	summary := fmt.Sprintf("%d of %d metrics pass", passing, decided)
	if len(failing) > 0 {
		summary += "; failing: " + strings.Join(failing, ", ")
	}
	if len(noData) > 0 {
		summary += "; no data: " + strings.Join(noData, ", ")
	}
	scoreText := strconv.FormatFloat(card.Score, 'f', 2, 64)
	switch {
	case decided == 0:
		card.Verdict = NoData
		card.Reason = "no metric decides: every metric is dry-run"
	case len(criticalFail) > 0:
		// Kayenta's WeightedSumScorer scores 0 when a critical metric
		// fails, whatever the others: the group scores stay as evidence.
		card.Verdict = Fail
		card.Score = 0
		card.Reason = "critical metric failed (score 0): " + strings.Join(criticalFail, " | ")
	case len(criticalNoData) > 0:
		card.Verdict = NoData
		card.Reason = "critical metric has no data: " + strings.Join(criticalNoData, " | ")
	case float64(noDataCount) >= limit*float64(decided):
		card.Verdict = NoData
		card.Reason = fmt.Sprintf("%d of %d metrics have no data (limit %s): %s",
			noDataCount, decided, cmpPercent(limit), summary)
	case len(emptyGroups) > 0:
		card.Verdict = NoData
		card.Reason = fmt.Sprintf("group %s has no metric with data: %s", strings.Join(emptyGroups, ", "), summary)
	case card.Score >= pass:
		card.Verdict = Pass
		card.Reason = fmt.Sprintf("score %s >= pass %s: %s", scoreText, cmpNum(pass), summary)
	case card.Score >= marginal:
		card.Verdict = NoData
		card.Reason = fmt.Sprintf("score %s is marginal (>= %s, < pass %s): waiting for more evidence: %s",
			scoreText, cmpNum(marginal), cmpNum(pass), summary)
	default:
		card.Verdict = Fail
		card.Reason = fmt.Sprintf("score %s < marginal %s: %s", scoreText, cmpNum(marginal), summary)
	}
	return card
}
