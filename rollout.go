package ramp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/lock"
	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
)

// Errors returned by operations.
var (
	// ErrPhase: the operation does not apply to the rollout's phase.
	ErrPhase = errors.New("ramp: operation not allowed in this phase")
	// ErrBusy: Run was called while the rollout is already being driven.
	ErrBusy = errors.New("ramp: rollout is already running")
	// ErrInvalidConfig wraps every configuration problem New reports.
	ErrInvalidConfig = errors.New("ramp: invalid config")
	// ErrStore wraps a Store.Save error: the rollout stopped driving at
	// once (see Config.Store).
	ErrStore = errors.New("ramp: save state")
	// ErrWindowClosed: Run refused to start a rollout outside its
	// deployment window (Config.WindowClosed).
	ErrWindowClosed = errors.New("ramp: deployment window closed")
)

const (
	defaultProgressDeadline = 10 * time.Minute
	defaultHistoryLimit     = 10
	defaultWindowRecheck    = time.Minute
	minBackoff              = 100 * time.Millisecond
	maxBackoff              = 5 * time.Second
)

// Rollout drives one release from a stable version to a new one.
// All methods are safe for concurrent use.
type Rollout struct {
	cfg    Config
	clk    clock.Clock
	plan   Plan
	events eventQueue

	mu        sync.Mutex // guards the fields below; never held for I/O
	m         *machine
	outbox    []effect
	driving   bool          // a driver goroutine carries out effects
	driverEnd chan struct{} // closed when that driver lets go
	running   bool          // a Run is in progress
	broken    error         // a save failed: nothing more happens

	kick    chan struct{} // cap 1: wakes the driver
	saved   atomic.Pointer[State]
	snap    atomic.Pointer[Status]
	chMu    sync.Mutex
	changed chan struct{} // closed and replaced on every published state
}

// New checks cfg and returns a rollout. When cfg.Store holds state of the
// same versions, the rollout continues from it (see Config.OnRestart and
// Config.OnPlanChange); a store that cannot be read, or whose state is
// invalid, is an error naming the store and the field: state is never
// silently reset.
func New(ctx context.Context, cfg Config) (*Rollout, error) {
	err := cfg.validate()
	var plan Plan
	if cfg.Strategy != nil && validateAny(cfg.Strategy) == nil {
		var planSteps []strategy.Step
		plan, planSteps = planOf(&cfg)
		err = errors.Join(err, cfg.validateComponents(plan, planSteps))
	}
	if err != nil {
		return nil, err
	}
	cfg.defaults()
	st := State{Version: StateVersion, Stable: cfg.Stable, Canary: cfg.Canary, Phase: Pending, Step: -1}
	m := newMachine(&cfg, plan, st)
	if cfg.Store != nil {
		if err := restore(ctx, &cfg, plan, m); err != nil {
			return nil, err
		}
	}
	r := &Rollout{
		cfg: cfg, clk: clock.Or(cfg.Clock), plan: plan, m: m,
		kick: make(chan struct{}, 1), changed: make(chan struct{}),
	}
	m.cfg = &r.cfg
	r.events.deliver, r.events.logger = cfg.OnEvent, cfg.Logger
	r.publish(m.st, nil)
	return r, nil
}

func (c *Config) defaults() {
	if c.ProgressDeadline == 0 {
		c.ProgressDeadline = defaultProgressDeadline
	}
	if c.HistoryLimit == 0 {
		c.HistoryLimit = defaultHistoryLimit
	}
	if c.WindowRecheck == 0 {
		c.WindowRecheck = defaultWindowRecheck
	}
}

