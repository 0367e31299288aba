package ramp

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/rollback"
)

// The driver carries out the machine's effects in order, on one goroutine,
// so that every effect is preceded by the save that licenses it. It holds
// r.mu only to take the next effect or to feed an input to the machine;
// saves, Applies, analyses and events all happen outside it.

// input feeds in to the machine and queues its effects. It never blocks on
// I/O. A rollout whose store failed refuses every input with that error.
func (r *Rollout) input(in input) error {
	r.mu.Lock()
	if r.broken != nil {
		r.mu.Unlock()
		return r.broken
	}
	effs, err := r.m.handle(r.clk.Now(), in)
	r.outbox = append(r.outbox, effs...)
	r.mu.Unlock()
	r.poke()
	return err
}

func (r *Rollout) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// next takes the next effect. Saves queued back to back are merged into
// the last of them: it supersedes the others and nothing acted in between.
func (r *Rollout) next() (effect, bool) {
	if len(r.outbox) == 0 {
		return nil, false
	}
	e := r.outbox[0]
	r.outbox = r.outbox[1:]
	if _, ok := e.(effSave); ok {
		for len(r.outbox) > 0 {
			s, ok := r.outbox[0].(effSave)
			if !ok {
				break
			}
			e, r.outbox = s, r.outbox[1:]
		}
	}
	return e, true
}

// driveUntil says when a driver is done.
type driveUntil int

const (
	untilEnded driveUntil = iota // a Run: the rollout has ended
	untilIdle                    // an operation with no Run: no rollback or Apply in progress
	untilEmpty                   // what is queued is carried out
)

// drive carries out effects until there is nothing left to do (see
// driveUntil).
func (r *Rollout) drive(ctx context.Context, until driveUntil) error {
	w := &workCtx{}
	w.renew(ctx)
	defer w.cancel()
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.mu.Lock()
		if r.broken != nil {
			r.mu.Unlock()
			return r.broken
		}
		e, ok := r.next()
		if ok {
			r.mu.Unlock()
			if _, isCancel := e.(effCancel); isCancel {
				w.renew(ctx)
				continue
			}
			if err := r.exec(ctx, w.ctx, e); err != nil {
				return err
			}
			continue
		}
		if r.finished(until) {
			r.mu.Unlock()
			return nil
		}
		wake := r.m.wakeAt()
		r.mu.Unlock()
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		var tc <-chan time.Time
		if !wake.IsZero() {
			timer = r.clk.NewTimer(wake.Sub(r.clk.Now()))
			tc = timer.C()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.kick:
		case <-tc:
			_ = r.input(inTick{})
		}
	}
}

// workCtx is the context of the analyses and gates of one generation.
type workCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *workCtx) renew(parent context.Context) {
	if w.cancel != nil {
		w.cancel()
	}
	w.ctx, w.cancel = context.WithCancel(parent)
}

// finished: this driver has nothing more to do (r.mu held, outbox empty).
func (r *Rollout) finished(until driveUntil) bool {
	switch until {
	case untilEnded:
		retried := r.m.st.Phase == Pending && r.m.stage != stWindow
		return (r.m.st.Phase.Done() || retried) && !r.m.applying
	case untilIdle:
		return !r.m.busy()
	}
	return true
}

// exec carries out one effect.
func (r *Rollout) exec(ctx, work context.Context, e effect) error {
	switch e := e.(type) {
	case effSave:
		return r.save(ctx, e.st)
	case effEmit:
		r.events.push(e.ev)
	case effApply:
		err := r.cfg.Router.Apply(ctx, e.route)
		if err != nil && r.cfg.Logger != nil && e.rb {
			r.cfg.Logger.Error("ramp: rollback incomplete", "canary", r.cfg.Canary, "err", err)
		}
		_ = r.input(inApplied{err: err})
	case effAnalyze:
		q := e.q
		if now := r.clk.Now(); now.After(q.Until) {
			q.Until = now // the window ends when the measurement is taken
		}
		go func() {
			res, err := e.analyzer.Analyze(work, q)
			_ = r.input(inMeasured{gen: e.gen, res: res, err: err})
		}()
	case effGate:
		go func() {
			err := r.cfg.Gate.Ready(work, rollback.Target{Stable: r.cfg.Stable, Canary: r.cfg.Canary})
			_ = r.input(inGate{gen: e.gen, err: err})
		}()
	case effApprove:
		go func() {
			err := e.step.Approve(work, e.idx, e.step)
			_ = r.input(inApproved{gen: e.gen, err: err})
		}()
	}
	return nil
}

// save persists st, then publishes it: Status never shows a state that
// was not saved. A failed save stops the rollout where it was last saved.
func (r *Rollout) save(ctx context.Context, st State) error {
	if r.cfg.Store != nil {
		if err := r.cfg.Store.Save(context.WithoutCancel(ctx), st); err != nil {
			err = fmt.Errorf("%w: %w", ErrStore, err)
			r.mu.Lock()
			r.broken = err
			r.outbox = nil
			r.mu.Unlock()
			r.events.push(Event{Kind: EventStoreError, Time: r.clk.Now(), Phase: r.Status().Phase, Step: r.Status().Step, Reason: err.Error()})
			r.publish(r.lastSaved(), err)
			return err
		}
	}
	r.publish(st, nil)
	return nil
}

func (r *Rollout) lastSaved() State {
	if p := r.saved.Load(); p != nil {
		return *p
	}
	return State{}
}

// publish makes st what Status reports and wakes Changed.
func (r *Rollout) publish(st State, err error) {
	st = st.clone()
	r.saved.Store(&st)
	s := statusOf(st, r.plan.total())
	s.Err = err
	r.snap.Store(&s)
	r.chMu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.chMu.Unlock()
}

func statusOf(s State, total int) Status {
	reason := strings.Join(s.Reasons, "; ")
	switch {
	case s.Phase == Paused && s.PauseReason != "":
		reason = s.PauseReason
	case s.WaitReason != "" && !s.Phase.Done():
		reason = s.WaitReason
	}
	return Status{
		Stable: s.Stable, Canary: s.Canary, Phase: s.Phase, Step: s.Step, Steps: total, Percent: s.Percent, Target: s.Target,
		LastResult: s.LastResult, Reason: reason, Reasons: s.Reasons, Waiting: s.WaitReason,
		StartedAt: s.StartedAt, StepStartedAt: s.StepStartedAt, UpdatedAt: s.UpdatedAt, FinishedAt: s.FinishedAt,
		Live: s.Live, History: s.History, Overrides: s.Overrides,
	}
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
	idle     chan struct{} // closed when the queue is empty and delivered
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
		e.idle = make(chan struct{})
		go e.drain()
	}
}

func (e *eventQueue) drain() {
	for {
		e.mu.Lock()
		if len(e.q) == 0 {
			e.draining = false
			close(e.idle)
			e.mu.Unlock()
			return
		}
		ev := e.q[0]
		e.q = e.q[1:]
		e.mu.Unlock()
		e.deliver(ev)
	}
}

// flush waits until every event pushed so far was delivered, or ctx ends.
func (e *eventQueue) flush(ctx context.Context) {
	e.mu.Lock()
	idle := e.idle
	draining := e.draining
	e.mu.Unlock()
	if !draining {
		return
	}
	select {
	case <-idle:
	case <-ctx.Done():
	}
}
