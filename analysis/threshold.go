package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ramp-go/ramp/clock"
)

// DefaultMinSamples is the minimum sample size of a Threshold whose
// MinSamples is 0.
const DefaultMinSamples = 100

// Threshold is a fixed limit on one metric of the canary: the metric must
// lie within [Min, Max]. The rules, exactly:
//
//   - n = Samples(window) (the window's Requests when Samples is nil). When
//     n < MinSamples the verdict is NoData, whatever the value: a small
//     sample never passes.
//   - n < 0, or a value outside the metric's domain (±Inf; a rate outside
//     [0, 1]; a negative latency) is Error, naming the metric and the
//     value: a broken source is never a pass.
//   - v = Value(window). NaN is NoData (the metric cannot be measured).
//   - v < Min or v > Max is Fail (strict: a value equal to a bound
//     passes); otherwise Pass.
//
// ErrorRate, SuccessRate, LatencyQuantile and Within build the common
// ones; the fields can be changed afterwards (MinSamples, DryRun, Name).
type Threshold struct {
	// Name identifies the metric in the evidence, e.g. "5xx rate". It must
	// be unique within a Thresholds.
	Name string
	// Value computes the metric from a window; NaN when it cannot.
	Value func(Window) float64
	// Samples counts the observations behind Value. Nil means
	// Window.Requests.
	Samples func(Window) int64
	// Min and Max bound the allowed values, both inclusive. Use
	// math.Inf(-1) or math.Inf(1) for a one-sided limit.
	Min, Max float64
	// MinSamples is the sample size below which the verdict is NoData.
	// Zero means DefaultMinSamples (100); set 1 to judge any non-empty
	// window.
	MinSamples int64
	// DryRun thresholds are measured and reported but never decide.
	DryRun bool
	// Format renders values (of the metric and its bounds) in reasons.
	// Nil means 4 significant digits, or the unit of the constructor
	// (percent, duration) that made the threshold.
	Format func(float64) string

	kind     thKind
	quantile float64       // LatencyQuantile's q, for validation
	censorAt time.Duration // LatencyQuantile's max: censored requests past it count
}

// thKind is what a built-in threshold measures: it fixes the metric's
// domain (a bound at the edge of the domain is not mentioned in reasons)
// and how values are written.
type thKind int

const (
	thPlain   thKind = iota // any real number
	thRate                  // a fraction in [0, 1], shown as a percentage
	thLatency               // seconds >= 0, shown as a duration
)

// ErrorRate limits the canary's share of responses with status >= 500
// (Window.ErrorRate): it fails when the rate is > max, passes when <= max.
// max is a fraction: 0.01 is 1 %.
func ErrorRate(max float64) Threshold {
	return Threshold{
		Name:  "5xx rate",
		Value: func(w Window) float64 { return thRatio(w.Errors, w.Requests) },
		Min:   0,
		Max:   max,
		kind:  thRate,
	}
}

// SuccessRate requires the canary's share of responses with status < 500
// to be at least min: it fails when the rate is < min, passes when >= min.
// min is a fraction: 0.99 is 99 %.
func SuccessRate(min float64) Threshold {
	return Threshold{
		Name:  "success rate",
		Value: func(w Window) float64 { return thRatio(w.Requests-w.Errors, w.Requests) },
		Min:   min,
		Max:   1,
		kind:  thRate,
	}
}

// LatencyQuantile limits the canary's q-quantile of request duration
// (0 < q < 1; 0.99 is p99): it fails when the quantile is > max, passes
// when <= max. The value is in seconds, read from Window.Latency (within
// 1 % for a Recorder). Requests known to take longer than max without
// having completed — abandoned by their client after waiting longer
// (Window.GoneLatency), or still in flight for longer (Window.Pending) —
// count among the samples as slower than max (right-censored), so that a
// version that hangs fails without any request ending; the sample size is
// Latency.Count() plus those. A window with neither gives NoData.
func LatencyQuantile(q float64, max time.Duration) Threshold {
	return Threshold{
		Name:  "p" + thPercentile(q) + " latency",
		Value: func(w Window) float64 { return censoredQuantile(w, q, max) },
		Samples: func(w Window) int64 {
			_, n := w.SlowerThan(max)
			return n
		},
		censorAt: max,
		Min:      0,
		Max:      max.Seconds(),
		kind:     thLatency,
		quantile: q,
	}
}

