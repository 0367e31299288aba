package strategy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/traffic"
)

// Strategy turns what has happened so far into the step that comes next.
type Strategy interface {
	// Next returns the step that follows the progress so far, or done when
	// no step is left (the engine then promotes the new version fully).
	// Next must be deterministic in p: after a restart the engine asks
	// again for the step it was on.
	Next(p Progress) (s Step, done bool)
}

// Func adapts a function to Strategy.
type Func func(p Progress) (Step, bool)

// Next calls f.
func (f Func) Next(p Progress) (Step, bool) { return f(p) }

// Progress is what has happened so far in a rollout.
type Progress struct {
	// Index is the number of steps completed; Next returns step Index.
	Index int
	// Stable and Canary are the version labels of the rollout.
	Stable, Canary string
	// Last is the final analysis result of the previous step (the zero
	// Result, verdict NoData, when there was none).
	Last analysis.Result
	// Percent is the canary share of the step in force when Next is called
	// — the step just completed — or 0 before the first step. Strategies
	// that size their next jump by the evidence (see ExampleFunc) need it,
	// since Index alone does not say where an adaptive ramp stands.
	Percent float64
	// Elapsed is the time since the rollout started. It is the one field
	// that differs when the engine asks again after a restart, so a
	// strategy that must give the same answer then should not depend on it.
	Elapsed time.Duration
}

// UntilPromoted as a Step's Hold waits for a manual promote. It must be
// spelled out: the zero Hold means DefaultHold, never "forever". The
// engine still counts the wait toward its progress deadline unless the
// host opts out (ramp.Config.UnboundedPromoteWait).
const UntilPromoted time.Duration = -1

// DefaultHold is how long a step whose Hold is 0 lasts: what a bare step
// list such as ParseSteps("10,50,100") gets. Each step is then left after
// five minutes (and once its analysis, if any, has passed).
const DefaultHold = 5 * time.Minute

// EffectiveHold is how long s lasts: its Hold, DefaultHold when that is 0,
// or UntilPromoted.
func (s Step) EffectiveHold() time.Duration {
	if s.Hold == 0 {
		return DefaultHold
	}
	return s.Hold
}

// StepText is the one way ramp and its examples name a step to a person:
// index is 0-based (as in every field and JSON document), the text is
// 1-based, as in "step 2 of 3". A total below 1 (a strategy whose length
// is not known ahead) gives "step 2"; an index below 0 (no step yet)
// gives "no step yet".
func StepText(index, total int) string {
	switch {
	case index < 0:
		return "no step yet"
	case total < 1:
		return fmt.Sprintf("step %d", index+1)
	}
	return fmt.Sprintf("step %d of %d", index+1, total)
}

// Step is one traffic state of a rollout and what must be true to leave it.
type Step struct {
	// Name is an optional label shown in events and status.
	Name string `json:"name,omitempty"`
	// Percent is the canary's share of weighted traffic (0–100, 0.01
	// resolution).
	Percent float64 `json:"percent"`
	// Rules pin matching requests to a backend whatever Percent says. An
	// empty Rule.Backend means the canary.
	Rules []traffic.Rule `json:"rules,omitempty"`
	// MirrorPercent copies that share of requests to the canary, whose
	// responses are discarded (shadow traffic).
	MirrorPercent float64 `json:"mirror_percent,omitempty"`
	// Hold is how long the step lasts before it may be left. 0 means
	// DefaultHold (five minutes); UntilPromoted waits for a manual promote.
	Hold time.Duration `json:"hold"`
	// Analysis, when set, must pass before the step is left; a failure
	// rolls back at once, whatever the hold.
	Analysis *Analysis `json:"-"`
	// Approve, when set, is asked once the step is otherwise done; it may
	// block (ctx ends on abort). nil error approves; an error rolls back
	// with it as reason.
	Approve func(ctx context.Context, index int, s Step) error `json:"-"`
}

// Analysis is a step's analysis: what judges and how often.
type Analysis struct {
	// Analyzer judges; nil means the rollout's default analyzer.
	Analyzer analysis.Analyzer
	analysis.Policy
}

