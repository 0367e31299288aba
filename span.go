package ramp

import (
	"fmt"
	"time"

	"github.com/ramp-go/ramp/strategy"
)

// spanChecker is implemented by a component that judges recorded
// windows and can say whether it remembers a step of d whole
// (analysis.Recorder, and analysis.Thresholds, the sequential judges and
// rollback.Guard over one). New asks every Analyzer, Trigger and Gate
// that has it.
type spanChecker interface{ CheckSpan(time.Duration) error }

// checkSpans asks each component that can say whether it covers the
// longest step it judges: Config.Analyzer the longest analysed step that
// names no analyzer of its own, a step's own analyzer that step, the
// triggers and the gate the longest step. Steps held until promoted have
// no length to check.
func (c *Config) checkSpans(plan Plan, steps []strategy.Step, bad func(string, ...any)) {
	name := func(i int) string { return fmt.Sprintf("%s (steps[%d])", strategy.StepText(i, plan.total()), i) }
	longest := func(use func(strategy.Step) bool) int {
		at := -1
		for i, s := range steps {
			if h := s.EffectiveHold(); h > 0 && use(s) && (at < 0 || h > steps[at].EffectiveHold()) {
				at = i
			}
		}
		return at
	}
	ask := func(what string, v any, at int) {
		sc, ok := v.(spanChecker)
		if !ok || at < 0 {
			return
		}
		if err := sc.CheckSpan(steps[at].EffectiveHold()); err != nil {
			bad("%s (%T) cannot judge %s, held %v: %w", what, v, name(at), steps[at].EffectiveHold(), err)
		}
	}
	if c.Analyzer != nil {
		ask("analyzer", c.Analyzer, longest(func(s strategy.Step) bool { return s.Analysis != nil && s.Analysis.Analyzer == nil }))
	}
	for i, s := range steps {
		if s.Analysis != nil && s.Analysis.Analyzer != nil && s.EffectiveHold() > 0 {
			ask(fmt.Sprintf("strategy: steps[%d]: analyzer", i), s.Analysis.Analyzer, i)
		}
	}
	all := longest(func(strategy.Step) bool { return true })
	for i, t := range c.Triggers {
		if t != nil {
			ask(fmt.Sprintf("triggers[%d]", i), t, all)
		}
	}
	if c.Gate != nil {
		ask("gate", c.Gate, all)
	}
}
