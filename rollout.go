package ramp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// Errors returned by operations.
var (
	// ErrPhase: the operation does not apply to the rollout's phase.
	ErrPhase = errors.New("ramp: operation not allowed in this phase")
	// ErrBusy: Run was called while the rollout is already being driven.
	ErrBusy = errors.New("ramp: rollout is already running")
	// ErrInvalidConfig wraps every configuration problem New reports.
	ErrInvalidConfig = errors.New("ramp: invalid config")
)

const (
	defaultProgressDeadline = 10 * time.Minute
	defaultHistoryLimit     = 10
	minBackoff              = 100 * time.Millisecond
	maxBackoff              = 5 * time.Second
)

// Rollout drives one release from a stable version to a new one.
// All methods are safe for concurrent use.
type Rollout struct {
	cfg    Config
	clk    clock.Clock
	events eventQueue

	mu      sync.Mutex
	st      State
	driving bool // a goroutine holds the right to apply routes
	// watching: Run's triggers are still running (they may outlive the
	// driver by a moment, and their reasons are still kept).
	watching bool
	// restored: the state came from the Store unfinished; OnRestart
	// applies once, at the next Run.
	restored bool
	// runID tells the triggers of one Run from those of the next: a
	// trigger still winding down after its Run ended (or after a Retry)
	// cannot reach the rollout that follows.
	runID   uint64
	wake    chan struct{} // cap 1: pokes the driver
	changed chan struct{} // closed and replaced on every state change

	// requests, read by the driver
	promote, promoteFull, pause, resume bool
	rollbackReasons                     []string // pending reasons, not yet in st
	rollingBack                         bool
	stepCancel                          context.CancelFunc
	gen                                 uint64 // bumped when a step ends or a rollback starts
}

// New checks cfg and returns a rollout. When cfg.Store holds state of the
// same versions, the rollout continues from it (see Config.OnRestart); a
// store that cannot be read is an error: state is never silently reset.
func New(ctx context.Context, cfg Config) (*Rollout, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ProgressDeadline == 0 {
		cfg.ProgressDeadline = defaultProgressDeadline
	}
	if cfg.HistoryLimit == 0 {
		cfg.HistoryLimit = defaultHistoryLimit
	}
	r := &Rollout{
		cfg:     cfg,
		clk:     clock.Or(cfg.Clock),
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
	r.events.deliver = cfg.OnEvent
	r.events.logger = cfg.Logger
	r.st = State{Version: StateVersion, Stable: cfg.Stable, Canary: cfg.Canary, Phase: Pending, Step: -1}
	if cfg.Store == nil {
		return r, nil
	}
	saved, err := cfg.Store.Load(ctx)
	switch {
	case errors.Is(err, ErrNoState):
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("ramp: load state: %w", err)
	}
	same := saved.Stable == cfg.Stable && saved.Canary == cfg.Canary
	switch {
	case same:
		r.st = saved
		r.restored = !saved.Phase.Done() && saved.Phase != Pending
	case saved.Phase.Done() || saved.Phase == Pending:
		r.st.History = saved.History // a new release: keep the history
	default:
		return nil, fmt.Errorf("ramp: store holds an unfinished rollout %s → %s (phase %s); finish or abort it before starting %s → %s",
			saved.Stable, saved.Canary, saved.Phase, cfg.Stable, cfg.Canary)
	}
	return r, nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	for _, v := range []struct{ field, val string }{{"stable", c.Stable}, {"canary", c.Canary}} {
		switch {
		case v.val == "":
			bad("%s: version label is empty", v.field)
		case strings.EqualFold(v.val, "latest"):
			bad("%s: %q is not an immutable release name", v.field, v.val)
		case strings.TrimSpace(v.val) != v.val || strings.ContainsAny(v.val, " \t\r\n"):
			bad("%s: %q contains white space", v.field, v.val)
		}
	}
	if c.Stable != "" && c.Stable == c.Canary {
		bad("canary: %q is the same as stable", c.Canary)
	}
	if c.Strategy == nil {
		bad("strategy: missing")
	} else if v, ok := c.Strategy.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			for _, e := range unjoin(err) {
				bad("strategy: %w", e)
			}
		}
	}
	if c.Router == nil {
		bad("router: missing")
	}
	if c.ProgressDeadline < 0 {
		bad("progress deadline: %v is negative", c.ProgressDeadline)
	}
	if c.RollbackStepHold < 0 {
		bad("rollback step hold: %v is negative", c.RollbackStepHold)
	}
	if c.RollbackWindow < 0 {
		bad("rollback window: %v is negative", c.RollbackWindow)
	}
	if c.HistoryLimit < 0 {
		bad("history limit: %d is below 1", c.HistoryLimit)
	}
	for i, p := range c.RollbackSteps {
		if math.IsNaN(p) || p < 0 || p > 100 {
			bad("rollback steps[%d]: %v is outside [0,100]", i, p)
		} else if i > 0 && p >= c.RollbackSteps[i-1] {
			bad("rollback steps[%d]: %v does not decrease from %v", i, p, c.RollbackSteps[i-1])
		}
	}
	return errors.Join(errs...)
}

