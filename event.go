package ramp

import (
	"fmt"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
)

// EventKind says what happened.
type EventKind int

// Event kinds.
const (
	EventStarted EventKind = iota + 1
	EventStepStarted
	EventAnalysis
	EventPaused
	EventResumed
	EventPromoted
	EventRollingBack
	EventRolledBack
	EventSucceeded
	// EventRouterError: the router failed to apply a route; it is retried.
	EventRouterError
	// EventTriggerError: a trigger stopped with an error.
	EventTriggerError
	// EventRetried: a rolled-back rollout was reset to start again.
	EventRetried
	// EventWindowClosed: the deployment window holds the rollout back;
	// Reason says why.
	EventWindowClosed
	// EventWindowOverride: a person overrode a closed window; Reason says
	// who and why (Status.Overrides keeps it).
	EventWindowOverride
	// EventStoreError: a save failed and the rollout stopped driving
	// (this event itself could not be saved).
	EventStoreError
)

var eventNames = map[EventKind]string{
	EventStarted: "started", EventStepStarted: "step_started", EventAnalysis: "analysis",
	EventPaused: "paused", EventResumed: "resumed", EventPromoted: "promoted",
	EventRollingBack: "rolling_back", EventRolledBack: "rolled_back", EventSucceeded: "succeeded",
	EventRouterError: "router_error", EventTriggerError: "trigger_error", EventRetried: "retried",
	EventWindowClosed: "window_closed", EventWindowOverride: "window_override", EventStoreError: "store_error",
}

func (k EventKind) String() string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// MarshalText encodes the kind by name.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is one transition of a rollout.
type Event struct {
	Kind  EventKind `json:"kind"`
	Time  time.Time `json:"time"`
	Phase Phase     `json:"phase"`
	// Step is the 0-based index of the step in force, -1 before the
	// first; Steps the plan's number of steps (0: not known ahead).
	// strategy.StepText(Step, Steps) names it for a person.
	Step    int     `json:"step"`
	Steps   int     `json:"steps,omitempty"`
	Percent float64 `json:"percent"`
	// Result is set on EventAnalysis.
	Result *analysis.Result `json:"result,omitempty"`
	// Reason explains the transition (rollback reason, pause reason, error).
	Reason string `json:"reason,omitempty"`
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s canary=%.2f%% phase=%s", e.Kind, strategy.StepText(e.Step, e.Steps), e.Percent, e.Phase)
	if e.Result != nil {
		s += fmt.Sprintf(" verdict=%s", e.Result.Verdict)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}
