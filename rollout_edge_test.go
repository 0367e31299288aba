package ramp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// router that refuses routes giving v2 a given share.
type refuseRouter struct {
	*fakeRouter
	refuse float64
}

func (r *refuseRouter) Apply(ctx context.Context, rt traffic.Route) error {
	if rt.Percent("v2") == r.refuse {
		return errors.New("refused")
	}
	return r.fakeRouter.Apply(ctx, rt)
}

// Edge cases found in review; each failed before its fix.

// A: ramped rollback raises canary traffic when the step route never applied.
func TestRampedRollbackNeverRaisesShare(t *testing.T) {
	fr := newFakeRouter()
	h := newHarness(t, steps(strategy.Step{Percent: 10}, strategy.Step{Percent: 80, Hold: time.Hour}), func(c *Config) {
		c.Router = &refuseRouter{fakeRouter: fr, refuse: 80}
		c.RollbackSteps = []float64{50, 20}
		c.RollbackStepHold = time.Second
	})
	h.router = fr
	h.start()
	h.until(h.atStep(0))
	require.NoError(t, h.r.Promote())
	h.pump(time.Second, func() bool { return h.count(EventRouterError) >= 2 })
	go h.r.Abort(bg, "bad")
	h.pump(time.Second, h.phase(RolledBack))
	t.Logf("applied: %v", fr.percents())
	assert.Equal(t, []float64{10, 0}, fr.percents(), "rollback must never raise the canary share")
}

// B: Abort waits on a driver that then exits: the rollback never happens.
func TestAbortTakesOverWhenRunExits(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10}, strategy.Step{Percent: 50}), nil)
	h.start()
	h.until(h.atStep(0))
	_, entered := h.router.block()
	require.NoError(t, h.r.Promote())
	<-entered // driver blocked in Apply(50%)
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- h.r.Abort(ctx, "incident") }()
	h.until(func() bool { return h.r.rollbackPending() })
	h.router.mu.Lock()
	h.router.gate = nil // later applies go through; the blocked one ends with Run's ctx
	h.router.mu.Unlock()
	h.cancel() // Run's ctx ends (e.g. host shutting down the driver loop)
	_ = h.wait()
	err := <-res
	st := h.r.Status()
	t.Logf("abort err=%v phase=%s router canary=%v", err, st.Phase, h.router.canary())
	assert.NoError(t, err, "abort should take over driving and roll back")
	assert.Equal(t, RolledBack, st.Phase)
}

// C: waiting for an approval counts toward the progress deadline.
func TestApprovalWaitIsNotLackOfProgress(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute,
		Approve: func(ctx context.Context, i int, s strategy.Step) error { <-ctx.Done(); return ctx.Err() }}),
		func(c *Config) { c.ProgressDeadline = 5 * time.Minute })
	h.start()
	h.until(h.atStep(0))
	start := h.clk.Now()
	h.pump(10*time.Second, func() bool { return h.clk.Now().Sub(start) > 2*time.Hour || h.r.Status().Phase == RolledBack })
	t.Logf("phase=%s reason=%q", h.r.Status().Phase, h.r.Status().Reason)
	assert.Equal(t, Progressing, h.r.Status().Phase, "a person deciding is not lack of progress")
}

// D: abort during approval records a spurious "approval denied: context canceled".
func TestAbortDuringApprovalKeepsOneReason(t *testing.T) {
	asked := make(chan struct{}, 1)
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second,
		Approve: func(ctx context.Context, i int, s strategy.Step) error {
			asked <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}}), nil)
	h.start()
	h.until(h.atStep(0))
	h.pump(time.Second, func() bool { return len(asked) > 0 })
	require.NoError(t, h.r.Abort(bg, "operator"))
	assert.Equal(t, []string{"operator"}, h.r.Status().Reasons)
}

type failGate struct{ calls int }

func (g *failGate) Ready(context.Context, rollback.Target) error {
	g.calls++
	return errors.New("not ready")
}

// E: PromoteFully (or an empty strategy) skips the readiness gate.
func TestPromoteFullyStillAsksTheGate(t *testing.T) {
	g := &failGate{}
	h := newHarness(t, steps(strategy.Step{Percent: 0, Hold: strategy.UntilPromoted}, strategy.Step{Percent: 10}),
		func(c *Config) { c.Gate = g })
	h.start()
	h.until(h.atStep(0))
	require.NoError(t, h.r.PromoteFully())
	h.until(func() bool { return h.r.Status().Phase.Done() })
	t.Logf("phase=%s router=%v gate calls=%d", h.r.Status().Phase, h.router.percents(), g.calls)
	assert.Equal(t, RolledBack, h.r.Status().Phase, "canary never ready: must not get 100%")

	g2 := &failGate{}
	h2 := newHarness(t, steps(), func(c *Config) { c.Gate = g2 })
	h2.start()
	h2.until(func() bool { return h2.r.Status().Phase.Done() })
	t.Logf("empty strategy: phase=%s router=%v gate calls=%d", h2.r.Status().Phase, h2.router.percents(), g2.calls)
	assert.Equal(t, 1, g2.calls)
}

