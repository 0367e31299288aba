package ramp

// Regression tests for the six findings of issue 10. They use only the API
// that existed before the engine became a state machine (eab75f3), so each
// can be run against that commit, where each fails.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

func heldSteps(percents ...float64) strategy.Strategy {
	var ss []strategy.Step
	for _, p := range percents {
		ss = append(ss, strategy.Step{Percent: p, Hold: time.Hour})
	}
	return strategy.Canary{Steps: ss}
}

// Finding 1: a restart with a different plan must not change the plan or
// the share silently.
func TestRegression1RestartWithAnotherPlan(t *testing.T) {
	for name, next := range map[string][]float64{
		"fewer steps promote at once": {50, 100},
		"the share would fall":        {1, 2, 3, 4, 5, 100},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			h := newHarness(t, heldSteps(5, 10, 20, 30, 40), func(c *Config) { c.Store = NewFileStore(path) })
			h.start()
			h.until(h.atStep(0))
			require.NoError(t, h.r.Promote())
			h.until(h.atStep(1))
			require.NoError(t, h.r.Promote())
			h.until(h.atStep(2))
			h.stop()

			router := newFakeRouter()
			r, err := New(bg, Config{Stable: "v1", Canary: "v2", Strategy: heldSteps(next...), Router: router, Store: NewFileStore(path)})
			if err == nil {
				ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
				defer cancel()
				_ = r.Run(ctx)
				t.Fatalf("New accepted another plan; the rollout went on to %v%% (applied %v)", router.canary(), router.percents())
			}
			assert.Contains(t, err.Error(), "plan")
			assert.Contains(t, err.Error(), path, "the error names the file")
			assert.Empty(t, router.percents(), "no route was applied")
		})
	}
}

// Finding 1: a hand-edited state file is validated like any input.
func TestRegression1HandEditedStateFile(t *testing.T) {
	for name, tc := range map[string]struct{ json, field string }{
		"completed beyond the plan": {`{"version":1,"stable":"v1","canary":"v2","phase":"progressing","step":2,"completed":50,"percent":20,"target":20}`, "completed"},
		"succeeded at 37%":          {`{"version":1,"stable":"v1","canary":"v2","phase":"succeeded","step":2,"completed":3,"percent":37,"target":37}`, "percent"},
		"share over 100":            {`{"version":1,"stable":"v1","canary":"v2","phase":"progressing","step":1,"completed":1,"percent":250,"target":250}`, "percent"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			require.NoError(t, os.WriteFile(path, []byte(tc.json), 0o600))
			router := newFakeRouter()
			r, err := New(bg, Config{Stable: "v1", Canary: "v2", Strategy: heldSteps(5, 10, 20), Router: router, Store: NewFileStore(path)})
			if err == nil {
				ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
				defer cancel()
				runErr := r.Run(ctx)
				t.Fatalf("New accepted the file; Run: %v, status %+v, applied %v", runErr, r.Status(), router.percents())
			}
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), tc.field+":")
		})
	}
}

// Finding 2: a step is not left while the metric source fails after its
// passes were counted.
func TestRegression2NoPromotionOnErrorAfterPasses(t *testing.T) {
	an := &verdicts{f: func(n int, q analysis.Query) (analysis.Result, error) {
		if n <= 2 {
			return analysis.Result{Verdict: analysis.Pass, Reason: "ok"}, nil
		}
		return analysis.Result{}, errors.New("prometheus: connection refused")
	}}
	pol := &strategy.Analysis{Policy: analysis.Policy{Interval: 10 * time.Second, Count: 2}}
	h := newHarness(t, steps(
		strategy.Step{Percent: 10, Hold: 25 * time.Second, Analysis: pol},
		strategy.Step{Percent: 50, Hold: time.Hour},
	), func(c *Config) { c.Analyzer = an })
	h.start()
	h.until(h.atStep(0))
	start := h.clk.Now()
	h.pump(time.Second, func() bool { return h.clk.Now().Sub(start) >= 45*time.Second || h.r.Status().Step > 0 })
	assert.Equal(t, []float64{10}, h.router.percents(), "the step was left on an error")
	assert.Equal(t, 0, h.r.Status().Step)
	// The errors go on counting toward the limit: it rolls back.
	h.pump(time.Second, func() bool { return h.r.Status().Phase.Done() })
	assert.Equal(t, RolledBack, h.r.Status().Phase)
	assert.Contains(t, h.r.Status().Reason, "analysis errored 5 times in a row")
}

