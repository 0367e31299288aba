// Package window decides when a rollout may start or advance: deployment
// windows (allow and deny, with time zones), one-off freezes, and a
// "stop the line" switch. A rollback is never subject to a window.
//
// Checker is what the engine asks. Calendar implements it: recurring allow
// and deny windows (Rule: weekdays and times of day, or a cron schedule,
// each in its own time zone), one-off freezes, the stop-the-line switch
// and recorded overrides. Deny wins over allow; with no allow window,
// every moment not denied is open. Parse and Load read a Calendar from
// the small JSON format described at Parse, the one deploytool -windows
// reads.
//
// Times of day are wall-clock times in their zone, so a window that ends
// at 18:00 in Europe/Berlin ends at 18:00 local time on either side of a
// daylight-saving change, and a window from 22:00 to 06:00 crosses
// midnight. Decision.Next is the next moment the answer changes, found by
// walking the windows' boundaries; the engine can sleep until then, and
// Wait does so for a host that lets a new rollout wait for its window
// rather than refusing it.
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
	// At is when it was granted and takes effect.
	At time.Time
	// Until is when it lapses; Calendar requires it after At.
	Until time.Time
}

// Checker answers whether a rollout may start or advance at t. It must be
// safe for concurrent use and must not block: the engine asks it from its
// driver before each step and before a new rollout starts.
type Checker interface {
	Check(t time.Time) Decision
}