// F: deadline rolls back a healthy canary whose analysis is still passing.
func TestPassesStillComingInAreProgress(t *testing.T) {
	an := always(analysis.Pass, "ok")
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute,
		Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: 5 * time.Minute, Count: 4}}}),
		func(c *Config) { c.Analyzer = an })
	h.start()
	h.pump(10*time.Second, func() bool { return h.r.Status().Phase.Done() })
	t.Logf("phase=%s reason=%q", h.r.Status().Phase, h.r.Status().Reason)
	assert.Equal(t, Succeeded, h.r.Status().Phase)
}

// G: time paused before a restart is charged to the hold.
func TestPauseSurvivesRestart(t *testing.T) {
	st := &memStore{}
	strat := steps(strategy.Step{Percent: 10, Hold: 10 * time.Minute})
	h := newHarness(t, strat, func(c *Config) { c.Store = st })
	h.start()
	h.until(h.atStep(0))
	h.clk.Advance(2 * time.Minute)
	require.NoError(t, h.r.Pause())
	h.until(h.phase(Paused))
	h.clk.Advance(time.Hour)
	h.stop()

	clk := clock.NewFake(h.clk.Now().Add(time.Minute))
	h2 := newHarness(t, strat, func(c *Config) { c.Store = st; c.Clock = clk })
	h2.start()
	h2.until(h2.atStep(0))
	resumed := clk.Now()
	require.NoError(t, h2.r.Resume())
	h2.pump(time.Second, func() bool { return h2.r.Status().Phase == Succeeded })
	held := h2.r.Status().FinishedAt.Sub(resumed) + 2*time.Minute
	t.Logf("unpaused hold = %v (want 10m)", held)
	assert.GreaterOrEqual(t, held, 10*time.Minute)
}

// H: OnRestart=RollBack also fires on a second Run in the same process.
func TestRollBackPolicyOnlyOnRestore(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10}), func(c *Config) { c.OnRestart = RollBack })
	h.start()
	h.until(h.atStep(0))
	h.stop()
	h.start()
	h.until(func() bool { return h.count(EventStepStarted) == 2 })
	t.Logf("phase=%s reason=%q", h.r.Status().Phase, h.r.Status().Reason)
	assert.Equal(t, Progressing, h.r.Status().Phase, "no store, no restart: a re-Run should carry on")
}

type orderStore struct {
	memStore
	log *[]string
	mu  *sync.Mutex
}

func (o *orderStore) Save(ctx context.Context, s State) error {
	o.mu.Lock()
	*o.log = append(*o.log, "save:"+s.Phase.String())
	o.mu.Unlock()
	return o.memStore.Save(ctx, s)
}

type orderRouter struct {
	*fakeRouter
	log *[]string
	mu  *sync.Mutex
}

func (o *orderRouter) Apply(ctx context.Context, r traffic.Route) error {
	o.mu.Lock()
	*o.log = append(*o.log, "apply")
	o.mu.Unlock()
	return o.fakeRouter.Apply(ctx, r)
}

// I: RollbackTo acts before it saves, and cannot express "v0 is live".
func TestRollbackToSavesFirstAndTracksLive(t *testing.T) {
	var log []string
	var mu sync.Mutex
	st := &orderStore{log: &log, mu: &mu}
	fr := newFakeRouter()
	clk := clock.NewFake(t0)
	mk := func(stable, canary string) *harness {
		return newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second}), func(c *Config) {
			c.Store, c.Stable, c.Canary, c.Clock = st, stable, canary, clk
			c.Router = &orderRouter{fakeRouter: fr, log: &log, mu: &mu}
		})
	}
	h := mk("v0", "v1")
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	require.NoError(t, h.wait())
	h2 := mk("v1", "v2")
	h2.start()
	h2.pump(time.Second, h2.phase(Succeeded))
	require.NoError(t, h2.wait())

	mu.Lock()
	log = nil
	mu.Unlock()
	require.NoError(t, h2.r.RollbackTo(bg, "v0"))
	mu.Lock()
	t.Logf("order: %v", log)
	require.NotEmpty(t, log)
	assert.Equal(t, "save:rolling_back", log[0], "saved before acted on")
	assert.Equal(t, "save:rolled_back", log[len(log)-1])
	assert.Contains(t, log, "apply")
	mu.Unlock()
	cur, _ := fr.Current(bg)
	require.Equal(t, 100.0, cur.Percent("v0"))
	s := h2.r.Status()
	assert.Equal(t, "v0", s.Live)
	err := h2.r.RollbackTo(bg, "v1")
	t.Logf("RollbackTo(v1) while v0 is live: %v", err)
	assert.NoError(t, err, "v0 is live, v1 is not")
}