// Span is how long the analysis needs at least to pass: InitialDelay plus
// Count (0 means 1) intervals. Strategies whose step exists only to be
// analysed (AB, BlueGreen's post-promotion step) hold for Span, because a
// Hold of 0 would mean "until promoted". Span saturates instead of
// overflowing; it is 0 for a nil *Analysis (a Hold of 0 is DefaultHold).
func (a *Analysis) Span() time.Duration {
	if a == nil {
		return 0
	}
	n := a.Count
	if n < 1 {
		n = 1
	}
	if a.Interval <= 0 || a.InitialDelay < 0 {
		return max(a.InitialDelay, 0)
	}
	const maxDur = time.Duration(math.MaxInt64)
	if time.Duration(n) > (maxDur-a.InitialDelay)/a.Interval {
		return maxDur
	}
	return a.InitialDelay + time.Duration(n)*a.Interval
}

// Route returns the route for s with the given version labels.
func (s Step) Route(stable, canary string) traffic.Route {
	r := traffic.Split(stable, canary, s.Percent)
	for _, rl := range s.Rules {
		if rl.Backend == "" {
			rl.Backend = canary
		}
		r.Rules = append(r.Rules, rl)
	}
	if s.MirrorPercent > 0 {
		r.Mirror = &traffic.Mirror{Backend: canary, Percent: s.MirrorPercent}
	}
	return r
}

// Validate reports every problem with s at once; field names are prefixed
// with field (e.g. "steps[2]"), as in "steps[2].percent: 120 is over 100".
// A 0% step with no rule is valid: all traffic stays on stable.
func (s Step) Validate(field string) error {
	var errs []error
	if bad := checkPercent(s.Percent); bad != "" {
		errs = append(errs, fmt.Errorf("%s.percent: %v %s", field, s.Percent, bad))
	}
	if bad := checkPercent(s.MirrorPercent); bad != "" {
		errs = append(errs, fmt.Errorf("%s.mirror_percent: %v %s", field, s.MirrorPercent, bad))
	}
	if s.Hold < 0 && s.Hold != UntilPromoted {
		errs = append(errs, fmt.Errorf("%s.hold: %v is negative", field, s.Hold))
	}
	if s.Analysis != nil {
		for _, e := range unjoin(s.Analysis.Validate()) {
			errs = append(errs, fmt.Errorf("%s.analysis: %w", field, e))
		}
	}
	errs = append(errs, checkRules(field+".rules", s.Rules)...)
	return errors.Join(errs...)
}

// checkRules validates rules as part of a route with placeholder backend
// names and valid weights, so that only the rules' own problems are
// reported; the percents are checked by the caller. The route names the
// rules "rules[i]"; the errors name them field+"[i]" instead, and still
// match traffic.ErrInvalidRoute.
func checkRules(field string, rules []traffic.Rule) []error {
	if len(rules) == 0 {
		return nil
	}
	r := Step{Percent: 50, Rules: rules}.Route("stable", "canary")
	var errs []error
	for _, e := range unjoin(r.Validate(nil)) {
		msg := strings.TrimPrefix(e.Error(), traffic.ErrInvalidRoute.Error()+": ")
		if rest, ok := strings.CutPrefix(msg, "rules"); ok {
			msg = field + rest
		} else {
			msg = field + ": " + msg
		}
		errs = append(errs, &fieldError{msg: msg, err: e})
	}
	return errs
}

// fieldError is an error renamed for the caller's field names that still
// unwraps to the original.
type fieldError struct {
	msg string
	err error
}

func (e *fieldError) Error() string { return e.msg }
func (e *fieldError) Unwrap() error { return e.err }

// refuse is the step an invalid built-in strategy yields instead of its
// own: all traffic on stable, waiting for a person, who will see why in
// the step's name. Reporting done instead would make the engine promote
// the new version fully, the worst answer to a configuration mistake.
func refuse(err error) Step {
	return Step{
		Name:    "invalid strategy: " + strings.ReplaceAll(err.Error(), "\n", "; "),
		Percent: 0,
		Hold:    UntilPromoted,
	}
}

func checkPercent(p float64) string {
	switch {
	case math.IsNaN(p) || math.IsInf(p, 0):
		return "is not a number"
	case p < 0:
		return "is negative"
	case p > 100:
		return "is over 100"
	case math.Abs(p*100-math.Round(p*100)) > 1e-6:
		return "is finer than the 0.01 resolution"
	}
	return ""
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
