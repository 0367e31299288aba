package prometheus

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/ramp-go/ramp/analysis"
)

// Metric is one query and how to judge its value.
//
// The query must yield one number: a scalar, or an instant vector with
// exactly one sample (aggregate with sum(), max(), ... to get there). It
// is run once with the canary's variables and, when the analysis.Query
// names a baseline, once with the baseline's; the baseline's value is
// evidence, and it is judged only when Compare is set.
type Metric struct {
	// Name identifies the metric in results and reasons, such as
	// "5xx rate". Required; unique within a Config.
	Name string `json:"name"`
	// Query is the PromQL template; see Template for the syntax and the
	// variables available.
	Query string `json:"query"`
	// Threshold bounds the canary's value. The zero Threshold bounds
	// nothing.
	Threshold Threshold `json:"threshold"`
	// Compare, when not nil, also judges the canary's value against the
	// baseline's.
	Compare *Comparison `json:"compare,omitempty"`
	// Count, when set, is a template for the number of observations
	// behind the value (the number of requests, say); it is reported as
	// the sample size (CanaryN, BaselineN) and checked against MinCount.
	// An empty result counts as 0. Empty: the sample size is not
	// measured (CanaryN and BaselineN are 0).
	Count string `json:"count,omitempty"`
	// MinCount is the smallest count worth judging: a value behind fewer
	// observations is NoData (for the baseline: the comparison is NoData).
	// 0 means no minimum. Requires Count.
	MinCount float64 `json:"min_count,omitempty"`
	// Unit says how values are written in reasons. The zero value writes
	// plain numbers.
	Unit Unit `json:"unit,omitempty"`
	// DryRun metrics are measured and reported but never decide the
	// verdict.
	DryRun bool `json:"dry_run,omitempty"`
}

// Threshold bounds a value, inclusively: the value passes when
// Min <= value (or Min is nil) and value <= Max (or Max is nil), and
// fails otherwise. The zero Threshold bounds nothing. AtMost, AtLeast and
// Between build the usual ones.
type Threshold struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// AtMost passes values <= max (an error rate's limit, say).
func AtMost(max float64) Threshold { return Threshold{Max: &max} }

// AtLeast passes values >= min (a success rate's floor, say).
func AtLeast(min float64) Threshold { return Threshold{Min: &min} }

// Between passes values in [min, max], both ends included.
func Between(min, max float64) Threshold { return Threshold{Min: &min, Max: &max} }

func (t Threshold) isZero() bool { return t.Min == nil && t.Max == nil }

func (t Threshold) validate() []error {
	var errs []error
	for _, b := range []struct {
		name string
		v    *float64
	}{{"min", t.Min}, {"max", t.Max}} {
		if b.v != nil && math.IsNaN(*b.v) {
			errs = append(errs, fmt.Errorf("threshold %s is NaN", b.name))
		}
	}
	if t.Min != nil && t.Max != nil && *t.Min > *t.Max {
		errs = append(errs, fmt.Errorf("threshold min %g is above max %g", *t.Min, *t.Max))
	}
	return errs
}

// Comparison judges the canary's value against the baseline's. The
// margin allowed is
//
//	margin = Absolute + Relative × |baseline|
//
// and, with c the canary's value and b the baseline's:
//
//   - Increase passes when c <= b + margin and fails when c > b + margin;
//   - Decrease passes when c >= b − margin and fails when c < b − margin;
//   - Either passes when both hold.
//
// Direction is analysis.Direction, shared with the Mann-Whitney
// comparison: its zero value is Either, so the zero Comparison allows no
// change at all, either way. Error rates and latencies want
// analysis.Increase; success rates want analysis.Decrease. A baseline
// value of 0 gives a Relative margin of 0: set Absolute for metrics that
// are often 0 (error rates). A baseline without a value (no series, NaN,
// fewer observations than MinCount) makes the comparison NoData.
type Comparison struct {
	// Direction says which change is bad.
	Direction analysis.Direction `json:"direction"`
	// Relative is the tolerated change as a fraction of the baseline's
	// magnitude (0.1 = 10%). Must be >= 0.
	Relative float64 `json:"relative,omitempty"`
	// Absolute is the tolerated change in the metric's own unit. Must be
	// >= 0.
	Absolute float64 `json:"absolute,omitempty"`
}

