package ramp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// fakeRouter records applied routes. It can fail or block on demand.
type fakeRouter struct {
	mu      sync.Mutex
	cur     traffic.Route
	applied []traffic.Route
	failN   int   // fail the next failN applies
	failAll error // fail every apply with this error
	gate    chan struct{}
	entered chan struct{}
}

func newFakeRouter() *fakeRouter { return &fakeRouter{} }

func (f *fakeRouter) Apply(ctx context.Context, r traffic.Route) error {
	f.mu.Lock()
	gate, entered := f.gate, f.entered
	f.mu.Unlock()
	if entered != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAll != nil {
		return f.failAll
	}
	if f.failN > 0 {
		f.failN--
		return errors.New("router unavailable")
	}
	if err := r.Validate(nil); err != nil {
		return err
	}
	f.cur = r.Clone()
	f.applied = append(f.applied, r.Clone())
	return nil
}

// block makes every later Apply wait until gate is closed (or its ctx
// ends); entered receives a value when an Apply starts waiting.
func (f *fakeRouter) block() (gate chan struct{}, entered chan struct{}) {
	gate, entered = make(chan struct{}), make(chan struct{}, 1)
	f.mu.Lock()
	f.gate, f.entered = gate, entered
	f.mu.Unlock()
	return gate, entered
}

func (f *fakeRouter) Current(context.Context) (traffic.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur.Clone(), nil
}

func (f *fakeRouter) canary() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur.Percent("v2")
}

func (f *fakeRouter) percents() []float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ps []float64
	for _, r := range f.applied {
		ps = append(ps, r.Percent("v2"))
	}
	return ps
}

// steps is a fixed list strategy (the strategy package has the real ones).
func steps(ss ...strategy.Step) strategy.Strategy {
	return strategy.Func(func(p strategy.Progress) (strategy.Step, bool) {
		if p.Index >= len(ss) {
			return strategy.Step{}, true
		}
		return ss[p.Index], false
	})
}

// verdicts is an analyzer that answers from a function of the call count.
type verdicts struct {
	mu    sync.Mutex
	calls int
	f     func(call int, q analysis.Query) (analysis.Result, error)
}

func (v *verdicts) Analyze(ctx context.Context, q analysis.Query) (analysis.Result, error) {
	v.mu.Lock()
	v.calls++
	n := v.calls
	v.mu.Unlock()
	return v.f(n, q)
}

func always(verdict analysis.Verdict, reason string) *verdicts {
	return &verdicts{f: func(int, analysis.Query) (analysis.Result, error) {
		return analysis.Result{Verdict: verdict, Reason: reason}, nil
	}}
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

type harness struct {
	t      *testing.T
	clk    *clock.Fake
	router *fakeRouter
	r      *Rollout
	done   chan error
	cancel context.CancelFunc

	mu     sync.Mutex
	events []Event
}

func newHarness(t *testing.T, strat strategy.Strategy, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0), router: newFakeRouter()}
	cfg := Config{
		Stable: "v1", Canary: "v2", Strategy: strat, Router: h.router, Clock: h.clk,
		OnEvent: func(e Event) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	if f, ok := cfg.Clock.(*clock.Fake); ok {
		h.clk = f
	}
	r, err := New(context.Background(), cfg)
	require.NoError(t, err)
	h.r = r
	return h
}

func (h *harness) start() {
	done := make(chan error, 1)
	h.done = done
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			done <- err
		case <-time.After(5 * time.Second):
			h.t.Error("Run did not return after cancel")
		}
	})
	go func() { done <- h.r.Run(ctx) }()
}

// pump advances virtual time in small steps until cond holds. Real time is
// only spent letting goroutines run, never standing in for a duration.
func (h *harness) pump(step time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("condition not reached; status %+v; events %v", h.r.Status(), h.kinds())
		}
		h.clk.Advance(step)
		time.Sleep(100 * time.Microsecond)
	}
}

// until waits (without moving time) for cond.
func (h *harness) until(cond func() bool) {
	h.t.Helper()
	h.pump(0, cond)
}

func (h *harness) phase(p Phase) func() bool {
	return func() bool { return h.r.Status().Phase == p }
}

func (h *harness) atStep(i int) func() bool {
	return func() bool {
		s := h.r.Status()
		// The step is in force once the router confirmed its share.
		return s.Step == i && s.Percent == s.Target && h.has(EventStepStarted, i)
	}
}

func (h *harness) has(kind EventKind, step int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Kind == kind && (step < 0 || e.Step == step) {
			return true
		}
	}
	return false
}

func (h *harness) count(kind EventKind) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (h *harness) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ks []string
	for _, e := range h.events {
		ks = append(ks, e.Kind.String())
	}
	return ks
}

func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // keep it for Cleanup
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatalf("Run did not return; status %+v", h.r.Status())
		return nil
	}
}

// stop ends Run as a process exit would, leaving the saved state as it is.
func (h *harness) stop() {
	h.cancel()
	_ = h.wait()
}

// fire is what a trigger of the current Run does.
func (h *harness) fire(reason string) {
	h.r.mu.Lock()
	id := h.r.m.runID
	h.r.mu.Unlock()
	h.r.fire(id, reason)
}

// rollbackPending: the machine has decided to roll back (the decision may
// not be saved yet).
func (r *Rollout) rollbackPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.st.Phase == RollingBack
}
