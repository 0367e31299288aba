// Package strategy turns "what has happened so far" into "what traffic state
// comes next".
//
// # The model
//
// A Strategy returns Steps one at a time: the rollout engine calls Next
// with the Progress so far (steps completed, the last step's analysis
// result and share) and applies the Step it gets, until Next reports done;
// then the engine promotes the new version to 100%. Next must be a pure
// function of Progress: after a restart the engine asks again for the step
// it was on and must get the same answer.
//
// A Step is a traffic state and what must be true to leave it: the canary
// share of weighted traffic (0–100, 0.01 resolution), match Rules that pin
// some requests to a version whatever the share, a mirror share, a Hold, an
// Analysis and an optional approval gate. A step is left once its Hold is
// over and its Analysis, if any, has passed (and its gate approved), or at
// once when a person promotes it. A failed analysis rolls back at once,
// whatever the hold. A Hold of 0 means DefaultHold (five minutes), so a
// bare step list such as "10,50,100" advances by itself; a Hold of
// UntilPromoted waits for a person (and is still bounded by the engine's
// progress deadline unless the host opts out). The strategies here hold
// an analysed step for Analysis.Span.
//
// Step numbers: every field and JSON document counts steps from 0; every
// text for a person says "step 2 of 3", made by StepText.
//
// # Strategies
//
//   - Canary: a fixed list of steps, e.g. 10% → 50% → 100%, each with its
//     own hold and analysis. ParseSteps reads the command-line form
//     "10,50,100" (or "5:10m,25:30m,100" with holds); FormatSteps writes it.
//   - BlueGreen: a preview at 0% in which only requests matching a rule
//     (by default "X-Preview: 1") reach the new version, with an optional
//     pre-promotion analysis; promotion after a delay or by a person; then
//     the switch to 100% in one step, optionally held and analysed
//     (post-promotion). The rollback window after success is the rollout's
//     (ramp.Config.RollbackWindow).
//   - AB: requests matching header or cookie rules go to the new version
//     for a number of analysis intervals; then the analysis promotes it or
//     rolls it back.
//   - Linear: a time-based ramp from one share to another over a duration,
//     in equal increments.
//   - Func: any function of Progress, for strategies a host writes itself
//     (see ExampleFunc, which takes larger steps after confident passes).
//
// Canary, BlueGreen, AB and Linear are plain structs with a Validate method
// that reports every problem at once (errors.Join), each naming the field
// and value, as in "steps[2].percent: 120 is over 100". Validate first (the
// engine does). Next never panics, and on an invalid strategy it never
// reports done — which would make the engine promote the new version
// fully — but returns a step that keeps all traffic on stable until a
// person promotes, named "invalid strategy: …" after the problem.
//
//	steps, err := strategy.ParseSteps("5:10m,25:30m,100")
//	if err != nil {
//		return err // steps: item 2 "25o:30m": not a number
//	}
//	s := strategy.Canary{Steps: steps}
package strategy
