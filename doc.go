// Package ramp releases a new version of a service progressively: it moves
// traffic from a stable version to a new one in steps, watches metrics, and
// rolls back the moment the new version misbehaves.
//
// A Rollout conducts. It asks a strategy.Strategy for each step, applies the
// step's route through a traffic.Router, consults an analysis.Analyzer at
// the step's interval, watches rollback.Triggers the whole time, persists
// every transition to a Store before acting on it, and emits Events.
//
//	Pending ─► Progressing ⇄ Paused ─► Succeeded
//	               │            │
//	               └─► RollingBack ─► RolledBack
//
// Operations — Promote, PromoteFully, Pause, Resume, Abort, Retry,
// RollbackTo — are safe from any goroutine at any time. A rollback always
// wins a race with a promotion: every route change happens on one driver,
// a rollback demand disarms pending promotions and is checked again after
// every Apply, and an analysis result that arrives after a rollback is
// discarded. A ramped rollback never raises the canary's share.
//
// Per step: the readiness gate (once, before the canary first gets
// traffic), save, apply the route, hold for the step's duration while the
// analysis is measured at its interval (Policy says when it passes, fails,
// errors or is inconclusive), then the approval gate. "No data" never
// promotes; the progress deadline bounds how long a step may make no
// progress.
//
// Every transition is saved to the Store before it is acted on. A process
// killed at any instant and restarted with the same Store resumes the step
// it was on (or rolls back, with OnRestart: RollBack); a corrupt state file
// is an error, never a silent reset.
package ramp
