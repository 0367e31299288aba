// Package ramp releases a new version of a service progressively: it moves
// traffic from a stable version to a new one in steps, watches metrics, and
// rolls back the moment the new version misbehaves.
//
// A Rollout conducts. It asks a strategy.Strategy for each step, applies the
// step's route through a traffic.Router, consults an analysis.Analyzer at
// the step's interval, watches rollback.Triggers the whole time, persists
// every transition to a Store before acting on it, and emits Events.
//
// # The state machine
//
// Every phase change of a rollout, and what causes it:
//
//	Pending     → Progressing   Run starts (the deployment window is open)
//	Pending     → RollingBack   Abort before the start
//	Progressing → Progressing   the next step is entered
//	Progressing → Paused        Pause; an inconclusive analysis
//	Progressing → RollingBack   a trigger, a failed analysis, a deadline, Abort
//	Progressing → Succeeded     the 100% route is confirmed
//	Paused      → Paused        a restart resumes the paused step
//	Paused      → Progressing   Resume; Promote
//	Paused      → RollingBack   a trigger, Abort
//	Paused      → Succeeded     PromoteFully
//	RollingBack → RollingBack   the next share of a ramped rollback
//	RollingBack → RolledBack    the router confirmed the stable route
//	Succeeded   → RollingBack   Abort within the rollback window; RollbackTo
//	RolledBack  → RollingBack   RollbackTo
//	RolledBack  → Pending       Retry
//
// The engine is a pure transition function (state and one input in, new
// state and an ordered list of effects out: save, apply a route, start an
// analysis, ask a gate, emit an event) with one place that changes the
// phase and bumps a generation counter, so that results that arrive late
// (an analysis of a step already left, an approval after a rollback) are
// discarded. One driver goroutine carries the effects out in order, so a
// transition is always saved before it is acted on. Saves happen outside
// any lock, and Status reads an atomically published snapshot of the last
// saved state: it never waits for the store or the router.
//
// Operations — Promote, PromoteFully, Pause, Resume, Abort, Retry,
// RollbackTo — are safe from any goroutine at any time; one that does not
// apply to the phase returns an error wrapping ErrPhase and changes
// nothing. A rollback always wins a race with a promotion: it disarms
// pending promotions at once, the router is never asked for two routes at
// a time, and the first Apply toward stable follows the one save that
// records the decision. A ramped rollback never raises the canary's share.
//
// # Steps
//
// Per step: the deployment window (before a rollout starts and before each
// advance, never before a rollback), the readiness gate (once, before the
// canary first gets traffic), save, apply the route, hold for the step's
// duration while the analysis is measured at its interval, then the
// approval gate. A step is left only when its latest measurement is a
// pass: an error or "no data" after the passes holds it. A Hold of 0 is
// strategy.DefaultHold (five minutes); strategy.UntilPromoted waits for a
// person, and that wait counts toward the progress deadline unless
// Config.UnboundedPromoteWait is set. Fields and JSON count steps from 0;
// texts for people say "step 2 of 3" (strategy.StepText).
//
// # Restarts
//
// The saved state records the plan it was made for (the versions, the
// strategy's kind, each step's share, hold and whether it is analysed). A
// process killed at any instant and restarted with the same Store and plan
// resumes the step it was on (or rolls back, with OnRestart: RollBack):
// the step's route is applied again and its remaining hold goes on (time
// paused is not counted), but its measurements start over, since the
// evidence of the old process is gone. A different plan is an error naming
// what differs, unless Config.OnPlanChange says to restart from the first
// step or to roll back. A corrupt or impossible state file is an error
// naming the file and the field, never a silent reset. A failed Save stops
// the rollout at once (see Config.Store).
package ramp
