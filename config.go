package ramp

import (
	"log/slog"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// Config describes one rollout. Stable, Canary, Strategy and Router are
// required; every other field has a documented default.
type Config struct {
	// Stable is the version label that runs now; Canary the one being
	// released ("v1.4.2", a git SHA). Releases are named and immutable:
	// the two must differ and neither may be "latest". They are also the
	// backend names given to the Router.
	Stable, Canary string
	// Strategy yields the steps.
	Strategy strategy.Strategy
	// Router applies each step's route.
	Router traffic.Router
	// Analyzer judges steps whose Analysis names none. nil: such steps are
	// invalid.
	Analyzer analysis.Analyzer
	// Triggers are watched the whole time the rollout progresses or is
	// paused; any of them rolls back.
	Triggers []rollback.Trigger
	// Gate, when set, must report the canary ready before the first step
	// that gives it traffic.
	Gate rollback.Gate
	// Store persists every transition. nil: state lives in memory only.
	Store Store
	// OnRestart says what to do when Store holds a rollout of the same
	// versions that was progressing or paused: Resume (the default) or
	// RollBack.
	OnRestart RestartPolicy
	// ProgressDeadline bounds how long a step may fail to make progress:
	// the router keeps failing, the readiness gate gives no answer, or the
	// hold is over and the analysis still has no verdict (each passing
	// measurement counts as progress). Then the rollout rolls back. 0 means
	// 10 minutes. Time spent paused, waiting for a manual promote or for an
	// approval does not count.
	ProgressDeadline time.Duration
	// RollbackSteps, when set, ramps traffic back to stable through these
	// canary percents (for a stable version that must warm up) instead of
	// moving it all at once. Each is held for RollbackStepHold.
	RollbackSteps    []float64
	RollbackStepHold time.Duration
	// RollbackWindow: after success, for this long Abort returns all
	// traffic to the stable version in one Apply. 0 means no window.
	RollbackWindow time.Duration
	// HistoryLimit is how many revisions the history keeps. 0 means 10.
	HistoryLimit int
	// OnEvent receives every event, in order, from its own goroutine: a
	// slow callback delays later events, never the rollout or routing.
	OnEvent func(Event)
	// Logger, when set, logs transitions. nil: the rollout is silent.
	Logger *slog.Logger
	// Clock is the time source; nil means the system clock. It can only be
	// set from inside this module (tests use a fake clock).
	Clock clock.Clock
}

// RestartPolicy says what a restarted rollout does with unfinished state.
type RestartPolicy int

// Restart policies.
const (
	// Resume re-applies the step it was on and carries on.
	Resume RestartPolicy = iota
	// RollBack rolls back at once with reason "restarted".
	RollBack
)