// J: the inconclusive pause reason is not in Status.
func TestInconclusivePauseReasonInStatus(t *testing.T) {
	an := always(analysis.NoData, "n=0")
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute,
		Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: time.Second, InconclusiveLimit: 1}}}),
		func(c *Config) { c.Analyzer = an })
	h.start()
	h.pump(time.Second, h.phase(Paused))
	assert.NotEmpty(t, h.r.Status().Reason, "Status.Reason doc: set on an inconclusive pause")
}

// K: an in-window Abort right after success fails while Run waits for its triggers.
func TestAbortInWindowWhileTriggersWindDown(t *testing.T) {
	release := make(chan struct{})
	tr := rollback.TriggerFunc(func(ctx context.Context, _ rollback.Target, _ func(string)) error {
		<-ctx.Done()
		<-release // e.g. a probe in flight bounded by its timeout
		return nil
	})
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second}), func(c *Config) {
		c.RollbackWindow = time.Hour
		c.Triggers = []rollback.Trigger{tr}
	})
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	err := h.r.Abort(bg, "regression")
	close(release)
	t.Logf("abort: %v; phase %s", err, h.r.Status().Phase)
	assert.NoError(t, err)
}

// L: in-window rollback with RollbackSteps is not one Apply.
func TestWindowRollbackIsOneApply(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 50, Hold: time.Second}), func(c *Config) {
		c.RollbackWindow = time.Hour
		c.RollbackSteps = []float64{50}
		c.RollbackStepHold = time.Minute
	})
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	require.NoError(t, h.wait())
	go h.r.Abort(bg, "regression")
	h.pump(time.Second, h.phase(RolledBack))
	t.Logf("applied %v", h.router.percents())
	assert.Equal(t, []float64{50, 100, 0}, h.router.percents())
}

// M: Abort's own rollback stops when its ctx ends, contrary to its doc.
func TestAbortRollbackOutlivesItsContext(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10}), nil)
	h.start()
	h.until(h.atStep(0))
	h.stop()
	h.router.mu.Lock()
	h.router.failAll = errors.New("down")
	h.router.mu.Unlock()
	ctx, cancel := context.WithCancel(bg)
	res := make(chan error, 1)
	go func() { res <- h.r.Abort(ctx, "x") }()
	h.pump(time.Second, func() bool { return h.count(EventRouterError) >= 2 })
	cancel()
	require.ErrorIs(t, <-res, context.Canceled)
	h.router.mu.Lock()
	h.router.failAll = nil
	h.router.mu.Unlock()
	h.pump(time.Second, func() bool { return h.clk.Now().Sub(t0) > time.Hour })
	t.Logf("phase=%s router=%v", h.r.Status().Phase, h.router.canary())
	assert.Equal(t, RolledBack, h.r.Status().Phase, "doc: the rollback then goes on")
}

// N: a readiness gate that never answers is not bounded by the progress deadline.
func TestGateBoundedByProgressDeadline(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10}), func(c *Config) {
		c.ProgressDeadline = time.Minute
		c.Gate = gateFunc(func(ctx context.Context, _ rollback.Target) error { <-ctx.Done(); return ctx.Err() })
	})
	h.start()
	h.until(h.phase(Progressing))
	h.pump(10*time.Second, func() bool { return h.clk.Now().Sub(t0) > 3*time.Hour || h.r.Status().Phase.Done() })
	t.Logf("phase=%s step=%d", h.r.Status().Phase, h.r.Status().Step)
	assert.Equal(t, RolledBack, h.r.Status().Phase)
}

// O: an analysis result changes Status but does not close Changed().
func TestAnalysisResultClosesChanged(t *testing.T) {
	an := always(analysis.Pass, "ok")
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Hour,
		Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: time.Minute}}}), func(c *Config) { c.Analyzer = an })
	h.start()
	h.until(func() bool { return h.r.Status().LastResult.Verdict == analysis.Pass })
	first := h.r.Status().LastResult.At
	ch := h.r.Changed() // nothing else changes during the hour's hold
	h.pump(time.Second, func() bool { return h.r.Status().LastResult.At != first })
	select {
	case <-ch:
	default:
		t.Error("LastResult changed but Changed() was not closed")
	}
}

