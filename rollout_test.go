package ramp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

var bg = context.Background()

func TestCanaryWithAnalysisSucceeds(t *testing.T) {
	an := always(analysis.Pass, "ok")
	pol := &strategy.Analysis{Policy: analysis.Policy{Interval: 10 * time.Second, Count: 2}}
	h := newHarness(t, steps(
		strategy.Step{Percent: 10, Hold: time.Minute, Analysis: pol},
		strategy.Step{Percent: 50, Hold: time.Minute, Analysis: pol},
	), func(c *Config) { c.Analyzer = an })
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	require.NoError(t, h.wait())
	assert.Equal(t, []float64{10, 50, 100}, h.router.percents())
	st := h.r.Status()
	assert.Equal(t, 100.0, st.Percent)
	assert.Equal(t, analysis.Pass, st.LastResult.Verdict)
	require.Len(t, st.History, 1)
	assert.Equal(t, rollback.OutcomeSucceeded, st.History[0].Outcome)
	h.until(func() bool { return h.has(EventSucceeded, -1) })
	assert.Equal(t, "started", h.kinds()[0])
	// Each step held its full minute even though analysis passed early.
	assert.GreaterOrEqual(t, st.FinishedAt.Sub(st.StartedAt), 2*time.Minute)
}

func TestFailedAnalysisRollsBack(t *testing.T) {
	an := &verdicts{f: func(n int, q analysis.Query) (analysis.Result, error) {
		if q.Step == 1 {
			return analysis.Result{Verdict: analysis.Fail, Reason: "canary 5xx rate 3.2% > limit 1%"}, nil
		}
		return analysis.Result{Verdict: analysis.Pass}, nil
	}}
	pol := &strategy.Analysis{Policy: analysis.Policy{Interval: 10 * time.Second}}
	h := newHarness(t, steps(
		strategy.Step{Percent: 10, Hold: time.Minute, Analysis: pol},
		strategy.Step{Percent: 50, Hold: time.Hour, Analysis: pol},
		strategy.Step{Percent: 80, Hold: time.Minute},
	), func(c *Config) { c.Analyzer = an })
	h.start()
	h.pump(time.Second, h.phase(RolledBack))
	require.NoError(t, h.wait())
	st := h.r.Status()
	assert.Equal(t, 0.0, h.router.canary())
	assert.Equal(t, []float64{10, 50, 0}, h.router.percents())
	assert.Contains(t, st.Reason, "analysis failed at step 2 of 3 (50.00%): canary 5xx rate 3.2% > limit 1%")
	assert.Equal(t, rollback.OutcomeRolledBack, st.History[0].Outcome)
	assert.False(t, st.History[0].FaultAt.IsZero())
}

func TestNoDataNeverPromotes(t *testing.T) {
	an := always(analysis.NoData, "canary n=3 below minimum 100")
	h := newHarness(t, steps(
		strategy.Step{Percent: 10, Hold: time.Minute, Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: 10 * time.Second}}},
	), func(c *Config) { c.Analyzer = an; c.ProgressDeadline = 5 * time.Minute })
	h.start()
	h.until(h.atStep(0))
	start := h.clk.Now()
	// Far past the hold but before the deadline: still waiting on step 0.
	h.pump(time.Second, func() bool { return h.clk.Now().Sub(start) >= 5*time.Minute })
	st := h.r.Status()
	require.Equal(t, Progressing, st.Phase)
	require.Equal(t, []float64{10}, h.router.percents())
	// Then the deadline rolls back with the reason.
	h.pump(time.Second, h.phase(RolledBack))
	assert.Contains(t, h.r.Status().Reason, "progress deadline 5m0s exceeded at step 1 of 1 (10.00%): analysis verdict still no_data (last: canary n=3 below minimum 100)")
	assert.Equal(t, 0.0, h.router.canary())
}

func TestRouterFailingHitsProgressDeadline(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute}),
		func(c *Config) { c.ProgressDeadline = 30 * time.Second })
	h.router.mu.Lock()
	h.router.failN = 1000 // every step apply fails...
	h.router.mu.Unlock()
	h.start()
	h.pump(time.Second, func() bool { return h.r.Status().Phase == RollingBack })
	h.router.mu.Lock()
	h.router.failN = 0 // ...and the rollback apply works
	h.router.mu.Unlock()
	h.pump(time.Second, h.phase(RolledBack))
	assert.Contains(t, h.r.Status().Reason, "progress deadline 30s exceeded at step 1 of 1: router keeps failing: router unavailable")
	assert.Greater(t, h.count(EventRouterError), 3)
}