// Status is a snapshot of a rollout.
type Status struct {
	Stable, Canary string
	Phase          Phase
	// Step is the index of the step in force, -1 before the first.
	Step int
	// Percent is the canary's share of weighted traffic as last confirmed
	// by the router; Target is the share being applied (they differ while
	// a route change is in flight or the router keeps failing).
	Percent, Target float64
	LastResult      analysis.Result
	// Reason explains where the rollout stands: the rollback reasons
	// joined, or the reason of the pause in force.
	Reason        string
	Reasons       []string
	StartedAt     time.Time
	StepStartedAt time.Time
	UpdatedAt     time.Time
	FinishedAt    time.Time
	// Live is the version with all traffic once the rollout has ended.
	Live    string
	History []rollback.Revision
}

// Status returns a snapshot.
func (r *Rollout) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	reason := strings.Join(s.Reasons, "; ")
	if s.Phase == Paused && s.PauseReason != "" {
		reason = s.PauseReason
	}
	return Status{
		Stable: s.Stable, Canary: s.Canary, Phase: s.Phase, Step: s.Step, Percent: s.Percent, Target: s.Target,
		LastResult: s.LastResult, Reason: reason, Reasons: append([]string(nil), s.Reasons...),
		StartedAt: s.StartedAt, StepStartedAt: s.StepStartedAt, UpdatedAt: s.UpdatedAt, FinishedAt: s.FinishedAt,
		Live: s.Live, History: append([]rollback.Revision(nil), s.History...),
	}
}

// Changed returns a channel closed at the next change of state. Hosts that
// display progress wait on it instead of polling.
func (r *Rollout) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// --- operations ---

// Promote leaves the current hold or pause now: the step is done whatever
// its hold, analysis or approval gate still wanted. A paused rollout is
// resumed by it.
func (r *Rollout) Promote() error {
	return r.request("promote", func() { r.promote = true })
}

// PromoteFully skips every remaining step and analysis and gives the new
// version all traffic.
func (r *Rollout) PromoteFully() error {
	return r.request("promote fully", func() { r.promoteFull = true })
}

// Pause stops the rollout where it is: the step is not left, the progress
// deadline stops counting, triggers keep watching. Only a progressing
// rollout can be paused.
func (r *Rollout) Pause() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.Phase != Progressing || r.rollingBack || r.pause {
		return fmt.Errorf("%w: pause in phase %s", ErrPhase, r.st.Phase)
	}
	r.pause, r.resume = true, false
	r.poke()
	return nil
}

// Resume continues a paused rollout.
func (r *Rollout) Resume() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if (r.st.Phase != Paused && !r.pause) || r.rollingBack {
		return fmt.Errorf("%w: resume in phase %s", ErrPhase, r.st.Phase)
	}
	r.pause, r.resume = false, r.st.Phase == Paused
	r.poke()
	return nil
}

func (r *Rollout) request(op string, set func()) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if (r.st.Phase != Progressing && r.st.Phase != Paused) || r.rollingBack {
		return fmt.Errorf("%w: %s in phase %s", ErrPhase, op, r.st.Phase)
	}
	set()
	r.poke()
	return nil
}

// Abort rolls back with reason and returns once stable has all traffic. If
// ctx ends first Abort returns its error and the rollback goes on. It
// applies to a pending, progressing or paused rollout, to one already
// rolling back (the reason is added), and to a succeeded one within
// Config.RollbackWindow (then in one Apply, without RollbackSteps).
func (r *Rollout) Abort(ctx context.Context, reason string) error {
	if reason == "" {
		reason = "aborted"
	}
	r.mu.Lock()
	ph := r.st.Phase
	switch {
	case ph == Succeeded:
		if r.cfg.RollbackWindow == 0 || r.clk.Now().Sub(r.st.FinishedAt) > r.cfg.RollbackWindow {
			r.mu.Unlock()
			return fmt.Errorf("%w: abort in phase %s: outside the rollback window (%v)", ErrPhase, ph, r.cfg.RollbackWindow)
		}
	case ph == RolledBack:
		r.mu.Unlock()
		return fmt.Errorf("%w: abort in phase %s", ErrPhase, ph)
	}
	r.addReasonLocked(reason)
	r.mu.Unlock()
	return r.awaitRollback(ctx)
}