// Q: Retry right after Abort returned nil is refused while Run winds down.
func TestRetryRightAfterAbort(t *testing.T) {
	release := make(chan struct{})
	tr := rollback.TriggerFunc(func(ctx context.Context, _ rollback.Target, _ func(string)) error {
		<-ctx.Done()
		<-release
		return nil
	})
	h := newHarness(t, steps(strategy.Step{Percent: 10}), func(c *Config) { c.Triggers = []rollback.Trigger{tr} })
	h.start()
	h.until(h.atStep(0))
	require.NoError(t, h.r.Abort(bg, "x"))
	err := h.r.Retry(bg)
	close(release)
	assert.NoError(t, err)
}

// R: a Promote acted on (event sent) is not saved; a restart while the next
// step waits on the gate lands back on the promoted step, waiting again.
func TestPromoteIsSavedBeforeTheNextStep(t *testing.T) {
	st := &memStore{}
	gate := gateFunc(func(ctx context.Context, _ rollback.Target) error { <-ctx.Done(); return ctx.Err() })
	strat := steps(strategy.Step{Percent: 0, Hold: strategy.UntilPromoted}, strategy.Step{Percent: 10})
	h := newHarness(t, strat, func(c *Config) { c.Store = st; c.Gate = gate })
	h.start()
	h.until(h.atStep(0))
	require.NoError(t, h.r.Promote())
	h.until(func() bool { return h.has(EventPromoted, 0) })
	h.stop()
	h2 := newHarness(t, strat, func(c *Config) { c.Store = st; c.Gate = gate })
	h2.start()
	time.Sleep(20 * time.Millisecond)
	t.Logf("after restart: step=%d events=%v", h2.r.Status().Step, h2.kinds())
	assert.False(t, h2.has(EventStepStarted, 0), "step 0 was promoted; it must not be held again")
}

// A trigger of a rolled-back run that fires after Retry does not reach the
// retried rollout.
func TestOldTriggerCannotReachRetriedRollout(t *testing.T) {
	release := make(chan struct{})
	var fireOld func(string)
	var mu sync.Mutex
	tr := rollback.TriggerFunc(func(ctx context.Context, _ rollback.Target, fire func(string)) error {
		mu.Lock()
		if fireOld == nil {
			fireOld = fire
		}
		mu.Unlock()
		<-ctx.Done()
		<-release
		return nil
	})
	h := newHarness(t, steps(strategy.Step{Percent: 10}), func(c *Config) { c.Triggers = []rollback.Trigger{tr} })
	h.start()
	h.until(h.atStep(0))
	require.NoError(t, h.r.Abort(bg, "first try"))
	require.NoError(t, h.r.Retry(bg))
	close(release)
	require.NoError(t, h.wait())
	h.start()
	h.until(h.atStep(0))
	mu.Lock()
	fireOld("late reason from the first run")
	mu.Unlock()
	h.pump(time.Second, func() bool { return h.clk.Now().Sub(t0) > time.Minute })
	assert.Equal(t, Progressing, h.r.Status().Phase)
	assert.Empty(t, h.r.Status().Reasons)
}

// A rollback whose Run stopped while the router kept failing is carried on
// by the next Abort.
func TestAbortCarriesOnAStoppedRollback(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: strategy.UntilPromoted}), nil)
	h.start()
	h.until(h.atStep(0))
	h.router.mu.Lock()
	h.router.failAll = errors.New("haproxy socket gone")
	h.router.mu.Unlock()
	h.fire("guard: 5xx")
	h.until(func() bool { return h.count(EventRouterError) >= 1 })
	h.stop() // the host stops driving while the router fails
	h.router.mu.Lock()
	h.router.failAll = nil
	h.router.mu.Unlock()
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.r.Abort(ctx, "operator") }()
	h.pump(time.Second, func() bool { return h.r.Status().Phase == RolledBack })
	require.NoError(t, <-done)
	assert.Equal(t, 0.0, h.router.canary())
	assert.Contains(t, h.r.Status().Reason, "operator")
}

// The first measurement of a step (InitialDelay 0) judges a window that
// ends when it is taken, not an empty one.
func TestFirstMeasurementWindowIsNotEmpty(t *testing.T) {
	got := make(chan analysis.Query, 1)
	an := &verdicts{f: func(_ int, q analysis.Query) (analysis.Result, error) {
		select {
		case got <- q:
		default:
		}
		return analysis.Result{Verdict: analysis.NoData}, nil
	}}
	r, err := New(bg, Config{Stable: "v1", Canary: "v2", Router: newFakeRouter(), Analyzer: an,
		Strategy: steps(strategy.Step{Percent: 10, Hold: time.Hour, Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: time.Hour}}})})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	q := <-got
	cancel()
	<-done
	assert.True(t, q.Until.After(q.Since), "since %v until %v", q.Since, q.Until)
}
