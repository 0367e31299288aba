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
// Operations — Promote, PromoteFully, Pause, Resume, Abort, Retry — are safe
// from any goroutine at any time. A rollback always wins a race with a
// promotion, and an analysis result that arrives after a rollback is
// discarded.
package ramp