func (c Comparison) validate() []error {
	var errs []error
	if c.Direction < analysis.Either || c.Direction > analysis.Decrease {
		errs = append(errs, fmt.Errorf("compare direction %d is unknown", int(c.Direction)))
	}
	if !(c.Relative >= 0) || math.IsInf(c.Relative, 0) {
		errs = append(errs, fmt.Errorf("compare relative tolerance %g must be a finite number >= 0", c.Relative))
	}
	if !(c.Absolute >= 0) || math.IsInf(c.Absolute, 0) {
		errs = append(errs, fmt.Errorf("compare absolute tolerance %g must be a finite number >= 0", c.Absolute))
	}
	return errs
}

// bounds returns the canary values the comparison allows given the
// baseline value b.
func (c Comparison) bounds(b float64) (lo, hi float64) {
	m := c.Absolute + c.Relative*math.Abs(b)
	lo, hi = math.Inf(-1), math.Inf(1)
	if c.Direction != analysis.Decrease {
		hi = b + m
	}
	if c.Direction != analysis.Increase {
		lo = b - m
	}
	return lo, hi
}

// Unit says how a metric's values are written in reasons.
type Unit int

// Units. The zero value is Number.
const (
	// Number writes the value as is, to 4 significant digits.
	Number Unit = iota
	// Ratio writes a fraction as a percentage: 0.032 is "3.20%".
	Ratio
	// Percent writes a value that already is a percentage: 3.2 is "3.20%".
	Percent
	// Seconds writes a number of seconds as a duration: 0.25 is "250ms".
	Seconds
)

func (u Unit) String() string {
	switch u {
	case Number:
		return "number"
	case Ratio:
		return "ratio"
	case Percent:
		return "percent"
	case Seconds:
		return "seconds"
	}
	return "Unit(" + strconv.Itoa(int(u)) + ")"
}

// MarshalText encodes the unit by name.
func (u Unit) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText decodes a unit name.
func (u *Unit) UnmarshalText(b []byte) error {
	for _, c := range []Unit{Number, Ratio, Percent, Seconds} {
		if c.String() == string(b) {
			*u = c
			return nil
		}
	}
	return fmt.Errorf("prometheus: unknown unit %q (want number, ratio, percent or seconds)", b)
}

// ErrImpossible is wrapped by the error of a metric whose query answered a
// value the metric cannot take: outside its unit's domain, infinite, or a
// negative count.
var ErrImpossible = errors.New("impossible value")

// check returns an error wrapping ErrImpossible when v lies outside the
// unit's domain: an infinity for any unit, a Ratio outside [0, 1], a
// Percent outside [0, 100], negative Seconds.
func (u Unit) check(v float64) error {
	lo, hi, text := math.Inf(-1), math.Inf(1), "a number is finite"
	switch u {
	case Ratio:
		lo, hi, text = 0, 1, "a ratio lies in [0, 1]"
	case Percent:
		lo, hi, text = 0, 100, "a percentage lies in [0, 100]"
	case Seconds:
		lo, text = 0, "a duration is finite and at least 0"
	}
	if math.IsInf(v, 0) || v < lo || v > hi {
		return fmt.Errorf("%w %s (%s unit): %s", ErrImpossible, strconv.FormatFloat(v, 'g', -1, 64), u, text)
	}
	return nil
}

// checkCount returns an error wrapping ErrImpossible for a count that is
// negative or infinite. Counts may be fractional: increase() extrapolates.
func checkCount(v float64) error {
	if math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%w: count %s, a count is finite and at least 0", ErrImpossible, strconv.FormatFloat(v, 'g', -1, 64))
	}
	return nil
}

// Format writes v in unit u.
func (u Unit) Format(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	switch u {
	case Ratio:
		return formatPercent(v * 100)
	case Percent:
		return formatPercent(v)
	case Seconds:
		return formatSeconds(v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// formatSeconds writes a number of seconds to 4 significant digits in
// the largest unit below it: 250ms, 1.235s, 123.4µs.
func formatSeconds(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0s"
	case a < 1e-6:
		return strconv.FormatFloat(v*1e9, 'g', 4, 64) + "ns"
	case a < 1e-3:
		return strconv.FormatFloat(v*1e6, 'g', 4, 64) + "µs"
	case a < 1:
		return strconv.FormatFloat(v*1e3, 'g', 4, 64) + "ms"
	case a < 1e4:
		return strconv.FormatFloat(v, 'g', 4, 64) + "s"
	case a < 1e9:
		return strconv.FormatFloat(v, 'f', 0, 64) + "s"
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + "s"
}

// formatPercent writes p with two decimals, or to 3 significant digits
// when that would show 0.00 for a value that is not 0.
func formatPercent(p float64) string {
	if p != 0 && math.Abs(p) < 0.01 {
		return strconv.FormatFloat(p, 'g', 3, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}