// restore loads the saved state into m, checking it against the plan.
func restore(ctx context.Context, cfg *Config, plan Plan, m *machine) error {
	saved, err := cfg.Store.Load(ctx)
	switch {
	case errors.Is(err, ErrNoState):
		return nil
	case err != nil:
		return fmt.Errorf("ramp: load state: %w", err)
	}
	where := storeName(cfg.Store)
	if err := checkState(saved, nil); err != nil {
		return fmt.Errorf("ramp: %s is invalid: %w", where, err)
	}
	same := saved.Stable == cfg.Stable && saved.Canary == cfg.Canary
	unfinished := !saved.Phase.Done() && saved.Phase != Pending
	switch {
	case same && unfinished:
		return restoreUnfinished(cfg, plan, m, saved, where)
	case same:
		saved.Version = StateVersion
		m.st = saved
	case !unfinished:
		m.st.History = saved.History // a new release: keep the history
	default:
		return fmt.Errorf("ramp: %s holds an unfinished rollout %s → %s (phase %s); finish or abort it before starting %s → %s",
			where, saved.Stable, saved.Canary, saved.Phase, cfg.Stable, cfg.Canary)
	}
	return nil
}

func restoreUnfinished(cfg *Config, plan Plan, m *machine, saved State, where string) error {
	diff := ""
	if saved.Phase != RollingBack {
		diff = plan.diff(saved.Plan)
	}
	if diff == "" {
		if err := checkState(saved, saved.Plan); err != nil {
			return fmt.Errorf("ramp: %s is invalid: %w", where, err)
		}
		saved.Version = StateVersion
		m.st, m.restored = saved, true
		return nil
	}
	switch cfg.OnPlanChange {
	case RestartPlan:
		m.st = State{Version: StateVersion, Stable: cfg.Stable, Canary: cfg.Canary, Phase: Progressing, Plan: &plan,
			Step: -1, Percent: saved.Percent, Target: saved.Percent, StartedAt: saved.StartedAt,
			History: saved.History, Overrides: saved.Overrides}
		m.restored = true
		m.restartWhy = fmt.Sprintf("%s: %s; restarting from the first step", ErrPlanChanged.Error(), diff)
		return nil
	case RollBackPlanChange:
		saved.Version = StateVersion
		m.st, m.restored = saved, true
		m.startWhy = fmt.Sprintf("%s: %s", ErrPlanChanged.Error(), diff)
		return nil
	}
	return fmt.Errorf("%w: %s was saved at %s for another plan: %s (set Config.OnPlanChange to restart or roll back)",
		ErrPlanChanged, where, strategy.StepText(saved.Step, saved.Plan.total()), diff)
}

// storeName names a store in errors: its String method, or its type.
func storeName(s Store) string {
	if n, ok := s.(fmt.Stringer); ok {
		return n.String()
	}
	return fmt.Sprintf("store %T", s)
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	c.validateVersions(bad)
	c.validateParts(bad)
	c.validateLimits(bad)
	return errors.Join(errs...)
}

func (c *Config) validateVersions(bad func(string, ...any)) {
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
	c.validateRelease(bad)
}

// validateRelease checks Config.Release: its label only when given.
func (c *Config) validateRelease(bad func(string, ...any)) {
	id := c.Release
	if id == (release.Identity{}) {
		return
	}
	if id.Label != "" && id.Label != c.Canary {
		bad("release: label: %q is not the canary %q", id.Label, c.Canary)
	}
	for _, e := range unjoin(id.Validate(nil)) {
		if e != nil && (id.Label != "" || !errors.Is(e, release.ErrLabel)) {
			bad("release: %w", e)
		}
	}
}

func (c *Config) validateParts(bad func(string, ...any)) {
	if c.Strategy == nil {
		bad("strategy: missing")
	} else if err := validateAny(c.Strategy); err != nil {
		for _, e := range unjoin(err) {
			bad("strategy: %w", e)
		}
	}
	if c.Router == nil {
		bad("router: missing")
	}
	if c.OnRestart != Resume && c.OnRestart != RollBack {
		bad("on restart: %d is not a restart policy", int(c.OnRestart))
	}
	if c.OnPlanChange < RefusePlanChange || c.OnPlanChange > RollBackPlanChange {
		bad("on plan change: %d is not a plan change policy", int(c.OnPlanChange))
	}
	if c.WindowClosed != RefuseClosedWindow && c.WindowClosed != WaitForWindow {
		bad("window closed: %d is not a window policy", int(c.WindowClosed))
	}
}

func (c *Config) validateLimits(bad func(string, ...any)) {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"progress deadline", c.ProgressDeadline}, {"rollback step hold", c.RollbackStepHold}, {"rollback window", c.RollbackWindow}, {"window recheck", c.WindowRecheck}} {
		if d.v < 0 {
			bad("%s: %v is negative", d.name, d.v)
		}
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
}