func TestRollbackRetriedUntilRouterWorks(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10}), nil)
	h.start()
	h.until(h.atStep(0))
	h.router.mu.Lock()
	h.router.failAll = errors.New("haproxy socket gone")
	h.router.mu.Unlock()
	require.NoError(t, h.r.Pause()) // unrelated op must not matter
	go h.r.Abort(bg, "bad canary")
	h.pump(time.Second, func() bool { return h.count(EventRouterError) >= 3 })
	// Until the router answers, the state says the rollback is incomplete.
	assert.Equal(t, RollingBack, h.r.Status().Phase)
	h.router.mu.Lock()
	h.router.failAll = nil
	h.router.mu.Unlock()
	h.pump(time.Second, h.phase(RolledBack))
	assert.Equal(t, 0.0, h.router.canary())
}

// Every operation in every phase.
func TestOperationsByPhase(t *testing.T) {
	type op struct {
		name string
		do   func(r *Rollout) error
	}
	ops := []op{
		{"promote", func(r *Rollout) error { return r.Promote() }},
		{"promote_fully", func(r *Rollout) error { return r.PromoteFully() }},
		{"pause", func(r *Rollout) error { return r.Pause() }},
		{"resume", func(r *Rollout) error { return r.Resume() }},
		{"abort", func(r *Rollout) error { return r.Abort(bg, "manual abort") }},
		{"retry", func(r *Rollout) error { return r.Retry(bg) }},
	}
	// For each phase and operation: allowed?, and the phase it leads to.
	want := map[Phase]map[string]Phase{
		Pending:     {"abort": RolledBack},
		Progressing: {"promote": Progressing, "promote_fully": Succeeded, "pause": Paused, "abort": RolledBack},
		Paused:      {"promote": Progressing, "promote_fully": Succeeded, "resume": Progressing, "abort": RolledBack},
		Succeeded:   {},
		RolledBack:  {"retry": Pending},
	}
	twoSteps := func() strategy.Strategy {
		return steps(strategy.Step{Percent: 10}, strategy.Step{Percent: 50})
	}
	setup := map[Phase]func(h *harness){
		Pending:     func(h *harness) {},
		Progressing: func(h *harness) { h.start(); h.until(h.atStep(0)) },
		Paused: func(h *harness) {
			h.start()
			h.until(h.atStep(0))
			require.NoError(h.t, h.r.Pause())
			h.until(h.phase(Paused))
		},
		Succeeded: func(h *harness) {
			h.start()
			h.until(h.atStep(0))
			require.NoError(h.t, h.r.PromoteFully())
			h.until(h.phase(Succeeded))
		},
		RolledBack: func(h *harness) {
			h.start()
			h.until(h.atStep(0))
			require.NoError(h.t, h.r.Abort(bg, "setup"))
		},
	}
	for _, ph := range []Phase{Pending, Progressing, Paused, Succeeded, RolledBack} {
		for _, o := range ops {
			t.Run(ph.String()+"/"+o.name, func(t *testing.T) {
				h := newHarness(t, twoSteps(), nil)
				setup[ph](h)
				require.Equal(t, ph, h.r.Status().Phase)
				err := o.do(h.r)
				next, ok := want[ph][o.name]
				if !ok {
					require.ErrorIs(t, err, ErrPhase)
					assert.Contains(t, err.Error(), ph.String())
					assert.Equal(t, ph, h.r.Status().Phase, "a refused operation changes nothing")
					return
				}
				require.NoError(t, err)
				h.until(h.phase(next))
				switch {
				case o.name == "promote":
					h.until(h.atStep(1))
					h.until(func() bool { return h.router.canary() == 50 })
				case next == Succeeded:
					h.until(func() bool { return h.router.canary() == 100 })
				case next == RolledBack:
					assert.Equal(t, 0.0, h.router.canary())
					assert.Contains(t, h.r.Status().Reason, "manual abort")
				case next == Pending:
					// Retried: it runs again from the first step.
					require.NoError(t, h.wait())
					h.start()
					h.until(h.atStep(0))
					assert.Equal(t, 10.0, h.router.canary())
					h.until(func() bool { return h.count(EventRetried) == 1 })
					assert.Len(t, h.r.Status().History, 2)
				}
			})
		}
	}
}