// Finding 3: an invalid trigger, or an analysed step with no analyzer, is
// refused by New.
func TestRegression3InvalidComponentsRefused(t *testing.T) {
	_, err := New(bg, Config{Stable: "v1", Canary: "v2", Strategy: heldSteps(10), Router: newFakeRouter(),
		Triggers: []rollback.Trigger{&rollback.Guard{MaxErrorRate: 2}}})
	require.Error(t, err, "a guard without a source would leave the rollout unguarded")
	assert.Contains(t, err.Error(), "triggers[0]")

	pol := &strategy.Analysis{Policy: analysis.Policy{Interval: time.Second}}
	_, err = New(bg, Config{Stable: "v1", Canary: "v2", Router: newFakeRouter(),
		Strategy: steps(strategy.Step{Percent: 10, Hold: time.Minute, Analysis: pol})})
	require.Error(t, err, "an analysed step needs an analyzer")
	assert.Contains(t, err.Error(), "analyzer")
}

// Finding 3: a trigger that fails while the rollout runs rolls it back
// (fail closed) instead of leaving it unguarded.
func TestRegression3TriggerFailureFailsClosed(t *testing.T) {
	broken := rollback.TriggerFunc(func(ctx context.Context, _ rollback.Target, _ func(string)) error {
		return errors.New("guard: no metrics source")
	})
	h := newHarness(t, heldSteps(10), func(c *Config) {
		c.Triggers = []rollback.Trigger{broken}
		c.ProgressDeadline = 24 * time.Hour
	})
	h.start()
	h.pump(time.Minute, func() bool { return h.r.Status().Phase.Done() })
	st := h.r.Status()
	assert.Equal(t, RolledBack, st.Phase)
	assert.Contains(t, st.Reason, "guard: no metrics source")
	assert.Equal(t, 0.0, h.router.canary())
}

// blockingStore's Save waits until release is closed once armed.
type blockingStore struct {
	memStore
	mu      sync.Mutex
	armed   bool
	release chan struct{}
	entered chan struct{}
}

func (b *blockingStore) Save(ctx context.Context, s State) error {
	b.mu.Lock()
	armed := b.armed
	b.mu.Unlock()
	if armed {
		select {
		case b.entered <- struct{}{}:
		default:
		}
		<-b.release
	}
	return b.memStore.Save(ctx, s)
}

