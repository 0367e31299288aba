package ramp

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
)

// ErrPlanChanged is wrapped by New when the Store holds an unfinished
// rollout of the same versions that was made for another plan (other
// steps, shares, holds, analysis or strategy kind), or one saved by ramp
// before plans were recorded (state version 1). Config.OnPlanChange says
// what to do instead of failing.
var ErrPlanChanged = errors.New("ramp: plan changed")

// maxPlanSteps bounds how far New asks a strategy ahead. A strategy that is
// not done by then has an open plan: the steps past it are not compared.
const maxPlanSteps = 1000

// Plan is what a saved state was made for: the versions, the strategy's
// kind and its steps. A restarted rollout carries on only under the plan it
// saved (see Config.OnPlanChange), so it can never skip steps or jump to a
// share the plan does not have.
type Plan struct {
	Stable   string `json:"stable"`
	Canary   string `json:"canary"`
	Strategy string `json:"strategy"`
	// Steps are the strategy's answers when every step passes (a strategy
	// that adapts to evidence is compared on that path).
	Steps []PlanStep `json:"steps"`
	// Open: the strategy was not done after maxPlanSteps steps.
	Open bool `json:"open,omitempty"`
}

// PlanStep is one step of a Plan.
type PlanStep struct {
	Percent float64 `json:"percent"`
	// Hold is the step's effective hold: DefaultHold for a Hold of 0, -1
	// for strategy.UntilPromoted.
	Hold     time.Duration `json:"hold"`
	Analysed bool          `json:"analysed,omitempty"`
}

// planOf asks s for its steps, assuming each passes. It also returns the
// steps themselves, for New to validate.
func planOf(cfg *Config) (Plan, []strategy.Step) {
	p := Plan{Stable: cfg.Stable, Canary: cfg.Canary, Strategy: fmt.Sprintf("%T", cfg.Strategy)}
	var steps []strategy.Step
	prev := 0.0
	for i := 0; ; i++ {
		if i == maxPlanSteps {
			p.Open = true
			break
		}
		st, done := cfg.Strategy.Next(strategy.Progress{
			Index: i, Stable: cfg.Stable, Canary: cfg.Canary, Percent: prev,
			Last: analysis.Result{Verdict: analysis.Pass},
		})
		if done {
			break
		}
		steps = append(steps, st)
		p.Steps = append(p.Steps, PlanStep{Percent: st.Percent, Hold: st.EffectiveHold(), Analysed: st.Analysis != nil})
		prev = st.Percent
	}
	return p, steps
}

// diff says how q (saved) differs from p (now), "" when it does not.
func (p Plan) diff(q *Plan) string {
	if q == nil {
		return "the saved state records no plan (saved by ramp before state version 2)"
	}
	var d []string
	if q.Strategy != p.Strategy {
		d = append(d, fmt.Sprintf("strategy: %s saved, %s now", q.Strategy, p.Strategy))
	}
	if len(q.Steps) != len(p.Steps) || q.Open != p.Open {
		d = append(d, fmt.Sprintf("steps: %s saved, %s now", q.count(), p.count()))
	}
	for i := 0; i < min(len(q.Steps), len(p.Steps)) && len(d) < 6; i++ {
		a, b := q.Steps[i], p.Steps[i]
		name := strategy.StepText(i, len(p.Steps))
		if a.Percent != b.Percent {
			d = append(d, fmt.Sprintf("%s: share %.2f%% saved, %.2f%% now", name, a.Percent, b.Percent))
		}
		if a.Hold != b.Hold {
			d = append(d, fmt.Sprintf("%s: hold %s saved, %s now", name, holdText(a.Hold), holdText(b.Hold)))
		}
		if a.Analysed != b.Analysed {
			d = append(d, fmt.Sprintf("%s: analysed %t saved, %t now", name, a.Analysed, b.Analysed))
		}
	}
	return strings.Join(d, "; ")
}

func (p Plan) count() string {
	if p.Open {
		return fmt.Sprintf("more than %d", len(p.Steps))
	}
	return fmt.Sprint(len(p.Steps))
}

// total is the number of steps for StepText: 0 when not known ahead.
func (p *Plan) total() int {
	if p == nil || p.Open {
		return 0
	}
	return len(p.Steps)
}