// censoredQuantile is the q-quantile (nearest rank) of the window's
// completed latencies together with the requests known to take longer
// than limit without having completed: those whose client gave up after
// waiting longer (Window.GoneLatency) and those still in flight for longer
// (Window.Pending). When the quantile falls among the latter its value is
// unknown beyond "more than limit": the value returned is then the
// completed latency at that rank when there is one, else the duration
// just above limit at the histogram's resolution (2%). NaN when there is
// nothing to measure.
func censoredQuantile(w Window, q float64, limit time.Duration) float64 {
	x := w.censoredOver(limit)
	if w.Latency == nil && x == 0 {
		return math.NaN()
	}
	if x == 0 {
		return w.Latency.Quantile(q).Seconds()
	}
	var c, atMost int64
	if w.Latency != nil {
		c, atMost = w.Latency.Count(), w.Latency.CountAtMost(limit)
	}
	r := hgRank(q, c+x)
	if r <= atMost {
		return w.Latency.Quantile(float64(r) / float64(c)).Seconds()
	}
	over := time.Duration(hgValue[min(hgIndex(limit)+1, hgBuckets-1)])
	if r <= c {
		over = max(over, w.Latency.Quantile(float64(r)/float64(c)))
	}
	return over.Seconds()
}

// Within requires any metric of the window to lie in [min, max]; use an
// infinity for a one-sided limit. value returns NaN when the metric cannot
// be computed.
func Within(name string, value func(Window) float64, min, max float64) Threshold {
	return Threshold{Name: name, Value: value, Min: min, Max: max}
}

func thRatio(k, n int64) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return float64(k) / float64(n)
}

// thPercentile writes q as a percentile: 0.99 → "99", 0.999 → "99.9".
func thPercentile(q float64) string {
	s := strconv.FormatFloat(q, 'f', -1, 64)
	if q <= 0 || q >= 1 || !strings.HasPrefix(s, "0.") {
		return strconv.FormatFloat(q*100, 'g', -1, 64)
	}
	d := s[2:] + "0" // at least two digits
	p := strings.TrimLeft(d[:2], "0") + "." + d[2:]
	return strings.TrimSuffix(strings.TrimRight(p, "0"), ".")
}

func (t Threshold) minSamples() int64 {
	if t.MinSamples == 0 {
		return DefaultMinSamples
	}
	return t.MinSamples
}

func (t Threshold) samples(w Window) int64 {
	if t.Samples == nil {
		return w.Requests
	}
	return t.Samples(w)
}

// domain is the range the metric cannot leave; a bound at its edge is
// implied and not mentioned in reasons.
func (t Threshold) domain() (lo, hi float64) {
	switch t.kind {
	case thRate:
		return 0, 1
	case thLatency:
		return 0, math.Inf(1)
	}
	return math.Inf(-1), math.Inf(1)
}

// outOfDomain reports a value the metric cannot take: an infinity, or a
// rate outside [0, 1], or a negative latency. NaN is "not measurable"
// (NoData), not impossible.
func (t Threshold) outOfDomain(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	lo, hi := t.domain()
	return math.IsInf(v, 0) || v < lo || v > hi
}

// domainText says what values the metric can take.
func (t Threshold) domainText() string {
	switch t.kind {
	case thRate:
		return "a rate lies in [0, 1]"
	case thLatency:
		return "a latency is finite and at least 0"
	}
	return "a measurement is finite"
}

