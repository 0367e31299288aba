package strategy

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Linear ramps the canary share evenly from From to To over a duration: a
// time-based ramp.
//
// From is where the ramp starts, not a step: 0, or the share an earlier
// phase of the release left behind. The ramp then takes n equal
// increments, and step k (1..n) holds From + k·(To−From)/n, rounded to the
// 0.01 resolution, for Over/n (the last step takes the nanoseconds the
// division leaves over, so the holds add up to Over exactly). So
// Linear{From: 0, To: 100, Over: time.Hour, Increment: 10} yields 10%,
// 20%, …, 100%, six minutes each.
//
// Set exactly one of Increment (the share added per step; the last step is
// capped at To, so 0→100 by 30 is 30, 60, 90, 100) and Steps (n).
//
// Analysis, when set, is run on every step; a step is left once its hold
// is over and the analysis passed, so an analysis whose Span is longer
// than Over/n stretches the ramp beyond Over. When the last step is left
// the engine promotes the new version to 100%, so a ramp that ends below
// 100 then jumps.
//
// The zero Linear is invalid: To, Over and one of Increment and Steps are
// required.
type Linear struct {
	// From is the share the ramp starts from (0–100, 0.01 resolution).
	From float64 `json:"from"`
	// To is the share of the last step; it must be above From.
	To float64 `json:"to"`
	// Over is how long the whole ramp lasts; it must be positive.
	Over time.Duration `json:"over"`
	// Increment is the share added per step (0.01 resolution).
	Increment float64 `json:"increment,omitempty"`
	// Steps is the number of steps, at most one per 0.01 between From and
	// To.
	Steps int `json:"steps,omitempty"`
	// Analysis, when set, is every step's analysis.
	Analysis *Analysis `json:"-"`
}

// plan returns the ramp's bounds in hundredths of a percent and its number
// of steps, or ok false when l is invalid.
func (l Linear) plan() (from, to, n int, ok bool) {
	if checkPercent(l.From) != "" || checkPercent(l.To) != "" || l.Over <= 0 {
		return 0, 0, 0, false
	}
	from, to = hundredths(l.From), hundredths(l.To)
	span := to - from
	if span <= 0 {
		return 0, 0, 0, false
	}
	switch {
	case l.Increment != 0 && l.Steps == 0:
		if checkPercent(l.Increment) != "" {
			return 0, 0, 0, false
		}
		inc := hundredths(l.Increment)
		if inc <= 0 {
			return 0, 0, 0, false
		}
		n = (span + inc - 1) / inc
	case l.Steps > 0 && l.Increment == 0:
		if l.Steps > span {
			return 0, 0, 0, false
		}
		n = l.Steps
	default:
		return 0, 0, 0, false
	}
	if time.Duration(n) > l.Over {
		return 0, 0, 0, false
	}
	return from, to, n, true
}

func hundredths(p float64) int { return int(math.Round(p * 100)) }

// Len returns the number of steps of the ramp, 0 when l is invalid.
func (l Linear) Len() int {
	_, _, n, _ := l.plan()
	return n
}

// Next returns step p.Index of the ramp (a negative Index is treated as 0),
// or done after the last. An invalid Linear yields a step that keeps all
// traffic on stable until promoted, named after the problem, and is never
// done.
func (l Linear) Next(p Progress) (Step, bool) {
	if err := l.Validate(); err != nil {
		return refuse(err), false
	}
	from, to, n, _ := l.plan()
	i := max(p.Index, 0)
	if i >= n {
		return Step{}, true
	}
	k := i + 1
	var h int
	if l.Increment != 0 {
		h = min(from+k*hundredths(l.Increment), to)
	} else {
		// Round half up, in integers: exact and the same on every platform.
		h = from + (2*k*(to-from)+n)/(2*n)
	}
	hold := l.Over / time.Duration(n)
	if k == n {
		hold = l.Over - time.Duration(n-1)*hold
	}
	return Step{
		Name:     fmt.Sprintf("linear %d/%d", k, n),
		Percent:  float64(h) / 100,
		Hold:     hold,
		Analysis: l.Analysis,
	}, false
}

// Validate reports every problem with l at once, each naming the field and
// value.
func (l Linear) Validate() error {
	var errs []error
	fromOK, toOK := true, true
	if bad := checkPercent(l.From); bad != "" {
		errs = append(errs, fmt.Errorf("from: %v %s", l.From, bad))
		fromOK = false
	}
	if bad := checkPercent(l.To); bad != "" {
		errs = append(errs, fmt.Errorf("to: %v %s", l.To, bad))
		toOK = false
	}
	span := 0
	if fromOK && toOK {
		span = hundredths(l.To) - hundredths(l.From)
		if span <= 0 {
			errs = append(errs, fmt.Errorf("to: %v is not above from (%v): a linear ramp rises", l.To, l.From))
		}
	}
	if l.Over <= 0 {
		errs = append(errs, fmt.Errorf("over: %v must be positive", l.Over))
	}
	n := 0
	switch {
	case l.Increment == 0 && l.Steps == 0:
		errs = append(errs, errors.New("increment, steps: neither is set: set one"))
	case l.Increment != 0 && l.Steps != 0:
		errs = append(errs, fmt.Errorf("increment, steps: both are set (%v and %d): set one", l.Increment, l.Steps))
	case l.Increment != 0:
		if bad := checkPercent(l.Increment); bad != "" {
			errs = append(errs, fmt.Errorf("increment: %v %s", l.Increment, bad))
		} else if span > 0 {
			inc := hundredths(l.Increment)
			n = (span + inc - 1) / inc
		}
	default:
		switch {
		case l.Steps < 0:
			errs = append(errs, fmt.Errorf("steps: %d is negative", l.Steps))
		case span > 0 && l.Steps > span:
			errs = append(errs, fmt.Errorf("steps: %d is more than the %d distinct shares between from (%v) and to (%v)",
				l.Steps, span, l.From, l.To))
		case span > 0:
			n = l.Steps
		}
	}
	if n > 0 && l.Over > 0 && time.Duration(n) > l.Over {
		errs = append(errs, fmt.Errorf("over: %v is too short for %d steps (each would hold 0, which means until promoted)", l.Over, n))
	}
	errs = append(errs, checkAnalysis("analysis", l.Analysis)...)
	return errors.Join(errs...)
}
