// Package window decides when a rollout may start or advance: deployment
// windows (allow and deny, with time zones), one-off freezes, and a
// "stop the line" switch. A rollback is never subject to a window.
package window

import "time"

// Decision is a Checker's answer for one instant.
type Decision struct {
	// Open: a rollout may start or advance now.
	Open bool
	// Reason says why it is closed ("freeze \"year-end\" until 2027-01-04
	// 00:00 CET"), or, when it is open only through an override, which
	// override.
	Reason string
	// Next is when the answer may change (the window opens or closes); the
	// zero time means unknown: ask again later.
	Next time.Time
	// Override is set when the decision is open only because a person
	// overrode a closed window; the engine records it in its history.
	Override *Override
}

// Override is an explicit, recorded permission to deploy while closed.
type Override struct {
	Who, Why string
	At       time.Time
}

// Checker answers whether a rollout may start or advance at t. It must be
// safe for concurrent use and must not block: the engine asks it from its
// driver before each step and before a new rollout starts.
type Checker interface {
	Check(t time.Time) Decision
}
