package ramp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/lock"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/window"
)

// --- Store: a Save error stops driving at once ---

// fencedStore fails every save once deposed, as an etcd store whose leader
// lost its election does.
type fencedStore struct {
	memStore
	mu      sync.Mutex
	deposed bool
	saves   int
}

var errDeposed = errors.New("etcd: leader deposed")

func (f *fencedStore) Save(ctx context.Context, s State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deposed {
		return errDeposed
	}
	f.saves++
	return f.memStore.Save(ctx, s)
}

func TestSaveErrorStopsDriving(t *testing.T) {
	st := &fencedStore{}
	h := newHarness(t, heldSteps(10, 50), func(c *Config) { c.Store = st })
	h.start()
	h.until(h.atStep(0))
	st.mu.Lock()
	st.deposed = true
	st.mu.Unlock()
	require.NoError(t, h.r.Promote())
	err := h.wait()
	require.ErrorIs(t, err, ErrStore)
	require.ErrorIs(t, err, errDeposed, "the store's error is wrapped")
	s := h.r.Status()
	assert.Equal(t, Progressing, s.Phase, "Status keeps the last saved state")
	assert.Equal(t, 0, s.Step)
	assert.ErrorIs(t, s.Err, errDeposed)
	assert.Equal(t, []float64{10}, h.router.percents(), "no route after the failed save")
	h.until(func() bool { return h.has(EventStoreError, -1) })
	// Every later operation says so; a new Rollout on the store carries on.
	assert.ErrorIs(t, h.r.Pause(), ErrStore)
	assert.ErrorIs(t, h.r.Abort(bg, "x"), ErrStore)
	assert.ErrorIs(t, h.r.Run(bg), ErrStore)
}

// --- Lock ---

type fakeLock struct {
	mu       sync.Mutex
	holder   *lock.Holder
	other    bool // held by another process
	released int
}

func (f *fakeLock) TryAcquire(_ context.Context, h lock.Holder) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.other {
		return &lock.HeldError{Name: "shop", Holder: lock.Holder{Host: "ci-7", PID: 42}}
	}
	if f.holder != nil {
		return errors.New("already held by this lock")
	}
	f.holder = &h
	return nil
}

func (f *fakeLock) Release(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder == nil {
		return lock.ErrNotHeld
	}
	f.holder = nil
	f.released++
	return nil
}

func (f *fakeLock) Holder(context.Context) (lock.Holder, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder == nil {
		return lock.Holder{}, false, nil
	}
	return *f.holder, true, nil
}

func (f *fakeLock) held() (lock.Holder, bool) {
	h, ok, _ := f.Holder(bg)
	return h, ok
}

func TestLockHeldForTheRolloutsLife(t *testing.T) {
	lk := &fakeLock{}
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute}), func(c *Config) { c.Lock = lk })
	h.start()
	h.until(h.atStep(0))
	holder, ok := lk.held()
	require.True(t, ok, "held while the rollout runs")
	assert.Equal(t, "v2", holder.Version)
	assert.Equal(t, os.Getpid(), holder.PID)
	assert.NotEmpty(t, holder.Host)
	assert.Contains(t, holder.Purpose, "v1 → v2")
	assert.Equal(t, t0, holder.Since)
	h.pump(time.Second, h.phase(Succeeded))
	require.NoError(t, h.wait())
	_, ok = lk.held()
	assert.False(t, ok, "released when Run ends")
	assert.Equal(t, 1, lk.released)
}

func TestLockHeldByAnotherStartsNothing(t *testing.T) {
	lk := &fakeLock{other: true}
	st := &fencedStore{}
	h := newHarness(t, heldSteps(10), func(c *Config) { c.Lock = lk; c.Store = st })
	err := h.r.Run(bg)
	require.ErrorIs(t, err, lock.ErrHeld)
	var held *lock.HeldError
	require.ErrorAs(t, err, &held)
	assert.Equal(t, "ci-7", held.Holder.Host)
	assert.Equal(t, Pending, h.r.Status().Phase)
	assert.Zero(t, st.saves, "nothing saved")
	assert.Empty(t, h.router.percents(), "nothing applied")
	assert.Empty(t, h.kinds(), "nothing emitted")
}

// --- Window ---

// fakeWindow answers from a settable decision.
type fakeWindow struct {
	mu sync.Mutex
	d  window.Decision
}

func (w *fakeWindow) Check(time.Time) window.Decision {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.d
}

func (w *fakeWindow) set(d window.Decision) {
	w.mu.Lock()
	w.d = d
	w.mu.Unlock()
}