func TestPauseStopsHoldAndDeadline(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute}),
		func(c *Config) { c.ProgressDeadline = time.Minute })
	h.start()
	h.until(h.atStep(0))
	require.NoError(t, h.r.Pause())
	h.until(h.phase(Paused))
	start := h.clk.Now()
	h.pump(5*time.Second, func() bool { return h.clk.Now().Sub(start) > 10*time.Minute })
	assert.Equal(t, Paused, h.r.Status().Phase, "no progress and no deadline while paused")
	require.NoError(t, h.r.Resume())
	h.pump(time.Second, h.phase(Succeeded))
	assert.Equal(t, 100.0, h.router.canary())
}

func TestHoldUntilPromoted(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 25, Hold: strategy.UntilPromoted}), func(c *Config) { c.UnboundedPromoteWait = true })
	h.start()
	h.until(h.atStep(0))
	start := h.clk.Now()
	h.pump(10*time.Second, func() bool { return h.clk.Now().Sub(start) > time.Hour })
	assert.Equal(t, Progressing, h.r.Status().Phase, "waits for a person, and the host said that is not lack of progress")
	require.NoError(t, h.r.Promote())
	h.until(h.phase(Succeeded))
}

func TestApprovalGate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  error
		want    Phase
		wantWhy string
	}{
		{"approved", nil, Succeeded, ""},
		{"denied", errors.New("change freeze"), RolledBack, "approval of step 1 of 1 denied: change freeze"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := make(chan int, 1)
			answer := make(chan error)
			h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute,
				Approve: func(ctx context.Context, i int, s strategy.Step) error {
					asked <- i
					return <-answer
				}}), nil)
			h.start()
			h.until(h.atStep(0))
			var idx int
			h.pump(time.Second, func() bool {
				select {
				case idx = <-asked:
					return true
				default:
					return false
				}
			})
			assert.Equal(t, 0, idx)
			assert.Equal(t, Progressing, h.r.Status().Phase, "waits for the gate")
			answer <- tc.answer
			h.until(h.phase(tc.want))
			assert.Contains(t, h.r.Status().Reason, tc.wantWhy)
		})
	}
}

func TestConsecutiveErrorsRollBack(t *testing.T) {
	an := &verdicts{f: func(int, analysis.Query) (analysis.Result, error) {
		return analysis.Result{}, errors.New("prometheus: dial tcp 127.0.0.1:9090: connection refused")
	}}
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Hour,
		Analysis: &strategy.Analysis{Analyzer: an, Policy: analysis.Policy{Interval: time.Second, ConsecutiveErrorLimit: 2}}}), nil)
	h.start()
	h.pump(time.Second, h.phase(RolledBack))
	assert.Equal(t, 3, an.calls, "limit 2 tolerates two errors in a row and rolls back on the third")
	assert.Contains(t, h.r.Status().Reason, "analysis errored 3 times in a row at step 1 of 1 (10.00%): prometheus: dial tcp")
}

func TestInconclusiveLimitPauses(t *testing.T) {
	an := always(analysis.NoData, "n=0")
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Minute,
		Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: time.Second, InconclusiveLimit: 2}}}),
		func(c *Config) { c.Analyzer = an })
	h.start()
	h.pump(time.Second, h.phase(Paused))
	h.until(func() bool { return h.has(EventPaused, 0) })
	h.mu.Lock()
	defer h.mu.Unlock()
	var paused Event
	for _, e := range h.events {
		if e.Kind == EventPaused {
			paused = e
		}
	}
	assert.Equal(t, "analysis inconclusive 3 times at step 1 of 1 (10.00%): n=0", paused.Reason, "limit 2 tolerates two, pauses on the third")
}

func TestTriggersRollBackOnceWithEveryReason(t *testing.T) {
	release := make(chan struct{})
	mk := func(reason string) rollback.Trigger {
		return rollback.TriggerFunc(func(ctx context.Context, tg rollback.Target, fire func(string)) error {
			<-release
			fire(reason + " on " + tg.Canary)
			<-ctx.Done()
			return nil
		})
	}
	h := newHarness(t, steps(strategy.Step{Percent: 10}), func(c *Config) {
		c.Triggers = []rollback.Trigger{mk("guard: 5xx"), mk("health check failed"), mk("webhook: incident")}
	})
	h.start()
	h.until(h.atStep(0))
	close(release)
	h.until(h.phase(RolledBack))
	require.NoError(t, h.wait()) // Run returns after every trigger has returned
	h.until(func() bool { return h.count(EventRolledBack) == 1 })
	assert.Equal(t, 1, h.count(EventRolledBack))
	st := h.r.Status()
	assert.ElementsMatch(t, []string{"guard: 5xx on v2", "health check failed on v2", "webhook: incident on v2"}, st.Reasons)
	assert.Equal(t, []float64{10, 0}, h.router.percents(), "exactly one rollback apply")
}

