package ramp

import (
	"context"
	"errors"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
)

// Store persists a rollout's state. Every transition is saved before it is
// acted on, so a process killed at any instant restarts into a known state.
type Store interface {
	// Load returns the saved state, or an error wrapping ErrNoState when
	// nothing was saved yet. Any other error (a corrupt file) is returned
	// as is and stops the rollout from starting: state is never silently
	// reset.
	Load(ctx context.Context) (State, error)
	// Save replaces the saved state atomically.
	Save(ctx context.Context, s State) error
}

// ErrNoState is wrapped by Store.Load when nothing was saved.
var ErrNoState = errors.New("ramp: no saved state")

// StateVersion is the schema version written into State.Version. Version 2
// added Plan (the plan the state was made for), WaitReason and Overrides.
// A version-1 state still loads: a finished or pending one as it is; an
// unfinished one has no plan to check, so New treats it as a changed plan
// (see Config.OnPlanChange).
const StateVersion = 2

// State is what a Store keeps: enough to resume a rollout exactly.
type State struct {
	Version int    `json:"version"`
	Stable  string `json:"stable"`
	Canary  string `json:"canary"`
	Phase   Phase  `json:"phase"`
	// Plan is the plan this rollout was made for (nil in version-1 files).
	Plan *Plan `json:"plan,omitempty"`
	// Step is the index of the step in force (-1 before the first);
	// Completed counts the steps left behind (promoted or passed), saved
	// before the next one is prepared, so a restart never holds a step
	// that was already left.
	Step      int `json:"step"`
	Completed int `json:"completed"`
	// Final: every step is done or skipped; the canary is being given all
	// traffic.
	Final bool `json:"final,omitempty"`
	// Percent is the canary share the router last confirmed; Target the
	// share being applied (saved before the router is asked).
	Percent float64 `json:"percent"`
	Target  float64 `json:"target"`
	// GatePassed: the readiness gate let the canary have traffic.
	GatePassed bool `json:"gate_passed,omitempty"`
	// PausedAt and PauseReason describe a pause in force.
	PausedAt    time.Time `json:"paused_at,omitzero"`
	PauseReason string    `json:"pause_reason,omitempty"`
	// Live is the version that has all traffic once the rollout ended
	// (the canary after success, stable after a rollback, or the version
	// RollbackTo moved to). RollbackTarget is where a RollbackTo in
	// progress is going.
	Live           string `json:"live,omitempty"`
	RollbackTarget string `json:"rollback_target,omitempty"`
	// Reasons of the rollback or pause, in the order they arrived.
	Reasons    []string        `json:"reasons,omitempty"`
	LastResult analysis.Result `json:"last_result"`
	// PrevPercent and PrevResult are the share and final analysis result
	// of the last completed step: what the strategy is told on resume.
	PrevPercent   float64         `json:"prev_percent"`
	PrevResult    analysis.Result `json:"prev_result"`
	StartedAt     time.Time       `json:"started_at"`
	StepStartedAt time.Time       `json:"step_started_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	FinishedAt    time.Time       `json:"finished_at,omitzero"`
	// History keeps the last revisions that were live, newest last.
	History []rollback.Revision `json:"history,omitempty"`
	// WaitReason says why the rollout does not move on (a closed
	// deployment window); empty when it does.
	WaitReason string `json:"wait_reason,omitempty"`
	// Overrides records every closed window a person overrode to let this
	// rollout start or advance.
	Overrides []Override `json:"overrides,omitempty"`
}

// Override is a recorded permission to start or advance while the
// deployment window was closed.
type Override struct {
	Who    string    `json:"who"`
	Why    string    `json:"why"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"` // the window's own words
	// Step is the step the rollout was allowed to enter (-1: the start).
	Step int `json:"step"`
}

// clone returns s with its own slices.
func (s State) clone() State {
	s.Reasons = append([]string(nil), s.Reasons...)
	s.History = append([]rollback.Revision(nil), s.History...)
	s.Overrides = append([]Override(nil), s.Overrides...)
	return s
}