// Finding 4: Status does not wait for a slow store.
func TestRegression4StatusDoesNotWaitForTheStore(t *testing.T) {
	st := &blockingStore{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	h := newHarness(t, heldSteps(10, 50), func(c *Config) { c.Store = st })
	h.start()
	h.until(h.atStep(0))
	st.mu.Lock()
	st.armed = true
	st.mu.Unlock()
	require.NoError(t, h.r.Promote())
	<-st.entered // a save is in progress, and does not end until released
	got := make(chan Status, 1)
	go func() { got <- h.r.Status() }()
	select {
	case s := <-got:
		assert.Equal(t, 0, s.Step, "the step being saved is not shown before it is saved")
	case <-time.After(3 * time.Second):
		close(st.release)
		t.Fatal("Status waited for Store.Save")
	}
	close(st.release)
}

// Finding 4: an abort reaches stable after at most one save.
func TestRegression4AbortSavesOnceBeforeStable(t *testing.T) {
	var log []string
	var mu sync.Mutex
	st := &orderStore{log: &log, mu: &mu}
	fr := newFakeRouter()
	h := newHarness(t, heldSteps(10, 50), func(c *Config) {
		c.Store = st
		c.Router = &orderRouter{fakeRouter: fr, log: &log, mu: &mu}
	})
	h.router = fr
	h.start()
	h.until(h.atStep(0))
	mu.Lock()
	log = nil
	mu.Unlock()
	require.NoError(t, h.r.Abort(bg, "incident"))
	mu.Lock()
	defer mu.Unlock()
	first := -1
	for i, e := range log {
		if e == "apply" {
			first = i
			break
		}
	}
	require.GreaterOrEqual(t, first, 0, "order %v", log)
	assert.LessOrEqual(t, first, 1, "saves before the stable route's Apply: %v", log[:first])
}

// Finding 5: a bare step list advances by itself.
func TestRegression5BareStepListAdvances(t *testing.T) {
	ss, err := strategy.ParseSteps("10,50,100")
	require.NoError(t, err)
	h := newHarness(t, strategy.Canary{Steps: ss}, nil)
	h.start()
	start := h.clk.Now()
	h.pump(10*time.Second, func() bool {
		return h.r.Status().Phase == Succeeded || h.clk.Now().Sub(start) > 2*time.Hour
	})
	assert.Equal(t, Succeeded, h.r.Status().Phase)
	assert.Equal(t, []float64{10, 50, 100, 100}, h.router.percents())
	assert.GreaterOrEqual(t, h.r.Status().FinishedAt.Sub(start), 15*time.Minute, "each step held the default hold")
}

// Finding 5: waiting for a manual promote counts toward the progress
// deadline.
func TestRegression5PromoteWaitIsBounded(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: strategy.UntilPromoted}), func(c *Config) {
		c.ProgressDeadline = 5 * time.Minute
	})
	h.start()
	h.until(h.atStep(0))
	start := h.clk.Now()
	h.pump(10*time.Second, func() bool {
		return h.r.Status().Phase.Done() || h.clk.Now().Sub(start) > time.Hour
	})
	assert.Equal(t, RolledBack, h.r.Status().Phase, "a forgotten manual step must not wait forever")
	assert.Contains(t, h.r.Status().Reason, "progress deadline 5m0s exceeded")
}

// Finding 6: FileStore creates its directory.
func TestRegression6FileStoreCreatesItsDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not", "yet", "state.json")
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second}), func(c *Config) { c.Store = NewFileStore(path) })
	h.start()
	h.pump(time.Second, func() bool { return h.r.Status().Phase.Done() })
	require.NoError(t, h.wait())
	assert.Equal(t, Succeeded, h.r.Status().Phase)
	_, err := os.Stat(path)
	assert.NoError(t, err)
}

// failingStore loads nothing and fails every save.
type failingStore struct{ memStore }

func (*failingStore) Save(context.Context, State) error { return errors.New("disk full") }

// Finding 6: a failed first save leaves nothing behind: no "started"
// event, Status still pending, one clear error.
func TestRegression6FailedSaveStartsNothing(t *testing.T) {
	h := newHarness(t, heldSteps(10), func(c *Config) { c.Store = &failingStore{} })
	h.start()
	err := h.wait()
	require.Error(t, err)
	assert.Equal(t, 1, strings.Count(err.Error(), "save state"), "said once: %v", err)
	assert.Contains(t, err.Error(), "disk full")
	assert.Equal(t, Pending, h.r.Status().Phase)
	assert.False(t, h.has(EventStarted, -1), "events: %v", h.kinds())
	assert.Empty(t, h.router.percents())
}

// Finding 6: Run returns after its events reached OnEvent.
func TestRegression6RunReturnsAfterItsEvents(t *testing.T) {
	var mu sync.Mutex
	var kinds []EventKind
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second}), func(c *Config) {
		c.OnEvent = func(e Event) {
			time.Sleep(5 * time.Millisecond) // a host writing to a slow log
			mu.Lock()
			kinds = append(kinds, e.Kind)
			mu.Unlock()
		}
	})
	h.start()
	h.pump(time.Second, func() bool { return h.r.Status().Phase.Done() })
	require.NoError(t, h.wait())
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, kinds)
	assert.Equal(t, EventSucceeded, kinds[len(kinds)-1], "got %v", kinds)
}

var _ traffic.Router = (*orderRouter)(nil)