type gateFunc func(ctx context.Context, t rollback.Target) error

func (g gateFunc) Ready(ctx context.Context, t rollback.Target) error { return g(ctx, t) }

func TestGateHoldsTrafficBack(t *testing.T) {
	ready := make(chan error)
	h := newHarness(t, steps(strategy.Step{Percent: 0, Hold: time.Second}, strategy.Step{Percent: 10, Hold: time.Second}), func(c *Config) {
		c.Gate = gateFunc(func(ctx context.Context, t rollback.Target) error { return <-ready })
	})
	h.start()
	h.until(h.atStep(0)) // 0% needs no gate
	h.pump(time.Second, func() bool { return h.r.Status().Step == 0 && h.clk.Now().Sub(t0) > 10*time.Second })
	assert.Equal(t, []float64{0}, h.router.percents(), "no canary traffic before the gate opens")
	ready <- nil
	h.pump(time.Second, h.phase(Succeeded))
	assert.Equal(t, []float64{0, 10, 100}, h.router.percents())

	h2 := newHarness(t, steps(strategy.Step{Percent: 10}), func(c *Config) {
		c.Gate = gateFunc(func(ctx context.Context, t rollback.Target) error { return errors.New("healthz failed 3 times") })
	})
	h2.start()
	h2.until(h2.phase(RolledBack))
	assert.Contains(t, h2.r.Status().Reason, "canary not ready: healthz failed 3 times")
	assert.Equal(t, []float64{0}, h2.router.percents())
}

// A rollback demanded while a promotion is being applied wins.
func TestRollbackWinsRaceWithPromotion(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10}, strategy.Step{Percent: 50}), nil)
	h.start()
	h.until(h.atStep(0))
	gate, entered := h.router.block()
	require.NoError(t, h.r.PromoteFully())
	<-entered // the 100% apply is in flight
	aborted := make(chan error, 1)
	go func() { aborted <- h.r.Abort(bg, "guard fired") }()
	h.until(func() bool { return len(h.r.Status().Reasons) > 0 || h.r.rollbackPending() })
	close(gate)
	require.NoError(t, <-aborted)
	assert.Equal(t, RolledBack, h.r.Status().Phase)
	assert.Equal(t, 0.0, h.router.canary())
	assert.Equal(t, 0, h.count(EventSucceeded))
}

// Many rounds of promote, fully promote and abort racing: whatever order
// they land in, the router's route agrees with the final phase, and an
// Abort that returned nil always means rolled back.
func TestRacingOperations(t *testing.T) {
	for i := range 40 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h := newHarness(t, steps(strategy.Step{Percent: 10}, strategy.Step{Percent: 50}, strategy.Step{Percent: 90}), nil)
			h.start()
			h.until(h.atStep(0))
			var wg sync.WaitGroup
			var abortErr error
			wg.Add(4)
			go func() { defer wg.Done(); _ = h.r.Promote() }()
			go func() { defer wg.Done(); _ = h.r.PromoteFully() }()
			go func() { defer wg.Done(); abortErr = h.r.Abort(bg, "abort") }()
			go func() { defer wg.Done(); h.fire("guard") }()
			wg.Wait()
			require.NoError(t, h.wait())
			st := h.r.Status()
			switch st.Phase {
			case RolledBack:
				assert.Equal(t, 0.0, h.router.canary())
			case Succeeded:
				assert.Equal(t, 100.0, h.router.canary())
				assert.Error(t, abortErr)
			default:
				t.Fatalf("phase %s", st.Phase)
			}
			if abortErr == nil {
				assert.Equal(t, RolledBack, st.Phase)
			}
		})
	}
}