// awaitRollback waits until the rollout is rolled back. Whenever nobody is
// driving — none was, or Run has just returned — it takes the wheel: the
// rollback runs in a goroutine of its own, detached from ctx, so that it
// completes even when the caller stops waiting.
func (r *Rollout) awaitRollback(ctx context.Context) error {
	for {
		r.mu.Lock()
		ph, ch := r.st.Phase, r.changed
		switch {
		case ph == RolledBack:
			r.mu.Unlock()
			return nil
		case ph.Done() && len(r.rollbackReasons) == 0 && !r.rollingBack:
			r.mu.Unlock()
			return fmt.Errorf("%w: rollout ended %s", ErrPhase, ph)
		case !r.driving:
			r.driving = true
			go func() {
				defer r.release()
				_ = r.rollback(context.WithoutCancel(ctx))
			}()
		}
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Retry resets a rolled-back rollout so that the next Run starts it again
// from the first step.
func (r *Rollout) Retry(ctx context.Context) error {
	r.mu.Lock()
	// Once rolled back the driver changes nothing more, even if it has not
	// let go yet; the next Run waits for it (ErrBusy until then).
	if r.st.Phase != RolledBack {
		defer r.mu.Unlock()
		return fmt.Errorf("%w: retry in phase %s", ErrPhase, r.st.Phase)
	}
	r.st = State{Version: StateVersion, Stable: r.cfg.Stable, Canary: r.cfg.Canary, Phase: Pending, Step: -1, History: r.st.History}
	r.clearRequestsLocked()
	r.runID++ // the last Run's triggers no longer count
	err := r.saveLocked(ctx)
	r.emitLocked(EventRetried, "")
	r.mu.Unlock()
	return err
}

// fire is what the triggers of run id call.
func (r *Rollout) fire(id uint64, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case id != r.runID:
		// A trigger of an earlier run, still winding down.
	case r.st.Phase == RolledBack && r.watching:
		// Fired at once with the trigger that rolled back: keep the reason.
		if !slices.Contains(r.st.Reasons, reason) {
			r.st.Reasons = append(r.st.Reasons, reason)
			_ = r.saveLocked(context.Background())
		}
	case r.st.Phase.Done():
	default:
		r.addReasonLocked(reason)
	}
}

// addReasonLocked records a rollback demand. It is how every rollback
// starts, and it disarms any pending promotion: rollback wins.
func (r *Rollout) addReasonLocked(reason string) {
	for _, have := range append(r.st.Reasons, r.rollbackReasons...) {
		if have == reason {
			r.poke()
			return
		}
	}
	r.rollbackReasons = append(r.rollbackReasons, reason)
	r.promote, r.promoteFull = false, false
	if r.stepCancel != nil {
		r.stepCancel()
	}
	r.gen++
	r.poke()
}

func (r *Rollout) clearRequestsLocked() {
	r.promote, r.promoteFull, r.pause, r.resume = false, false, false, false
	r.rollbackReasons = nil
	r.rollingBack = false
}

func (r *Rollout) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// release gives up the right to drive and wakes whoever waits for it.
func (r *Rollout) release() {
	r.mu.Lock()
	r.driving = false
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// --- state changes ---

// setLocked applies change to the state, saves it, then announces it.
func (r *Rollout) setLocked(ctx context.Context, kind EventKind, reason string, change func(*State)) error {
	change(&r.st)
	r.st.UpdatedAt = r.clk.Now()
	err := r.saveLocked(ctx)
	if kind != 0 {
		r.emitLocked(kind, reason)
	}
	return err
}

func (r *Rollout) saveLocked(ctx context.Context) error {
	close(r.changed)
	r.changed = make(chan struct{})
	if r.cfg.Store == nil {
		return nil
	}
	if err := r.cfg.Store.Save(ctx, r.st); err != nil {
		return fmt.Errorf("ramp: save state: %w", err)
	}
	return nil
}

func (r *Rollout) emitLocked(kind EventKind, reason string) {
	r.emitEventLocked(Event{Kind: kind, Reason: reason})
}

// emitEventLocked stamps e with the state; e.Percent is the target share,
// the one the event is about (a step's share as it starts, 0 on a rollback).
func (r *Rollout) emitEventLocked(e Event) {
	e.Time = r.clk.Now()
	e.Phase, e.Step, e.Percent = r.st.Phase, r.st.Step, r.st.Target
	r.events.push(e)
}

// --- the driver ---

// Run drives the rollout until it succeeds or is rolled back, and returns
// nil then (Status says which). If ctx ends first Run returns ctx's error
// and the saved state lets a later Run (in this process or another) carry
// on. Run returns ErrBusy while another Run or an Abort is driving.
func (r *Rollout) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.driving {
		r.mu.Unlock()
		return ErrBusy
	}
	if r.st.Phase.Done() {
		r.mu.Unlock()
		return nil
	}
	r.driving, r.watching = true, true
	r.runID++
	id := r.runID
	r.mu.Unlock()
	fire := func(reason string) { r.fire(id, reason) }

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	target := rollback.Target{Stable: r.cfg.Stable, Canary: r.cfg.Canary}
	for i, t := range r.cfg.Triggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.Watch(ctx, target, fire); err != nil && ctx.Err() == nil {
				r.mu.Lock()
				r.emitLocked(EventTriggerError, fmt.Sprintf("trigger %d: %v", i, err))
				r.mu.Unlock()
			}
		}()
	}
	err := r.drive(ctx)
	// The rollout is over (or stopped): operations on it need not wait
	// for the triggers to wind down.
	r.release()
	cancel()
	wg.Wait()
	r.mu.Lock()
	if r.runID == id { // not already watching for a later Run
		r.watching = false
	}
	r.mu.Unlock()
	return err
}