// validate reports every problem with t, naming it by label.
func (t Threshold) validate(label string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("analysis: threshold %s %s: "+format, append([]any{label, field}, args...)...))
	}
	if t.Name == "" {
		bad("name", "empty")
	}
	if t.Value == nil {
		bad("value", "nil function")
	}
	if t.MinSamples < 0 {
		bad("min samples", "%d is negative", t.MinSamples)
	}
	if t.kind == thLatency && !(t.quantile > 0 && t.quantile < 1) {
		bad("quantile", "%v is outside (0, 1)", t.quantile)
	}
	lo, hi := t.domain()
	for _, b := range []struct {
		field string
		v     float64
	}{{"min", t.Min}, {"max", t.Max}} {
		switch {
		case math.IsNaN(b.v):
			bad(b.field, "NaN is not a number")
		case t.kind == thRate && (b.v < lo || b.v > hi):
			bad(b.field, "%v is outside [0, 1] (a fraction: 0.01 is 1%%)", b.v)
		case t.kind == thLatency && b.field == "max" && b.v <= 0:
			bad(b.field, "%v must be positive", time.Duration(b.v*1e9))
		}
	}
	if t.Min > t.Max {
		bad("min", "%v is above max %v", t.Min, t.Max)
	}
	return errs
}

// Thresholds is an Analyzer that judges the canary's window against fixed
// limits, one Measurement per Threshold, in order. The canary's window is
// Source.Window(q.Canary, q.Since, q.Until); the baseline's window over the
// same span is measured alongside as evidence, but never decides.
//
// The verdict: any Fail → Fail; else any Error → Error; else any NoData →
// NoData; else Pass.
// DryRun thresholds are measured and reported but left out of that
// combination; when every threshold is a dry run the verdict is Pass.
// Result.Reason is the reasons of the thresholds that decided, joined by
// " | ".
type Thresholds struct {
	// Source gives the windows judged: a *Recorder, for instance.
	Source WindowSource
	// Rules are the limits; there must be at least one.
	Rules []Threshold
	// Clock stamps Result.At. Nil means the real clock.
	Clock clock.Clock
}

// NewThresholds returns the analyzer of rules over src, or every problem
// with them.
func NewThresholds(src WindowSource, rules ...Threshold) (*Thresholds, error) {
	t := &Thresholds{Source: src, Rules: rules}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// CheckSpan asks Source whether it covers a step of d, when Source can
// say (a *Recorder can: an error wrapping ErrSpanTooLong when d is
// longer than its Span); nil otherwise. The rollout engine asks before a
// rollout starts.
func (t *Thresholds) CheckSpan(d time.Duration) error { return checkSourceSpan(t.Source, d) }

// Validate reports every problem with t at once.
func (t *Thresholds) Validate() error {
	var errs []error
	if t.Source == nil {
		errs = append(errs, errors.New("analysis: thresholds source: nil"))
	}
	if len(t.Rules) == 0 {
		errs = append(errs, errors.New("analysis: thresholds rules: none given"))
	}
	seen := make(map[string]int, len(t.Rules))
	for i, r := range t.Rules {
		label := fmt.Sprintf("rules[%d]", i)
		if r.Name != "" {
			label = fmt.Sprintf("%q", r.Name)
			if j, dup := seen[r.Name]; dup {
				errs = append(errs, fmt.Errorf("analysis: threshold %s name: also used by rules[%d]", label, j))
			}
			seen[r.Name] = i
		}
		errs = append(errs, r.validate(label)...)
	}
	return errors.Join(errs...)
}

// Analyze judges q.Canary. It returns an Error result with the error when
// ctx is done, the configuration is invalid, or the query names no canary
// or an empty span.
func (t *Thresholds) Analyze(ctx context.Context, q Query) (Result, error) {
	res := Result{At: clock.Or(t.Clock).Now()}
	fail := func(err error) (Result, error) {
		res.Verdict, res.Reason = Error, err.Error()
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("analysis: thresholds: %w", err))
	}
	if err := t.Validate(); err != nil {
		return fail(err)
	}
	if q.Canary == "" {
		return fail(errors.New("analysis: query canary: empty"))
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return fail(fmt.Errorf("analysis: query until: %v is not after since %v", q.Until, q.Since))
	}
	canary := t.Source.Window(q.Canary, q.Since, q.Until)
	var baseline *Window
	if q.Baseline != "" {
		w := t.Source.Window(q.Baseline, q.Since, q.Until)
		baseline = &w
	}
	decided := map[Verdict][]string{}
	res.Verdict = Pass
	for _, r := range t.Rules {
		m := r.measure(canary, baseline)
		res.Metrics = append(res.Metrics, m)
		if m.DryRun {
			continue
		}
		decided[m.Verdict] = append(decided[m.Verdict], m.Reason)
	}
	switch {
	case len(decided[Fail]) > 0:
		res.Verdict = Fail
	case len(decided[Error]) > 0:
		res.Verdict = Error
	case len(decided[NoData]) > 0:
		res.Verdict = NoData
	}
	if reasons := decided[res.Verdict]; len(reasons) > 0 {
		res.Reason = strings.Join(reasons, " | ")
	} else {
		all := make([]string, len(res.Metrics))
		for i, m := range res.Metrics {
			all[i] = m.Reason
		}
		res.Reason = "dry run only: " + strings.Join(all, " | ")
	}
	if res.Verdict == Error {
		// The source gave an impossible value: say so as an error too.
		return res, fmt.Errorf("analysis: thresholds: %s", res.Reason)
	}
	return res, nil
}