func TestWindowClosedRefusesNewRollout(t *testing.T) {
	w := &fakeWindow{d: window.Decision{Reason: "freeze \"year-end\""}}
	st := &fencedStore{}
	h := newHarness(t, heldSteps(10), func(c *Config) { c.Window = w; c.Store = st })
	err := h.r.Run(bg)
	require.ErrorIs(t, err, ErrWindowClosed)
	assert.ErrorContains(t, err, "year-end")
	assert.Equal(t, Pending, h.r.Status().Phase)
	assert.Zero(t, st.saves)
}

func TestWindowWaitHoldsStartAndAdvanceNeverRollback(t *testing.T) {
	w := &fakeWindow{d: window.Decision{Reason: "outside business hours", Next: t0.Add(time.Hour)}}
	h := newHarness(t, steps(
		strategy.Step{Percent: 10, Hold: time.Minute},
		strategy.Step{Percent: 50, Hold: time.Hour},
	), func(c *Config) { c.Window = w; c.WindowClosed = WaitForWindow })
	h.start()
	h.until(func() bool { return h.has(EventWindowClosed, -1) })
	assert.Equal(t, Pending, h.r.Status().Phase)
	assert.Contains(t, h.r.Status().Reason, "outside business hours")
	assert.Empty(t, h.router.percents())
	// Opens at Next: the rollout starts by itself.
	w.set(window.Decision{Open: true})
	require.NoError(t, h.clk.BlockUntil(bg, 1))
	h.clk.Advance(time.Hour)
	h.until(h.atStep(0))
	// Closed again: step 0's hold ends, but the rollout does not advance.
	w.set(window.Decision{Reason: "freeze"})
	h.pump(time.Minute, func() bool { return h.count(EventWindowClosed) == 2 })
	h.pump(time.Minute, func() bool { return h.clk.Now().Sub(t0) > 3*time.Hour })
	assert.Equal(t, []float64{10}, h.router.percents())
	assert.Equal(t, "deployment window closed: freeze", h.r.Status().Waiting)
	// A rollback is never held back by the window.
	require.NoError(t, h.r.Abort(bg, "bad canary"))
	assert.Equal(t, 0.0, h.router.canary())
}

func TestWindowOverrideRecorded(t *testing.T) {
	at := t0.Add(-time.Hour)
	w := &fakeWindow{d: window.Decision{Open: true, Reason: "freeze overridden",
		Override: &window.Override{Who: "alice", Why: "hotfix INC-42", At: at}}}
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute}), func(c *Config) { c.Window = w })
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	require.NoError(t, h.wait())
	ov := h.r.Status().Overrides
	require.NotEmpty(t, ov)
	assert.Equal(t, Override{Who: "alice", Why: "hotfix INC-42", At: at, Reason: "freeze overridden", Step: -1}, ov[0])
	assert.True(t, h.has(EventWindowOverride, -1))
}

// --- triggers ---

func TestTriggerFailureKeepGoingOption(t *testing.T) {
	broken := rollback.TriggerFunc(func(context.Context, rollback.Target, func(string)) error {
		return errors.New("webhook: listen: address in use")
	})
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute}), func(c *Config) {
		c.Triggers = []rollback.Trigger{broken}
		c.KeepGoingOnTriggerError = true
	})
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	assert.True(t, h.has(EventTriggerError, -1))
}

// --- restarts ---

func TestRestartPlanPolicies(t *testing.T) {
	mk := func(t *testing.T, path string, strat strategy.Strategy, p PlanChangePolicy) *harness {
		return newHarness(t, strat, func(c *Config) { c.Store = NewFileStore(path); c.OnPlanChange = p })
	}
	setup := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "s.json")
		h := mk(t, path, heldSteps(5, 10, 20), RefusePlanChange)
		h.start()
		h.until(h.atStep(0))
		require.NoError(t, h.r.Promote())
		h.until(h.atStep(1))
		h.stop()
		return path
	}
	t.Run("refuse names what differs", func(t *testing.T) {
		path := setup(t)
		_, err := New(bg, Config{Stable: "v1", Canary: "v2", Strategy: heldSteps(5, 30, 100), Router: newFakeRouter(), Store: NewFileStore(path)})
		require.ErrorIs(t, err, ErrPlanChanged)
		assert.ErrorContains(t, err, "step 2 of 3: share 10.00% saved, 30.00% now")
		assert.ErrorContains(t, err, "step 3 of 3: share 20.00% saved, 100.00% now")
	})
	t.Run("restart from the first step", func(t *testing.T) {
		path := setup(t)
		h := mk(t, path, heldSteps(1, 2, 100), RestartPlan)
		h.start()
		h.until(h.atStep(0))
		assert.Equal(t, []float64{1}, h.router.percents())
		assert.Equal(t, 3, h.r.Status().Steps)
	})
	t.Run("roll back", func(t *testing.T) {
		path := setup(t)
		h := mk(t, path, heldSteps(1, 2, 100), RollBackPlanChange)
		h.start()
		h.until(h.phase(RolledBack))
		assert.Contains(t, h.r.Status().Reason, "plan changed: step 1 of 3: share 5.00% saved, 1.00% now")
		assert.Equal(t, []float64{0}, h.router.percents())
	})
}

