package ramp

import (
	"log/slog"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/lock"
	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
	"github.com/ramp-go/ramp/window"
)

// Config describes one rollout. Stable, Canary, Strategy and Router are
// required; every other field has a documented default.
type Config struct {
	// Stable is the version label that runs now; Canary the one being
	// released ("v1.4.2", a git SHA). Releases are named and immutable:
	// the two must differ and neither may be "latest". They are also the
	// backend names given to the Router.
	Stable, Canary string
	// Release, when set, is the canary release's identity and build
	// metadata: commit, commit time (the lead time for changes runs from
	// it), build time, image digest and release notes link. New checks
	// each field (release.Identity.Validate, errors naming the field);
	// the revision the history adds when the rollout starts carries them
	// (Status.History, so release.KeysOf sees the lead time). Label is
	// empty or equal to Canary; when set it must also name one build
	// (release.CheckLabel: a semantic version or git SHA, no moving tag).
	// Without it Stable and Canary keep the engine's looser rule, since
	// they double as router backend names ("stable", "blue").
	Release release.Identity
	// Strategy yields the steps.
	Strategy strategy.Strategy
	// Router applies each step's route.
	Router traffic.Router
	// Analyzer judges steps whose Analysis names none. nil: such steps are
	// invalid (New says which).
	Analyzer analysis.Analyzer
	// Triggers are watched the whole time the rollout progresses or is
	// paused; any of them rolls back. New validates every trigger, gate and
	// analyzer that has a Validate() error method. A trigger whose Watch
	// returns an error while the rollout runs leaves it unguarded, so the
	// rollout rolls back with that error as its reason (fail closed),
	// unless KeepGoingOnTriggerError is set (then it only emits
	// EventTriggerError).
	Triggers                []rollback.Trigger
	KeepGoingOnTriggerError bool
	// Gate, when set, must report the canary ready before the first step
	// that gives it traffic.
	Gate rollback.Gate
	// Store persists every transition. nil: state lives in memory only.
	// A Save error stops driving at once: no route, event or analysis
	// follows it, Run returns an error wrapping ErrStore and the store's
	// error, Status keeps the last saved state (Status.Err says why) and
	// every later operation returns the same error. Make a new Rollout
	// with New to carry on from what the store holds (a fenced store of a
	// deposed leader fails this way, and its successor carries on).
	Store Store
	// OnRestart says what to do when Store holds a rollout of the same
	// versions and plan that was progressing or paused: Resume (the
	// default) or RollBack.
	OnRestart RestartPolicy
	// OnPlanChange says what to do when Store holds an unfinished rollout
	// of the same versions made for another plan: refuse (the default:
	// New fails with ErrPlanChanged naming what differs), restart from the
	// new plan's first step, or roll back.
	OnPlanChange PlanChangePolicy
	// Lock, when set, is taken by Run before anything else and held for
	// the rollout's whole life (released when Run returns). Held by
	// another: Run returns at once with an error wrapping lock.ErrHeld,
	// having started and saved nothing.
	Lock lock.Lock
	// Window, when set, is asked before a new rollout starts and before
	// each advance to a next step (or the final promotion); while it says
	// closed the rollout does not move, Status.Reason and an
	// EventWindowClosed say why, and it asks again at Decision.Next (or
	// every WindowRecheck). A rollback is never held back by it. An open
	// decision that carries an Override is recorded (EventWindowOverride,
	// Status.Overrides).
	Window window.Checker
	// WindowClosed says what Run does with a rollout that has not started
	// when the window is closed: RefuseClosedWindow (the default: Run
	// returns an error wrapping ErrWindowClosed, nothing started or saved)
	// or WaitForWindow.
	WindowClosed WindowPolicy
	// WindowRecheck is how often a closed window with no Decision.Next is
	// asked again. 0 means one minute.
	WindowRecheck time.Duration
	// ProgressDeadline bounds how long a step may fail to make progress:
	// the router keeps failing, the readiness gate gives no answer, or the
	// hold is over and the analysis still has no verdict (each passing
	// measurement counts as progress), or a step held UntilPromoted waits
	// for a person. Then the rollout rolls back. 0 means 10 minutes. Time
	// spent paused, waiting for an approval or for a deployment window
	// does not count.
	ProgressDeadline time.Duration
	// UnboundedPromoteWait: waiting for a manual promote (a step held
	// strategy.UntilPromoted) does not count toward ProgressDeadline, so
	// such a step may wait forever.
	UnboundedPromoteWait bool
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
	// Clock is the time source; nil means the system clock. Tests pass a
	// *clock.Fake and move time with Advance.
	Clock clock.Clock
}

// WindowPolicy says what Run does when a new rollout meets a closed
// deployment window.
type WindowPolicy int

// Window policies.
const (
	// RefuseClosedWindow: Run returns an error wrapping ErrWindowClosed.
	RefuseClosedWindow WindowPolicy = iota
	// WaitForWindow: Run waits, pending, until the window opens.
	WaitForWindow
)

// RestartPolicy says what a restarted rollout does with unfinished state.
type RestartPolicy int

// Restart policies.
const (
	// Resume re-applies the step it was on and carries on.
	Resume RestartPolicy = iota
	// RollBack rolls back at once with reason "restarted".
	RollBack
)