// validateComponents checks every trigger, the gate and every analyzer
// that can say whether it is valid, and that each analysed step of the
// plan has an analyzer.
func (c *Config) validateComponents(plan Plan, steps []strategy.Step) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	for i, t := range c.Triggers {
		if t == nil {
			bad("triggers[%d]: nil", i)
		} else if err := validateAny(t); err != nil {
			bad("triggers[%d] (%T): %w", i, t, err)
		}
	}
	if err := validateAny(c.Gate); err != nil {
		bad("gate (%T): %w", c.Gate, err)
	}
	if err := validateAny(c.Analyzer); err != nil {
		bad("analyzer (%T): %w", c.Analyzer, err)
	}
	c.checkSpans(plan, steps, bad)
	for i, s := range steps {
		name := fmt.Sprintf("strategy: %s (steps[%d])", strategy.StepText(i, plan.total()), i)
		if err := s.Validate(fmt.Sprintf("steps[%d]", i)); err != nil {
			bad("%s: %w", name, err)
		}
		if s.Analysis == nil {
			continue
		}
		switch an := s.Analysis.Analyzer; {
		case an == nil && c.Analyzer == nil:
			bad("%s has analysis but no analyzer: set Config.Analyzer or the step's Analysis.Analyzer", name)
		case an != nil:
			if err := validateAny(an); err != nil {
				bad("%s: analyzer (%T): %w", name, an, err)
			}
		}
	}
	return errors.Join(errs...)
}