func TestLateAnalysisResultDiscarded(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	an := &verdicts{f: func(int, analysis.Query) (analysis.Result, error) {
		started <- struct{}{}
		<-release
		return analysis.Result{Verdict: analysis.Pass, Reason: "late pass"}, nil
	}}
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second,
		Analysis: &strategy.Analysis{Analyzer: an, Policy: analysis.Policy{Interval: time.Second}}}), nil)
	h.start()
	h.until(h.atStep(0))
	<-started
	require.NoError(t, h.r.Abort(bg, "operator"))
	close(release)
	require.NoError(t, h.wait())
	st := h.r.Status()
	assert.Equal(t, RolledBack, st.Phase)
	assert.Equal(t, analysis.NoData, st.LastResult.Verdict, "the late pass is not recorded")
	assert.Equal(t, 0, h.count(EventAnalysis))
}

func TestSlowEventCallbackDoesNotStall(t *testing.T) {
	block := make(chan struct{})
	var got []EventKind
	var mu sync.Mutex
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second}, strategy.Step{Percent: 50, Hold: time.Second}), func(c *Config) {
		c.OnEvent = func(e Event) {
			<-block
			mu.Lock()
			got = append(got, e.Kind)
			mu.Unlock()
		}
	})
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	close(block)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[len(got)-1] == EventSucceeded
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, []EventKind{EventStarted, EventStepStarted, EventStepStarted, EventSucceeded}, got, "in order")
}

func TestRampedRollbackAndWindow(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 80}), func(c *Config) {
		c.RollbackSteps = []float64{50, 20}
		c.RollbackStepHold = 10 * time.Second
	})
	h.start()
	h.until(h.atStep(0))
	go h.r.Abort(bg, "ramp down")
	h.pump(time.Second, h.phase(RolledBack))
	assert.Equal(t, []float64{80, 50, 20, 0}, h.router.percents())

	h2 := newHarness(t, steps(strategy.Step{Percent: 50, Hold: time.Second}), func(c *Config) { c.RollbackWindow = time.Hour })
	h2.start()
	h2.pump(time.Second, h2.phase(Succeeded))
	h2.clk.Advance(30 * time.Minute)
	require.NoError(t, h2.r.Abort(bg, "regression found after release"))
	assert.Equal(t, RolledBack, h2.r.Status().Phase)
	assert.Equal(t, []float64{50, 100, 0}, h2.router.percents(), "one Apply back to stable")
	assert.Equal(t, rollback.OutcomeRolledBack, h2.r.Status().History[0].Outcome)

	h3 := newHarness(t, steps(strategy.Step{Percent: 50, Hold: time.Second}), func(c *Config) { c.RollbackWindow = time.Hour })
	h3.start()
	h3.pump(time.Second, h3.phase(Succeeded))
	h3.clk.Advance(2 * time.Hour)
	require.ErrorIs(t, h3.r.Abort(bg, "too late"), ErrPhase)
}

func TestInvalidStepFromStrategyRollsBack(t *testing.T) {
	// New sees the invalid step in the plan.
	_, err := New(bg, Config{Stable: "v1", Canary: "v2", Router: newFakeRouter(),
		Strategy: steps(strategy.Step{Percent: 10}, strategy.Step{Percent: 150})})
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, "step 2 of 2 (steps[1]): steps[1].percent: 150 is over 100")

	// A strategy that adapts to evidence can still yield one at run time.
	adaptive := strategy.Func(func(p strategy.Progress) (strategy.Step, bool) {
		switch {
		case p.Index == 0:
			return strategy.Step{Percent: 10, Hold: strategy.UntilPromoted}, false
		case p.Index == 1 && p.Last.Verdict != analysis.Pass:
			return strategy.Step{Percent: 150}, false
		}
		return strategy.Step{}, p.Index > 1
	})
	h := newHarness(t, adaptive, nil)
	h.start()
	h.until(h.atStep(0))
	require.NoError(t, h.r.Promote())
	h.until(h.phase(RolledBack))
	assert.Contains(t, h.r.Status().Reason, "invalid step 2 of 2 from strategy: steps[1].percent: 150 is over 100")
}