// measure applies t to the canary's window; the baseline's, when given, is
// evidence only.
func (t Threshold) measure(canary Window, baseline *Window) Measurement {
	m := Measurement{
		Name:     t.Name,
		Canary:   math.NaN(),
		Baseline: math.NaN(),
		Lower:    t.Min,
		Upper:    t.Max,
		// A fixed limit runs no test.
		Statistic: math.NaN(),
		PValue:    math.NaN(),
		DryRun:    t.DryRun,
	}
	m.CanaryN = t.samples(canary)
	if m.CanaryN > 0 {
		m.Canary = t.Value(canary)
	}
	need := t.minSamples()
	lo, hi := t.domain()
	hasMin, hasMax := t.Min > lo, t.Max < hi
	var b strings.Builder
	b.WriteString("canary ")
	b.WriteString(t.Name)
	b.WriteByte(' ')
	switch {
	case m.CanaryN < 0:
		m.Verdict = Error
		fmt.Fprintf(&b, "sample size %d is impossible: a count is never negative", m.CanaryN)
	case t.outOfDomain(m.Canary):
		m.Verdict = Error
		fmt.Fprintf(&b, "value %s is impossible: %s", strconv.FormatFloat(m.Canary, 'g', -1, 64), t.domainText())
	case m.CanaryN < need:
		m.Verdict = NoData
		fmt.Fprintf(&b, "%s (n=%s): too few samples, need %s", t.format(m.Canary, m.Canary), thCount(m.CanaryN), thCount(need))
	case math.IsNaN(m.Canary):
		m.Verdict = NoData
		fmt.Fprintf(&b, "n/a (n=%s): not measurable", thCount(m.CanaryN))
	case m.Canary > t.Max:
		m.Verdict = Fail
		word := "max"
		if !hasMin {
			word = "limit"
		}
		fmt.Fprintf(&b, "%s (n=%s) > %s %s", t.format(m.Canary, t.Max), thCount(m.CanaryN), word, t.format(t.Max, m.Canary))
	case m.Canary < t.Min:
		m.Verdict = Fail
		word := "min"
		if !hasMax {
			word = "limit"
		}
		fmt.Fprintf(&b, "%s (n=%s) < %s %s", t.format(m.Canary, t.Min), thCount(m.CanaryN), word, t.format(t.Min, m.Canary))
	default:
		m.Verdict = Pass
		v := t.format(m.Canary, math.NaN())
		switch {
		case hasMin && hasMax:
			fmt.Fprintf(&b, "%s (n=%s) within [%s, %s]", v, thCount(m.CanaryN), t.format(t.Min, math.NaN()), t.format(t.Max, math.NaN()))
		case hasMax:
			fmt.Fprintf(&b, "%s (n=%s) ≤ limit %s", t.format(m.Canary, t.Max), thCount(m.CanaryN), t.format(t.Max, m.Canary))
		case hasMin:
			fmt.Fprintf(&b, "%s (n=%s) ≥ limit %s", t.format(m.Canary, t.Min), thCount(m.CanaryN), t.format(t.Min, m.Canary))
		default:
			fmt.Fprintf(&b, "%s (n=%s), no limit", v, thCount(m.CanaryN))
		}
	}
	if t.censorAt > 0 && m.Verdict != Error {
		if x := canary.censoredOver(t.censorAt); x > 0 {
			fmt.Fprintf(&b, ", of which %s abandoned by their clients or still in flight after more than %s",
				thCount(x), thDuration(t.censorAt.Seconds(), 3))
		}
	}
	if baseline != nil {
		m.BaselineN = t.samples(*baseline)
		if m.BaselineN > 0 {
			m.Baseline = t.Value(*baseline)
		}
		fmt.Fprintf(&b, "; baseline %s (n=%s)", t.format(m.Baseline, math.NaN()), thCount(m.BaselineN))
	}
	if t.DryRun {
		b.WriteString(" [dry run]")
	}
	m.Ratio = RatioOf(m.Canary, m.Baseline)
	m.Reason = b.String()
	return m
}