// validateAny calls v's Validate() error method, if it has one.
func validateAny(v any) error {
	if x, ok := v.(interface{ Validate() error }); ok && v != nil {
		return x.Validate()
	}
	return nil
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

// Status is a snapshot of a rollout: the state last saved.
type Status struct {
	Stable, Canary string
	Phase          Phase
	// Step is the 0-based index of the step in force, -1 before the
	// first; Steps is the plan's number of steps (0 when the strategy's
	// length is not known ahead). strategy.StepText(Step, Steps) names it
	// for a person: "step 2 of 3".
	Step, Steps int
	// Percent is the canary's share of weighted traffic as last confirmed
	// by the router; Target is the share being applied (they differ while
	// a route change is in flight or the router keeps failing).
	Percent, Target float64
	LastResult      analysis.Result
	// Reason explains where the rollout stands: the rollback reasons
	// joined, the reason of the pause in force, or why it waits.
	Reason  string
	Reasons []string
	// Waiting says why the rollout does not move on (a closed deployment
	// window); empty when it does.
	Waiting       string
	StartedAt     time.Time
	StepStartedAt time.Time
	UpdatedAt     time.Time
	FinishedAt    time.Time
	// Live is the version with all traffic once the rollout has ended.
	Live    string
	History []rollback.Revision
	// Overrides lists the closed deployment windows a person overrode.
	Overrides []Override
	// Err is why the rollout stopped driving (a failed save), nil while it
	// can go on.
	Err error
}

// Status returns a snapshot. It never waits for the store or the router:
// it reads what was last published, atomically.
func (r *Rollout) Status() Status {
	s := *r.snap.Load()
	s.Reasons = append([]string(nil), s.Reasons...)
	s.History = append([]rollback.Revision(nil), s.History...)
	s.Overrides = append([]Override(nil), s.Overrides...)
	return s
}

// Changed returns a channel closed at the next change of Status. Hosts that
// display progress wait on it instead of polling.
func (r *Rollout) Changed() <-chan struct{} {
	r.chMu.Lock()
	defer r.chMu.Unlock()
	return r.changed
}

// --- operations ---

// Promote leaves the current hold or pause now: the step is done whatever
// its hold, analysis or approval gate still wanted. A paused rollout is
// resumed by it.
func (r *Rollout) Promote() error { return r.op(inPromote{}) }

// PromoteFully skips every remaining step and analysis and gives the new
// version all traffic.
func (r *Rollout) PromoteFully() error { return r.op(inPromote{fully: true}) }

// Pause stops the rollout where it is: the step is not left, the progress
// deadline stops counting, triggers keep watching. Only a progressing
// rollout can be paused.
func (r *Rollout) Pause() error { return r.op(inPause{}) }

// Resume continues a paused rollout.
func (r *Rollout) Resume() error { return r.op(inResume{}) }

// op feeds an operation to the machine and makes sure its effects are
// carried out, by the Run in progress or by a driver of their own.
func (r *Rollout) op(in input) error {
	if err := r.input(in); err != nil {
		return err
	}
	r.ensureDriver(context.Background())
	return nil
}

// ensureDriver starts a driver when none runs and there is work: the
// effects of an operation with no Run, or a rollback to finish. It is
// detached from ctx so that a rollback completes even when the caller
// stops waiting.
func (r *Rollout) ensureDriver(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.driving || r.broken != nil || (len(r.outbox) == 0 && !r.m.busy()) {
		return
	}
	end := r.takeWheel()
	go func() {
		defer r.letGo(end)
		_ = r.drive(context.WithoutCancel(ctx), untilIdle)
	}()
}

// drainOutbox carries out what is queued, on this goroutine, after any
// driver that runs has let go (it may be an operation's, started while the
// triggers wound down).
func (r *Rollout) drainOutbox(ctx context.Context) {
	for {
		r.mu.Lock()
		if r.driving {
			end := r.driverEnd
			r.mu.Unlock()
			select {
			case <-end:
				continue
			case <-ctx.Done():
				return
			}
		}
		if r.broken != nil || len(r.outbox) == 0 {
			r.mu.Unlock()
			return
		}
		end := r.takeWheel()
		r.mu.Unlock()
		_ = r.drive(context.WithoutCancel(ctx), untilEmpty)
		r.letGo(end)
		return
	}
}

// takeWheel marks a driver as running (r.mu held).
func (r *Rollout) takeWheel() chan struct{} {
	r.driving = true
	r.driverEnd = make(chan struct{})
	return r.driverEnd
}

// letGo ends a driver and wakes whoever waits for the wheel.
func (r *Rollout) letGo(end chan struct{}) {
	r.mu.Lock()
	r.driving = false
	close(end)
	r.mu.Unlock()
	r.chMu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.chMu.Unlock()
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
	if err := r.input(inAbort{reason: reason}); err != nil {
		return err
	}
	return r.await(ctx, func(s Status) bool { return s.Phase == RolledBack })
}

// await waits until cond holds of the published status, taking the wheel
// whenever nobody drives (none was, or Run has just returned).
func (r *Rollout) await(ctx context.Context, cond func(Status) bool) error {
	for {
		ch := r.Changed()
		s := r.Status()
		if s.Err != nil {
			return s.Err
		}
		if cond(s) {
			return nil
		}
		r.ensureDriver(ctx)
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Retry resets a rolled-back rollout so that the next Run starts it again
// from the first step. It returns once the reset is saved.
func (r *Rollout) Retry(ctx context.Context) error {
	if err := r.input(inRetry{}); err != nil {
		return err
	}
	return r.await(ctx, func(s Status) bool { return s.Phase == Pending })
}

// RollbackTo sends all traffic to version, which must be the stable
// version or one kept in the history, in a single Apply. It applies to a
// rollout that has ended (abort a running one first); the router must
// still know the version's backend (keep it registered for as long as
// you may want to return to it). The move is saved before it is made,
// recorded in the history, and the rollout ends rolled back with the
// reason saying where it went; Status().Live names the version.
func (r *Rollout) RollbackTo(ctx context.Context, version string) error {
	if err := r.input(inRollbackTo{version: version}); err != nil {
		return err
	}
	err := r.await(ctx, func(s Status) bool { return s.Phase == RolledBack && s.Live == version })
	if err != nil {
		return fmt.Errorf("ramp: rollback to %q: %w", version, err)
	}
	return nil
}

// fire is what the triggers of run id call.
func (r *Rollout) fire(id uint64, reason string) {
	if r.input(inFire{runID: id, reason: reason}) == nil {
		r.ensureDriver(context.Background())
	}
}

// --- Run ---

// Run drives the rollout until it succeeds or is rolled back, and returns
// nil then (Status says which), after every event has reached OnEvent. If
// ctx ends first Run returns ctx's error and the saved state lets a later
// Run (in this process or another) carry on. Run returns ErrBusy while
// another Run is in progress, an error wrapping lock.ErrHeld when
// Config.Lock is held by another, an error wrapping ErrWindowClosed for a
// new rollout outside its window (Config.WindowClosed), and an error
// wrapping ErrStore when a save failed.
func (r *Rollout) Run(ctx context.Context) (err error) {
	r.mu.Lock()
	if r.broken != nil || r.running {
		defer r.mu.Unlock()
		return cmpErr(r.broken, ErrBusy)
	}
	r.running = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	if r.cfg.Lock != nil {
		if err := r.cfg.Lock.TryAcquire(ctx, r.holder()); err != nil {
			return fmt.Errorf("ramp: deploy lock: %w", err)
		}
		defer func() {
			if rerr := r.cfg.Lock.Release(context.WithoutCancel(ctx)); rerr != nil {
				err = errors.Join(err, fmt.Errorf("ramp: release deploy lock: %w", rerr))
			}
		}()
	}
	if err := r.checkWindow(); err != nil {
		return err
	}
	if r.Status().Phase.Done() {
		return nil
	}
	return r.runDriving(ctx)
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (r *Rollout) holder() lock.Holder {
	host, _ := os.Hostname()
	return lock.Holder{Host: host, PID: os.Getpid(), Version: r.cfg.Canary,
		Purpose: fmt.Sprintf("rollout of %s → %s", r.cfg.Stable, r.cfg.Canary), Since: r.clk.Now()}
}

// checkWindow refuses a new rollout outside its window, unless the host
// chose to wait for it.
func (r *Rollout) checkWindow() error {
	if r.cfg.Window == nil || r.cfg.WindowClosed != RefuseClosedWindow || r.Status().Phase != Pending {
		return nil
	}
	if d := r.cfg.Window.Check(r.clk.Now()); !d.Open {
		return fmt.Errorf("%w: %s", ErrWindowClosed, reasonOr(d.Reason, "no reason given"))
	}
	return nil
}

// runDriving takes the wheel (after a driver of an operation lets go),
// starts the triggers and drives until the rollout ends or ctx does.
func (r *Rollout) runDriving(ctx context.Context) error {
	var end chan struct{}
	for end == nil {
		r.mu.Lock()
		if !r.driving {
			end = r.takeWheel()
		}
		wait := r.driverEnd
		r.mu.Unlock()
		if end == nil {
			select {
			case <-wait:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	r.mu.Lock()
	id := r.m.runID + 1
	r.mu.Unlock()
	if err := r.input(inStart{runID: id}); err != nil {
		r.letGo(end)
		return err
	}
	tctx, stopTriggers := context.WithCancel(ctx)
	wg := r.startTriggers(tctx, id)
	err := r.drive(ctx, untilEnded)
	_ = r.input(inStop{})
	r.letGo(end)
	// The rollout is over (or stopped): operations on it need not wait
	// for the triggers to wind down.
	stopTriggers()
	wg.Wait()
	r.mu.Lock()
	if r.m.runID == id {
		r.m.watching = false
	}
	r.mu.Unlock()
	r.drainOutbox(ctx) // reasons that came in while the triggers wound down get saved
	if err == nil {
		r.events.flush(ctx)
	}
	return err
}

func (r *Rollout) startTriggers(ctx context.Context, id uint64) *sync.WaitGroup {
	var wg sync.WaitGroup
	target := rollback.Target{Stable: r.cfg.Stable, Canary: r.cfg.Canary}
	fire := func(reason string) { r.fire(id, reason) }
	for i, t := range r.cfg.Triggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A trigger that returns nil is done (it fired, or has nothing
			// more to watch); one that fails leaves the rollout unguarded.
			if err := t.Watch(ctx, target, fire); err != nil && ctx.Err() == nil {
				if r.input(inTriggerDied{runID: id, i: i, err: err}) == nil {
					r.ensureDriver(context.Background())
				}
			}
		}()
	}
	return &wg
}