// A version-1 file: finished ones load; an unfinished one has no plan to
// check and is treated as a changed plan.
func TestStateVersion1(t *testing.T) {
	dir := t.TempDir()
	done := filepath.Join(dir, "done.json")
	require.NoError(t, os.WriteFile(done, []byte(`{"version":1,"stable":"v0","canary":"v1","phase":"succeeded","step":1,"completed":2,"percent":100,"target":100,"live":"v1",
		"history":[{"version":"v1","previous":"v0","outcome":"succeeded","started_at":"2026-11-01T00:00:00Z"}]}`), 0o600))
	r, err := New(bg, Config{Stable: "v1", Canary: "v2", Strategy: heldSteps(10), Router: newFakeRouter(), Store: NewFileStore(done)})
	require.NoError(t, err)
	assert.Len(t, r.Status().History, 1, "the history is kept")

	open := filepath.Join(dir, "open.json")
	require.NoError(t, os.WriteFile(open, []byte(`{"version":1,"stable":"v1","canary":"v2","phase":"progressing","step":0,"completed":0,"percent":10,"target":10}`), 0o600))
	_, err = New(bg, Config{Stable: "v1", Canary: "v2", Strategy: heldSteps(10), Router: newFakeRouter(), Store: NewFileStore(open)})
	require.ErrorIs(t, err, ErrPlanChanged)
	assert.ErrorContains(t, err, "records no plan")
	r, err = New(bg, Config{Stable: "v1", Canary: "v2", Strategy: heldSteps(10), Router: newFakeRouter(), Store: NewFileStore(open), OnPlanChange: RollBackPlanChange})
	require.NoError(t, err)
	require.NoError(t, r.Abort(bg, "cleanup"))
	assert.Equal(t, RolledBack, r.Status().Phase)
}

// What survives a restart mid-step: the remaining hold (time paused not
// counted); the measurements counted so far do not (they start over).
func TestRestartMidStepKeepsHoldNotMeasurements(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	var mu sync.Mutex
	calls := 0
	an := &verdicts{f: func(int, analysis.Query) (analysis.Result, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return analysis.Result{Verdict: analysis.Pass}, nil
	}}
	pol := &strategy.Analysis{Policy: analysis.Policy{Interval: 10 * time.Second, Count: 3}}
	strat := steps(strategy.Step{Percent: 10, Hold: 10 * time.Minute, Analysis: pol}, strategy.Step{Percent: 50, Hold: time.Hour})
	h := newHarness(t, strat, func(c *Config) { c.Store = NewFileStore(path); c.Analyzer = an })
	h.start()
	h.until(h.atStep(0))
	h.pump(time.Second, func() bool { return h.clk.Now().Sub(t0) >= 6*time.Minute })
	h.stop()

	clk := h.clk
	h2 := newHarness(t, strat, func(c *Config) { c.Store = NewFileStore(path); c.Analyzer = an; c.Clock = clk })
	mu.Lock()
	calls = 0
	mu.Unlock()
	h2.start()
	h2.until(h2.atStep(0))
	restartAt := clk.Now()
	h2.pump(time.Second, h2.atStep(1))
	left := clk.Now().Sub(restartAt)
	assert.Less(t, left, 5*time.Minute, "the remaining hold, not a whole new one")
	assert.GreaterOrEqual(t, left, 20*time.Second, "three new passes were needed")
	mu.Lock()
	assert.GreaterOrEqual(t, calls, 3)
	mu.Unlock()
}

func TestConfigValidationOfPolicies(t *testing.T) {
	_, err := New(bg, Config{Stable: "v1", Canary: "v2", Strategy: heldSteps(10), Router: newFakeRouter(),
		OnRestart: 7, OnPlanChange: 9, WindowClosed: 5, WindowRecheck: -time.Second,
		Triggers: []rollback.Trigger{nil}})
	require.ErrorIs(t, err, ErrInvalidConfig)
	for _, want := range []string{
		"on restart: 7 is not a restart policy",
		"on plan change: 9 is not a plan change policy",
		"window closed: 5 is not a window policy",
		"window recheck: -1s is negative",
		"triggers[0]: nil",
	} {
		assert.ErrorContains(t, err, want)
	}
}