func TestConfigValidation(t *testing.T) {
	_, err := New(bg, Config{Stable: "latest", Canary: "latest", ProgressDeadline: -1, HistoryLimit: -2,
		RollbackSteps: []float64{20, 50, 101}})
	require.ErrorIs(t, err, ErrInvalidConfig)
	for _, want := range []string{
		`stable: "latest" is not an immutable release name`,
		`canary: "latest" is not an immutable release name`,
		`canary: "latest" is the same as stable`,
		"strategy: missing", "router: missing",
		"progress deadline: -1ns is negative",
		"history limit: -2 is below 1",
		"rollback steps[1]: 50 does not decrease from 20",
		"rollback steps[2]: 101 is outside [0,100]",
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = New(bg, Config{Stable: "", Canary: "v 2", Strategy: steps(), Router: newFakeRouter()})
	assert.ErrorContains(t, err, "stable: version label is empty")
	assert.ErrorContains(t, err, `canary: "v 2" contains white space`)
}

func TestEventsCarryStepAndReasons(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Name: "ten", Percent: 10}), nil)
	h.start()
	h.until(h.atStep(0))
	require.NoError(t, h.r.Abort(bg, "because"))
	h.until(func() bool { return h.has(EventRolledBack, -1) })
	h.mu.Lock()
	defer h.mu.Unlock()
	var names []string
	for _, e := range h.events {
		names = append(names, e.String())
	}
	joined := strings.Join(names, "\n")
	assert.Contains(t, joined, "step_started step 1 of 1 canary=10.00% phase=progressing: ten")
	assert.Contains(t, joined, "rolling_back step 1 of 1 canary=0.00% phase=rolling_back: because")
	assert.Contains(t, joined, "rolled_back step 1 of 1 canary=0.00% phase=rolled_back: because")
}

var _ traffic.Router = (*fakeRouter)(nil)

func TestRollbackToKeptRevision(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second}), func(c *Config) { c.HistoryLimit = 2 })
	require.ErrorIs(t, h.r.RollbackTo(bg, "v1"), ErrPhase, "not while pending")
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	require.NoError(t, h.wait())
	require.ErrorContains(t, h.r.RollbackTo(bg, "v0"), `"v0": version is not in the kept history`)
	require.ErrorContains(t, h.r.RollbackTo(bg, "v2"), "already live")
	require.NoError(t, h.r.RollbackTo(bg, "v1"))
	cur, _ := h.router.Current(bg)
	assert.Equal(t, 100.0, cur.Percent("v1"))
	st := h.r.Status()
	assert.Equal(t, RolledBack, st.Phase)
	assert.Contains(t, st.Reason, "rolled back from v2 to v1")
	require.Len(t, st.History, 2)
	assert.Equal(t, rollback.OutcomeRolledBack, st.History[0].Outcome)
	assert.Equal(t, "v1", st.History[1].Version)
}

// The strategy is told the same Progress after a restart as before it.
func TestProgressSurvivesRestart(t *testing.T) {
	st := &memStore{}
	var seen []strategy.Progress
	var mu sync.Mutex
	strat := strategy.Func(func(p strategy.Progress) (strategy.Step, bool) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
		return strategy.Step{Percent: float64(10 * (p.Index + 1)), Hold: strategy.UntilPromoted,
			Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: time.Second}}}, p.Index >= 2
	})
	an := &verdicts{f: func(n int, q analysis.Query) (analysis.Result, error) {
		return analysis.Result{Verdict: analysis.Pass, Reason: fmt.Sprintf("step %d", q.Step)}, nil
	}}
	h := newHarness(t, strat, func(c *Config) { c.Store = st; c.Analyzer = an })
	h.start()
	h.pump(time.Second, func() bool { return h.has(EventAnalysis, 0) })
	require.NoError(t, h.r.Promote())
	h.until(h.atStep(1))
	h.stop()
	mu.Lock()
	before := seen[len(seen)-1]
	mu.Unlock()
	assert.Equal(t, 1, before.Index)
	assert.Equal(t, 10.0, before.Percent)
	assert.Equal(t, "step 0", before.Last.Reason)

	// A new process: same store, same question.
	h2 := newHarness(t, strat, func(c *Config) { c.Store = st; c.Analyzer = an })
	h2.start()
	h2.until(h2.atStep(1))
	mu.Lock()
	after := seen[len(seen)-1]
	mu.Unlock()
	assert.Equal(t, before.Index, after.Index)
	assert.Equal(t, before.Percent, after.Percent)
	assert.Equal(t, before.Last.Reason, after.Last.Reason)
}

// memStore is a Store in memory that copies like a real one would.
type memStore struct {
	mu sync.Mutex
	b  []byte
}

func (m *memStore) Load(context.Context) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b == nil {
		return State{}, ErrNoState
	}
	var s State
	err := json.Unmarshal(m.b, &s)
	return s, err
}

func (m *memStore) Save(_ context.Context, s State) error {
	b, err := json.Marshal(s)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = b
	return err
}