func (r *Rollout) drive(ctx context.Context) error {
	r.mu.Lock()
	now := r.clk.Now()
	switch r.st.Phase {
	case Pending:
		err := r.setLocked(ctx, EventStarted, "", func(s *State) {
			s.Phase, s.Step, s.Completed, s.StartedAt = Progressing, -1, 0, now
			s.History = r.history(s, func(h *rollback.History) error {
				return h.Add(rollback.Revision{Version: r.cfg.Canary, Previous: r.cfg.Stable, Outcome: rollback.OutcomeLive, StartedAt: now})
			})
		})
		if err != nil {
			r.mu.Unlock()
			return err
		}
	case Progressing, Paused:
		if r.restored && r.cfg.OnRestart == RollBack {
			r.addReasonLocked(fmt.Sprintf("restarted at step %d (%.2f%%) with restart policy roll back", r.st.Step, r.st.Percent))
		}
	case RollingBack:
		r.rollingBack = true
	}
	r.restored = false
	idx, final := r.st.Completed, r.st.Final
	resumed := r.st.Step == idx // the step in force was not left yet
	last, lastPercent := r.st.PrevResult, r.st.PrevPercent
	r.mu.Unlock()

	if final {
		return r.succeed(ctx)
	}
	for {
		if r.rollbackPending() {
			return r.rollback(ctx)
		}
		step, done := r.cfg.Strategy.Next(strategy.Progress{
			Index: idx, Stable: r.cfg.Stable, Canary: r.cfg.Canary, Last: last, Percent: lastPercent,
			Elapsed: r.clk.Now().Sub(r.startedAt()),
		})
		if done {
			return r.succeed(ctx)
		}
		out, res, err := r.runStep(ctx, idx, step, resumed)
		if err != nil {
			return err
		}
		switch out {
		case stepRollback:
			return r.rollback(ctx)
		case stepFull:
			return r.succeed(ctx)
		}
		// Leaving the step is saved before anything else happens, so a
		// restart never holds it again and tells the strategy the same.
		last, lastPercent = res, step.Percent
		idx++
		resumed = false
		r.mu.Lock()
		err = r.setLocked(ctx, 0, "", func(s *State) { s.Completed, s.PrevResult, s.PrevPercent = idx, last, lastPercent })
		r.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

func (r *Rollout) rollbackPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.rollbackReasons) > 0 || r.rollingBack
}

func (r *Rollout) startedAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.StartedAt
}

type stepOutcome int

const (
	stepNext stepOutcome = iota
	stepFull
	stepRollback
)

type measured struct {
	gen uint64
	res analysis.Result
	err error
}