// format writes v in the threshold's unit. When v differs from other but
// would be written the same (1.004 % against a limit of 1.00 %), it adds
// digits until the two differ, so a reason never reads "1.00% > 1.00%".
func (t Threshold) format(v, other float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if t.Format != nil {
		return t.Format(v)
	}
	for extra := 0; ; extra++ {
		s := t.kind.format(v, extra)
		if extra >= 12 || math.IsNaN(other) || v == other || s != t.kind.format(other, extra) {
			return s
		}
	}
}

func (k thKind) format(v float64, extra int) string {
	switch k {
	case thRate:
		p := v * 100
		if p != 0 && math.Abs(p) < 0.01 {
			return strconv.FormatFloat(p, 'g', 2+extra, 64) + "%"
		}
		return strconv.FormatFloat(p, 'f', 2+extra, 64) + "%"
	case thLatency:
		return thDuration(v, 3+extra)
	}
	return strconv.FormatFloat(v, 'g', 4+extra, 64)
}

// thDuration writes sec seconds with digits significant digits in the
// largest unit that keeps the number at or above 1: 412ms, 1.23s, 850µs.
func thDuration(sec float64, digits int) string {
	if math.IsInf(sec, 0) {
		return strconv.FormatFloat(sec, 'g', -1, 64)
	}
	// Round first, so that 999.96ms is written 1s, not 1e+03ms.
	r, _ := strconv.ParseFloat(strconv.FormatFloat(sec, 'e', digits-1, 64), 64)
	abs := math.Abs(r)
	unit, scale := "ns", 1e9
	switch {
	case abs >= 1000:
		return time.Duration(r * 1e9).Round(time.Second).String()
	case abs >= 1:
		unit, scale = "s", 1
	case abs >= 1e-3:
		unit, scale = "ms", 1e3
	case abs >= 1e-6:
		unit, scale = "µs", 1e6
	}
	return strconv.FormatFloat(r*scale, 'g', digits, 64) + unit
}

// thCount writes n with thousands separators: 10877 → "10,877".
func thCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