func holdText(d time.Duration) string {
	if d == strategy.UntilPromoted {
		return "until promoted"
	}
	return d.String()
}

// PlanChangePolicy says what New does when the Store holds an unfinished
// rollout of the same versions made for another plan.
type PlanChangePolicy int

// Plan change policies.
const (
	// RefusePlanChange (the default): New returns an error wrapping
	// ErrPlanChanged that names what differs.
	RefusePlanChange PlanChangePolicy = iota
	// RestartPlan: the rollout starts over from the first step of the new
	// plan (the router keeps its share until that step is applied).
	RestartPlan
	// RollBackPlanChange: the rollout rolls back, with the difference as
	// its reason.
	RollBackPlanChange
)

// checkState reports every field of s that cannot be true of a state saved
// by this engine, each naming the field and value. plan, when set, is the
// plan of the rollout being restored.
func checkState(s State, plan *Plan) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Version < 1 || s.Version > StateVersion {
		bad("version: %d is not supported (want 1 to %d)", s.Version, StateVersion)
	}
	if s.Phase < Pending || s.Phase > RolledBack {
		bad("phase: %d is unknown", int(s.Phase))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"percent", s.Percent}, {"target", s.Target}, {"prev_percent", s.PrevPercent}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > 100 {
			bad("%s: %v is outside [0,100]", f.name, f.v)
		}
	}
	if s.Step < -1 {
		bad("step: %d is below -1", s.Step)
	}
	if s.Completed < 0 {
		bad("completed: %d is negative", s.Completed)
	} else if s.Step != s.Completed && s.Step != s.Completed-1 {
		bad("completed: %d does not fit step %d (step is completed or completed-1)", s.Completed, s.Step)
	}
	errs = append(errs, checkPhase(s)...)
	if plan != nil {
		errs = append(errs, checkAgainstPlan(s, plan)...)
	}
	return errors.Join(errs...)
}

func checkPhase(s State) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch s.Phase {
	case Pending:
		if s.Step != -1 || s.Completed != 0 || s.Final {
			bad("phase: pending with step %d, completed %d, final %t (a pending rollout has no step)", s.Step, s.Completed, s.Final)
		}
	case Paused:
		if s.PausedAt.IsZero() {
			bad("paused_at: missing for phase paused")
		}
	case Succeeded:
		if s.Percent != 100 && s.RollbackTarget == "" {
			bad("percent: %v in phase succeeded (a succeeded rollout gives the canary 100)", s.Percent)
		}
	case RolledBack:
		if s.Percent != 0 && s.Live != s.Canary {
			bad("percent: %v in phase rolled_back (a rolled back rollout gives the canary 0)", s.Percent)
		}
	}
	if s.Final && s.Target != 100 && (s.Phase == Progressing || s.Phase == Paused) {
		bad("target: %v with final set (the final promotion targets 100)", s.Target)
	}
	return errs
}

func checkAgainstPlan(s State, p *Plan) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.Open {
		return nil
	}
	n := len(p.Steps)
	if s.Completed > n {
		bad("completed: %d is beyond the plan's %d steps", s.Completed, n)
	}
	if s.Step >= n {
		bad("step: %d is beyond the plan's %d steps", s.Step, n)
	}
	moving := s.Step == s.Completed && s.Percent != s.Target // the step's route not yet confirmed
	if (s.Phase == Progressing || s.Phase == Paused) && s.Step >= 0 && !moving && !planHas(p, s.Percent) && !(s.Final && s.Percent == 100) {
		bad("percent: %v is not a share of the plan", s.Percent)
	}
	if (s.Phase == Progressing || s.Phase == Paused) && !s.Final && s.Step >= 0 && s.Step < n && s.Step == s.Completed {
		if want := p.Steps[s.Step].Percent; s.Target != want {
			bad("target: %v is not the share of %s in the plan (%v)", s.Target, strategy.StepText(s.Step, n), want)
		}
	}
	return errs
}

// planHas reports whether the router may hold percent under p: 0 or one of
// its shares.
func planHas(p *Plan, percent float64) bool {
	if percent == 0 {
		return true
	}
	for _, st := range p.Steps {
		if st.Percent == percent {
			return true
		}
	}
	return false
}