// runStep applies one step and holds it until it may be left.
func (r *Rollout) runStep(ctx context.Context, idx int, step strategy.Step, resumed bool) (stepOutcome, analysis.Result, error) {
	var last analysis.Result
	field := fmt.Sprintf("step %d", idx)
	if err := step.Validate(field); err != nil {
		r.requestRollback(fmt.Sprintf("invalid step from strategy: %v", err))
		return stepRollback, last, nil
	}
	analyzer := r.cfg.Analyzer
	if step.Analysis != nil && step.Analysis.Analyzer != nil {
		analyzer = step.Analysis.Analyzer
	}
	if step.Analysis != nil && analyzer == nil {
		r.requestRollback(fmt.Sprintf("%s has analysis but neither the step nor the rollout names an analyzer", field))
		return stepRollback, last, nil
	}

	stepCtx, stepCancel := context.WithCancel(ctx)
	defer stepCancel()

	// Readiness gate before the canary gets any traffic.
	if step.Percent > 0 || len(step.Rules) > 0 || step.MirrorPercent > 0 {
		if out, err := r.awaitGate(stepCtx); out != stepNext || err != nil {
			return out, last, err
		}
	}

	// Record the step before acting on it.
	r.mu.Lock()
	if len(r.rollbackReasons) > 0 {
		r.mu.Unlock()
		return stepRollback, last, nil
	}
	r.stepCancel = stepCancel
	r.gen++
	gen := r.gen
	now := r.clk.Now()
	phase := Progressing
	if resumed && r.st.Phase == Paused {
		phase = Paused
	}
	startedAt := now
	if resumed && !r.st.StepStartedAt.IsZero() {
		startedAt = r.st.StepStartedAt
	}
	err := r.setLocked(ctx, 0, "", func(s *State) {
		s.Phase, s.Step, s.Target, s.StepStartedAt = phase, idx, step.Percent, startedAt
	})
	if err != nil {
		r.mu.Unlock()
		return stepRollback, last, err
	}
	r.emitEventLocked(Event{Kind: EventStepStarted, Reason: step.Name})
	r.mu.Unlock()

	route := step.Route(r.cfg.Stable, r.cfg.Canary)
	deadline := r.clk.Now().Add(r.cfg.ProgressDeadline)
	if out, err := r.applyUntil(ctx, route, deadline, field); out != stepNext || err != nil {
		return out, last, err
	}
	if err := r.confirm(ctx, step.Percent); err != nil {
		return stepRollback, last, err
	}

	// Hold.
	appliedAt := r.clk.Now()
	holdEnd := startedAt.Add(step.Hold)
	var (
		tally       analysis.Tally
		policy      analysis.Policy
		results     = make(chan measured, 1)
		inFlight    bool
		nextMeasure time.Time
		dueAt       time.Time // when the step could first have been left; zero while not due
		pausedAt    time.Time
		approving   bool // the gate is being asked
		approvedOK  bool // the gate said yes
		approved    = make(chan error, 1)
	)
	if step.Analysis != nil {
		policy = step.Analysis.Policy
		nextMeasure = appliedAt.Add(policy.InitialDelay)
	}
	if phase == Paused {
		pausedAt = r.pausedAt(appliedAt)
	}
	for {
		now := r.clk.Now()
		r.mu.Lock()
		switch {
		case len(r.rollbackReasons) > 0:
			r.mu.Unlock()
			return stepRollback, last, nil
		case r.promoteFull:
			r.promoteFull = false
			r.emitLocked(EventPromoted, "promoted fully: remaining steps skipped")
			r.mu.Unlock()
			return stepFull, last, nil
		case r.promote:
			r.promote, r.pause = false, false
			r.emitLocked(EventPromoted, "promoted manually")
			r.mu.Unlock()
			return stepNext, last, nil
		case r.pause && r.st.Phase == Progressing:
			r.pause = false
			pausedAt = now
			err := r.setLocked(ctx, EventPaused, "paused manually", func(s *State) {
				s.Phase, s.PausedAt, s.PauseReason = Paused, now, "paused manually"
			})
			r.mu.Unlock()
			if err != nil {
				return stepRollback, last, err
			}
			continue
		case r.resume && r.st.Phase == Paused:
			r.resume = false
			pausedFor := now.Sub(pausedAt)
			holdEnd = holdEnd.Add(pausedFor)
			if !dueAt.IsZero() {
				dueAt = now
			}
			pausedAt = time.Time{}
			err := r.setLocked(ctx, EventResumed, "", func(s *State) {
				s.Phase, s.PausedAt, s.PauseReason = Progressing, time.Time{}, ""
				s.StepStartedAt = s.StepStartedAt.Add(pausedFor)
			})
			r.mu.Unlock()
			if err != nil {
				return stepRollback, last, err
			}
			continue
		}
		paused := r.st.Phase == Paused
		r.mu.Unlock()

		outcome := analysis.Passed
		if step.Analysis != nil {
			outcome = tally.Outcome(policy)
		}
		holdDone := step.Hold > 0 && !now.Before(holdEnd)
		if !paused && holdDone {
			if dueAt.IsZero() {
				dueAt = now
			}
			if outcome == analysis.Passed && (step.Approve == nil || approvedOK) {
				return stepNext, last, nil
			}
			if outcome == analysis.Passed && !approving {
				approving = true
				go func() { approved <- step.Approve(stepCtx, idx, step) }()
			}
			// A person deciding on an approval is not lack of progress.
			if !approving && !approvedOK && now.Sub(dueAt) >= r.cfg.ProgressDeadline {
				why := fmt.Sprintf("analysis verdict still %s (last: %s)", last.Verdict, reasonOr(last.Reason, "none"))
				r.requestRollback(fmt.Sprintf("progress deadline %v exceeded at %s (%.2f%%): %s", r.cfg.ProgressDeadline, field, step.Percent, why))
				continue
			}
		}
		// Measure when due.
		if step.Analysis != nil && !inFlight && !now.Before(nextMeasure) {
			inFlight = true
			nextMeasure = nextMeasure.Add(policy.Interval)
			if nextMeasure.Before(now) {
				nextMeasure = now.Add(policy.Interval)
			}
			q := analysis.Query{Baseline: r.cfg.Stable, Canary: r.cfg.Canary, Since: appliedAt, Until: now, Step: idx}
			go func() {
				res, err := analyzer.Analyze(stepCtx, q)
				results <- measured{gen: gen, res: res, err: err}
			}()
		}

		// Sleep until something is due.
		wakeAt := time.Time{}
		consider := func(t time.Time) {
			if !t.IsZero() && (wakeAt.IsZero() || t.Before(wakeAt)) {
				wakeAt = t
			}
		}
		if !paused {
			if step.Hold > 0 && !holdDone {
				consider(holdEnd)
			}
			if !dueAt.IsZero() && !approving && !approvedOK {
				consider(dueAt.Add(r.cfg.ProgressDeadline))
			}
		}
		if step.Analysis != nil && !inFlight {
			consider(nextMeasure)
		}
		var timerC <-chan time.Time
		var timer clock.Timer
		if !wakeAt.IsZero() {
			timer = r.clk.NewTimer(wakeAt.Sub(now))
			timerC = timer.C()
		}
		var m measured
		got := false
		select {
		case <-ctx.Done():
			return stepRollback, last, ctx.Err()
		case <-r.wake:
		case <-timerC:
		case err := <-approved:
			if err != nil {
				// An approval cut short by a rollback is not a denial.
				if stepCtx.Err() == nil && !r.rollbackPending() {
					r.requestRollback(fmt.Sprintf("approval of %s denied: %v", field, err))
				}
				continue
			}
			approving, approvedOK = false, true // leaves at the top of the loop unless paused
		case m = <-results:
			got = true
		}
		if timer != nil {
			timer.Stop()
		}
		if got {
			inFlight = false
			r.mu.Lock()
			if m.gen != r.gen { // a late result after a rollback or the step's end
				r.mu.Unlock()
				continue
			}
			res := m.res
			if m.err != nil {
				res = analysis.Result{Verdict: analysis.Error, Reason: m.err.Error()}
			}
			if res.At.IsZero() {
				res.At = r.clk.Now()
			}
			last = res
			tally.Add(res.Verdict)
			if res.Verdict == analysis.Pass && !dueAt.IsZero() {
				dueAt = r.clk.Now() // passes still coming in are progress
			}
			rc := res
			err := r.setLocked(ctx, 0, "", func(s *State) { s.LastResult = res })
			r.emitEventLocked(Event{Kind: EventAnalysis, Result: &rc, Reason: res.Reason})
			r.mu.Unlock()
			if err != nil {
				return stepRollback, last, err
			}
			switch tally.Outcome(policy) {
			case analysis.Failed:
				r.requestRollback(fmt.Sprintf("analysis failed at %s (%.2f%%): %s", field, step.Percent, res.Reason))
			case analysis.Errored:
				r.requestRollback(fmt.Sprintf("analysis errored %d times in a row at %s: %s", tally.ConsecutiveErrors, field, res.Reason))
			case analysis.Inconclusive:
				r.mu.Lock()
				if r.st.Phase == Progressing {
					pausedAt = r.clk.Now()
					reason := fmt.Sprintf("analysis inconclusive %d times at %s: %s", tally.Inconclusive, field, res.Reason)
					err := r.setLocked(ctx, EventPaused, reason, func(s *State) {
						s.Phase, s.PausedAt, s.PauseReason = Paused, pausedAt, reason
					})
					tally.Inconclusive = 0 // a person decides; on resume the count starts over
					if err != nil {
						r.mu.Unlock()
						return stepRollback, last, err
					}
				}
				r.mu.Unlock()
			}
		}
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func reasonOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (r *Rollout) requestRollback(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addReasonLocked(reason)
}

// pausedAt is when the pause in force began, as saved (or def).
func (r *Rollout) pausedAt(def time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.PausedAt.IsZero() {
		return def
	}
	return r.st.PausedAt
}

// confirm records that the router now applies percent.
func (r *Rollout) confirm(ctx context.Context, percent float64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.setLocked(ctx, 0, "", func(s *State) { s.Percent = percent })
}

// awaitGate asks the readiness gate, once per rollout, before the canary
// first gets traffic. A gate that does not answer within the progress
// deadline rolls back.
func (r *Rollout) awaitGate(ctx context.Context) (stepOutcome, error) {
	r.mu.Lock()
	passed := r.cfg.Gate == nil || r.st.GatePassed
	r.mu.Unlock()
	if passed {
		return stepNext, nil
	}
	done := make(chan error, 1)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		done <- r.cfg.Gate.Ready(gctx, rollback.Target{Stable: r.cfg.Stable, Canary: r.cfg.Canary})
	}()
	deadline := r.clk.NewTimer(r.cfg.ProgressDeadline)
	defer deadline.Stop()
	for {
		select {
		case err := <-done:
			if r.rollbackPending() {
				return stepRollback, nil
			}
			if err != nil {
				r.requestRollback(fmt.Sprintf("canary not ready: %v", err))
				return stepRollback, nil
			}
			r.mu.Lock()
			err = r.setLocked(ctx, 0, "", func(s *State) { s.GatePassed = true })
			r.mu.Unlock()
			return stepNext, err
		case <-deadline.C():
			r.requestRollback(fmt.Sprintf("canary not ready: readiness gate gave no answer within the progress deadline %v", r.cfg.ProgressDeadline))
			return stepRollback, nil
		case <-r.wake:
			if r.rollbackPending() {
				return stepRollback, nil
			}
		case <-ctx.Done():
			if r.rollbackPending() {
				return stepRollback, nil
			}
			return stepRollback, ctx.Err()
		}
	}
}

// applyUntil applies route, retrying with backoff until it works, a
// rollback is demanded, or the deadline passes (then it demands one).
func (r *Rollout) applyUntil(ctx context.Context, route traffic.Route, deadline time.Time, field string) (stepOutcome, error) {
	backoff := minBackoff
	for {
		if r.rollbackPending() {
			return stepRollback, nil
		}
		err := r.cfg.Router.Apply(ctx, route)
		if err == nil {
			// A rollback demanded while Apply ran wins: the driver applies
			// the stable route next.
			if r.rollbackPending() {
				return stepRollback, nil
			}
			return stepNext, nil
		}
		if ctx.Err() != nil {
			return stepRollback, ctx.Err()
		}
		r.mu.Lock()
		r.emitLocked(EventRouterError, fmt.Sprintf("%s: apply route: %v (retrying in %v)", field, err, backoff))
		r.mu.Unlock()
		if !r.clk.Now().Before(deadline) {
			r.requestRollback(fmt.Sprintf("progress deadline %v exceeded at %s: router keeps failing: %v", r.cfg.ProgressDeadline, field, err))
			return stepRollback, nil
		}
		if err := r.sleep(ctx, backoff, true); err != nil {
			return stepRollback, err
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// sleep waits d on the clock; woken by a poke when wakeable.
func (r *Rollout) sleep(ctx context.Context, d time.Duration, wakeable bool) error {
	t := r.clk.NewTimer(d)
	defer t.Stop()
	var wake chan struct{}
	if wakeable {
		wake = r.wake
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
	case <-wake:
	}
	return nil
}

// succeed gives the new version all traffic, after the readiness gate if
// the canary never had traffic yet. The intent is saved first (Final), so
// a restart lands back here.
func (r *Rollout) succeed(ctx context.Context) error {
	if r.rollbackPending() {
		return r.rollback(ctx)
	}
	if out, err := r.awaitGate(ctx); err != nil || out != stepNext {
		if err != nil {
			return err
		}
		return r.rollback(ctx)
	}
	r.mu.Lock()
	err := r.setLocked(ctx, 0, "", func(s *State) { s.Final, s.Target = true, 100 })
	r.mu.Unlock()
	if err != nil {
		return err
	}
	out, err := r.applyUntil(ctx, traffic.Split(r.cfg.Stable, r.cfg.Canary, 100), r.clk.Now().Add(r.cfg.ProgressDeadline), "promotion")
	if err != nil {
		return err
	}
	r.mu.Lock()
	if out == stepRollback || len(r.rollbackReasons) > 0 {
		// Demanded while the last Apply ran: rollback wins.
		r.mu.Unlock()
		return r.rollback(ctx)
	}
	defer r.mu.Unlock()
	now := r.clk.Now()
	return r.setLocked(ctx, EventSucceeded, "", func(s *State) {
		s.Phase, s.FinishedAt, s.Percent, s.Live = Succeeded, now, 100, r.cfg.Canary
		// Ending it as succeeded marks the release it replaced as replaced.
		s.History = r.history(s, func(h *rollback.History) error {
			return h.End(r.cfg.Canary, rollback.OutcomeSucceeded, "", now)
		})
	})
}

// rollback returns all traffic to stable (or to the version a RollbackTo
// names). It never raises the canary's share: a ramp (RollbackSteps) starts
// below the share the router really applies, and a rollback within the
// window after success is one Apply. It retries the router until it works
// or ctx ends; while it retries the phase says RollingBack.
func (r *Rollout) rollback(ctx context.Context) error {
	r.mu.Lock()
	fromSucceeded := r.st.Phase == Succeeded
	if !r.rollingBack || r.st.Phase != RollingBack {
		r.rollingBack = true
		now := r.clk.Now()
		reasons := r.rollbackReasons
		r.rollbackReasons = nil
		r.gen++
		if r.stepCancel != nil {
			r.stepCancel()
		}
		err := r.setLocked(ctx, EventRollingBack, strings.Join(reasons, "; "), func(s *State) {
			s.Phase, s.PausedAt, s.PauseReason = RollingBack, time.Time{}, ""
			s.Reasons = append(s.Reasons, reasons...)
			if s.StartedAt.IsZero() {
				s.StartedAt = now
			}
			if s.RollbackTarget == "" {
				s.History = r.history(s, func(h *rollback.History) error { return h.Fault(r.cfg.Canary, now) })
			}
		})
		if err != nil {
			// The rollback goes on even when the store fails: stable must
			// get its traffic back. The error is reported as an event.
			r.emitLocked(EventRouterError, err.Error())
		}
	}
	to := r.st.RollbackTarget
	confirmed := r.st.Percent
	r.mu.Unlock()

	apply := func(route traffic.Route, percent float64) error {
		r.mu.Lock()
		_ = r.setLocked(ctx, 0, "", func(s *State) { s.Target = percent })
		r.mu.Unlock()
		backoff := minBackoff
		for {
			err := r.cfg.Router.Apply(ctx, route)
			if err == nil {
				return r.confirm(ctx, percent)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.mu.Lock()
			r.emitLocked(EventRouterError, fmt.Sprintf("rollback incomplete: apply %.2f%% route: %v (retrying in %v)", percent, err, backoff))
			if r.cfg.Logger != nil {
				r.cfg.Logger.Error("ramp: rollback incomplete", "canary", r.cfg.Canary, "err", err)
			}
			r.mu.Unlock()
			if err := r.sleep(ctx, backoff, false); err != nil {
				return err
			}
			backoff = min(backoff*2, maxBackoff)
		}
	}
	final := 0.0 // the canary's share once done
	if to != "" {
		if to == r.cfg.Canary {
			final = 100
		}
		if err := apply(traffic.Route{Weights: []traffic.Weight{{Backend: to, Percent: 100}}}, final); err != nil {
			return err
		}
	} else {
		if !fromSucceeded && len(r.cfg.RollbackSteps) > 0 {
			// Ramp down from what the router really applies: the saved
			// share may be one it never confirmed.
			cur := confirmed
			if rt, err := r.cfg.Router.Current(ctx); err == nil {
				cur = rt.Percent(r.cfg.Canary)
			}
			for _, p := range r.cfg.RollbackSteps {
				if p >= cur || p == 0 {
					continue
				}
				if err := apply(traffic.Split(r.cfg.Stable, r.cfg.Canary, p), p); err != nil {
					return err
				}
				cur = p
				if err := r.sleep(ctx, r.cfg.RollbackStepHold, false); err != nil {
					return err
				}
			}
		}
		if err := apply(traffic.Split(r.cfg.Stable, r.cfg.Canary, 0), 0); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clk.Now()
	r.rollingBack = false
	// Reasons that arrived during the rollback are kept too.
	extra := r.rollbackReasons
	r.rollbackReasons = nil
	r.clearRequestsLocked()
	return r.setLocked(ctx, EventRolledBack, strings.Join(append(append([]string(nil), r.st.Reasons...), extra...), "; "), func(s *State) {
		s.Phase, s.Percent, s.Target, s.FinishedAt = RolledBack, final, final, now
		s.Reasons = append(s.Reasons, extra...)
		reason := strings.Join(s.Reasons, "; ")
		if to != "" {
			live := s.Live
			s.History = r.history(s, func(h *rollback.History) error {
				if live != "" {
					_ = h.End(live, rollback.OutcomeRolledBack, reason, now)
				}
				return h.Add(rollback.Revision{Version: to, Previous: live, Outcome: rollback.OutcomeSucceeded, Reason: reason, StartedAt: now, EndedAt: now})
			})
			s.Live, s.RollbackTarget = to, ""
			return
		}
		s.Live = r.cfg.Stable
		s.History = r.history(s, func(h *rollback.History) error {
			return h.End(r.cfg.Canary, rollback.OutcomeRolledBack, reason, now)
		})
	})
}

// history applies change to s.History through rollback.History, which
// keeps the limit and the rules of how revisions end. A change that does
// not apply (no revision of that version: a rollout aborted before it
// started) leaves the history as it was.
func (r *Rollout) history(s *State, change func(h *rollback.History) error) []rollback.Revision {
	h, err := rollback.NewHistory(r.cfg.HistoryLimit, s.History...)
	if err != nil {
		return s.History
	}
	if err := change(h); err != nil {
		return s.History
	}
	return h.Revisions()
}

// --- events ---

// eventQueue delivers events in order from one goroutine at a time, so a
// slow callback never blocks the driver.
type eventQueue struct {
	deliver  func(Event)
	logger   *slog.Logger
	mu       sync.Mutex
	q        []Event
	draining bool
}

func (e *eventQueue) push(ev Event) {
	if e.logger != nil {
		e.logger.Info("ramp: "+ev.Kind.String(), "step", ev.Step, "percent", ev.Percent, "phase", ev.Phase.String(), "reason", ev.Reason)
	}
	if e.deliver == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.q = append(e.q, ev)
	if !e.draining {
		e.draining = true
		go e.drain()
	}
}

func (e *eventQueue) drain() {
	for {
		e.mu.Lock()
		if len(e.q) == 0 {
			e.draining = false
			e.mu.Unlock()
			return
		}
		ev := e.q[0]
		e.q = e.q[1:]
		e.mu.Unlock()
		e.deliver(ev)
	}
}

// RollbackTo sends all traffic to version, which must be the stable
// version or one kept in the history, in a single Apply. It applies to a
// rollout that has ended (abort a running one first); the router must
// still know the version's backend (keep it registered for as long as
// you may want to return to it). The move is saved before it is made,
// recorded in the history, and the rollout ends rolled back with the
// reason saying where it went; Status().Live names the version.
func (r *Rollout) RollbackTo(ctx context.Context, version string) error {
	r.mu.Lock()
	if !r.st.Phase.Done() || r.driving {
		defer r.mu.Unlock()
		return fmt.Errorf("%w: rollback to %q in phase %s: abort the rollout first", ErrPhase, version, r.st.Phase)
	}
	known := version == r.cfg.Stable
	for _, rev := range r.st.History {
		known = known || rev.Version == version || rev.Previous == version
	}
	if !known {
		r.mu.Unlock()
		return fmt.Errorf("ramp: rollback to %q: version is not in the kept history", version)
	}
	live := r.st.Live
	if live == "" {
		live = map[Phase]string{Succeeded: r.cfg.Canary, RolledBack: r.cfg.Stable}[r.st.Phase]
	}
	if version == live {
		r.mu.Unlock()
		return fmt.Errorf("ramp: rollback to %q: it is already live", version)
	}
	r.driving = true
	reason := fmt.Sprintf("rolled back from %s to %s", live, version)
	err := r.setLocked(ctx, EventRollingBack, reason, func(s *State) {
		s.Phase, s.Live, s.RollbackTarget = RollingBack, live, version
		s.Reasons = append(s.Reasons, reason)
	})
	r.rollingBack = true
	r.mu.Unlock()
	defer r.release()
	if err != nil {
		return err
	}
	if err := r.rollback(ctx); err != nil {
		return fmt.Errorf("ramp: rollback to %q: %w", version, err)
	}
	return nil
}
