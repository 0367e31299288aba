package ramp

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/traffic"
)

// --- operations ---

func (m *machine) opPromote(fully bool) error {
	op := "promote"
	if fully {
		op = "promote fully"
	}
	if !m.inForward() {
		return fmt.Errorf("%w: %s in phase %s", ErrPhase, op, m.st.Phase)
	}
	if fully {
		m.full = true
	} else {
		m.promote = true
	}
	m.evaluate()
	return nil
}

func (m *machine) opPause() error {
	if m.st.Phase != Progressing {
		return fmt.Errorf("%w: pause in phase %s", ErrPhase, m.st.Phase)
	}
	m.transition(Paused)
	m.st.PausedAt, m.st.PauseReason = m.now, "paused manually"
	m.save()
	m.emit(EventPaused, "paused manually")
	m.measure() // measurements go on while paused (the result was discarded)
	return nil
}

func (m *machine) opResume() error {
	if m.st.Phase != Paused {
		return fmt.Errorf("%w: resume in phase %s", ErrPhase, m.st.Phase)
	}
	m.resume()
	m.save()
	m.emit(EventResumed, "")
	if m.stage == stGate && m.running {
		m.askGate(m.afterGate) // the pause made the question moot
	}
	m.evaluate()
	return nil
}

// resume moves a paused rollout back to progressing; the time paused is
// added to the hold and does not count toward the progress deadline.
func (m *machine) resume() {
	pausedFor := m.now.Sub(m.st.PausedAt)
	if m.st.PausedAt.IsZero() {
		pausedFor = 0
	}
	m.transition(Progressing)
	m.st.PausedAt, m.st.PauseReason = time.Time{}, ""
	if !m.st.StepStartedAt.IsZero() {
		m.st.StepStartedAt = m.st.StepStartedAt.Add(pausedFor)
	}
	m.holdEnd = m.holdEnd.Add(pausedFor)
	if !m.dueAt.IsZero() {
		m.dueAt = m.now
	}
	m.tally.Inconclusive = 0 // a person decided; the count starts over
}

func (m *machine) opAbort(reason string) error {
	switch ph := m.st.Phase; {
	case ph == Succeeded:
		if m.cfg.RollbackWindow == 0 || m.now.Sub(m.st.FinishedAt) > m.cfg.RollbackWindow {
			return fmt.Errorf("%w: abort in phase %s: outside the rollback window (%v)", ErrPhase, ph, m.cfg.RollbackWindow)
		}
	case ph == RolledBack:
		return fmt.Errorf("%w: abort in phase %s", ErrPhase, ph)
	}
	m.rollback(reason)
	return nil
}

func (m *machine) opRetry() error {
	if m.st.Phase != RolledBack || m.applying {
		return fmt.Errorf("%w: retry in phase %s", ErrPhase, m.st.Phase)
	}
	m.transition(Pending)
	m.st = State{Version: StateVersion, Stable: m.cfg.Stable, Canary: m.cfg.Canary, Phase: Pending, Step: -1, History: m.st.History, Overrides: m.st.Overrides}
	m.clearRequests()
	m.runID++ // the triggers of the last Run no longer count
	m.watching = false
	m.save()
	m.emit(EventRetried, "")
	return nil // the next Run starts it

}

func (m *machine) opRollbackTo(version string) error {
	if !m.st.Phase.Done() || m.applying {
		return fmt.Errorf("%w: rollback to %q in phase %s: abort the rollout first", ErrPhase, version, m.st.Phase)
	}
	known := version == m.cfg.Stable
	for _, rev := range m.st.History {
		known = known || rev.Version == version || rev.Previous == version
	}
	if !known {
		return fmt.Errorf("ramp: rollback to %q: version is not in the kept history", version)
	}
	live := m.st.Live
	if live == "" {
		live = map[Phase]string{Succeeded: m.cfg.Canary, RolledBack: m.cfg.Stable}[m.st.Phase]
	}
	if version == live {
		return fmt.Errorf("ramp: rollback to %q: it is already live", version)
	}
	reason := fmt.Sprintf("rolled back from %s to %s", live, version)
	m.transition(RollingBack)
	m.st.Live, m.st.RollbackTarget = live, version
	m.st.Reasons = append(m.st.Reasons, reason)
	final := 0.0
	if version == m.cfg.Canary {
		final = 100
	}
	m.ramp, m.rbRoute, m.st.Target = []float64{final}, traffic.Route{Weights: []traffic.Weight{{Backend: version, Percent: 100}}}, final
	m.save()
	m.emit(EventRollingBack, reason)
	m.rollbackNext()
	return nil
}

func (m *machine) clearRequests() {
	m.promote, m.full = false, false
	m.stage, m.winAt = stIdle, time.Time{}
}

// --- triggers ---

func (m *machine) onFire(runID uint64, reason string) {
	switch {
	case runID != m.runID:
		// A trigger of an earlier run, still winding down.
	case m.st.Phase == RolledBack && m.watching:
		// Fired with the trigger that rolled back: keep the reason.
		if !slices.Contains(m.st.Reasons, reason) {
			m.st.Reasons = append(m.st.Reasons, reason)
			m.save()
		}
	case m.st.Phase.Done():
	default:
		m.rollback(reason)
	}
}

func (m *machine) onTriggerDied(in inTriggerDied) {
	if in.runID != m.runID || m.st.Phase.Done() {
		return
	}
	reason := fmt.Sprintf("trigger %d stopped: %v", in.i, in.err)
	m.emit(EventTriggerError, reason)
	if !m.cfg.KeepGoingOnTriggerError {
		m.rollback(reason + " (the rollout would be unguarded)")
	}
}

// --- results ---

func (m *machine) onApplied(err error) {
	if !m.applying {
		return
	}
	m.applying = false
	if q := m.queued; q != nil {
		// An Apply a stopped Run left behind: note what it did, then ask
		// for the route the machine wants now.
		m.queued = nil
		if err == nil && m.st.Percent != m.applyPct {
			m.st.Percent = m.applyPct
			m.save()
		}
		m.issue(*q)
		return
	}
	if m.st.Phase == RollingBack {
		m.onRollbackApplied(err)
		return
	}
	if err == nil {
		m.st.Percent = m.applyPct
	}
	if !m.running || !m.inForward() {
		if err == nil {
			m.save()
		}
		return
	}
	if err != nil {
		m.onApplyFailed(err)
		return
	}
	m.save()
	switch m.stage {
	case stApply:
		m.inHold()
	case stFinal:
		m.succeed()
	}
}

// onApplyFailed schedules the retry of a forward Apply with backoff, or
// rolls back once the progress deadline has passed: the one retry policy
// for router calls (a rollback's Apply is retried the same way, without a
// deadline).
func (m *machine) onApplyFailed(err error) {
	where := m.stepName(m.idx)
	if m.stage == stFinal {
		where = "promotion"
	}
	m.emit(EventRouterError, fmt.Sprintf("%s: apply route: %v (retrying in %v)", where, err, m.backoff))
	if !m.now.Before(m.stageAt.Add(m.cfg.ProgressDeadline)) {
		m.rollback(fmt.Sprintf("progress deadline %v exceeded at %s: router keeps failing: %v", m.cfg.ProgressDeadline, where, err))
		return
	}
	m.retryLater()
}

func (m *machine) retryLater() {
	m.retryAt = m.now.Add(m.backoff)
	m.backoff = min(m.backoff*2, maxBackoff)
}

func (m *machine) onMeasured(in inMeasured) {
	if in.gen != m.gen || m.stage != stHold {
		return // a late result, after a rollback, a pause or the step's end
	}
	m.measuring = false
	res := in.res
	if in.err != nil {
		res = analysis.Result{Verdict: analysis.Error, Reason: in.err.Error()}
	}
	if res.At.IsZero() {
		res.At = m.now
	}
	m.tally.Add(res.Verdict)
	if res.Verdict == analysis.Pass && !m.dueAt.IsZero() {
		m.dueAt = m.now // passes still coming in are progress
	}
	m.st.LastResult = res
	m.save()
	rc := res
	m.emitEvent(Event{Kind: EventAnalysis, Result: &rc, Reason: res.Reason})
	where := fmt.Sprintf("%s (%.2f%%)", m.stepName(m.idx), m.step.Percent)
	switch m.tally.Outcome(m.step.Analysis.Policy) {
	case analysis.Failed:
		m.rollback(fmt.Sprintf("analysis failed at %s: %s", where, res.Reason))
		return
	case analysis.Errored:
		m.rollback(fmt.Sprintf("analysis errored %d times in a row at %s: %s", m.tally.ConsecutiveErrors, where, res.Reason))
		return
	case analysis.Inconclusive:
		if m.st.Phase == Progressing {
			reason := fmt.Sprintf("analysis inconclusive %d times at %s: %s", m.tally.Inconclusive, where, res.Reason)
			m.tally.Inconclusive = 0 // a person decides; on resume the count starts over
			m.transition(Paused)
			m.st.PausedAt, m.st.PauseReason = m.now, reason
			m.save()
			m.emit(EventPaused, reason)
			m.measure()
			return
		}
	}
	m.evaluate()
}

func (m *machine) onGate(in inGate) {
	if in.gen != m.gen || m.stage != stGate {
		return
	}
	if in.err != nil {
		m.rollback(fmt.Sprintf("canary not ready: %v", in.err))
		return
	}
	m.st.GatePassed = true
	m.save()
	switch m.afterGate {
	case gateThenFinal:
		m.final()
	case gateThenResumed:
		m.enterStep(true)
	default:
		m.enterStep(false)
	}
}

func (m *machine) onApproved(in inApproved) {
	if in.gen != m.gen || !m.approving {
		return
	}
	m.approving = false
	if in.err != nil {
		m.rollback(fmt.Sprintf("approval of %s denied: %v", m.stepName(m.idx), in.err))
		return
	}
	m.appOK = true
	m.evaluate()
}

func (m *machine) onTick() {
	if !m.applying && !m.retryAt.IsZero() && !m.now.Before(m.retryAt) {
		m.retryAt = time.Time{}
		m.reapply()
		return
	}
	if !m.applying && !m.rampAt.IsZero() && !m.now.Before(m.rampAt) {
		m.rampAt = time.Time{}
		m.rollbackNext()
		return
	}
	if m.running && m.stage == stWindow && !m.winAt.IsZero() && !m.now.Before(m.winAt) {
		m.winAt = time.Time{}
		m.afterWindow()
		return
	}
	if !m.running || !m.inForward() {
		return
	}
	switch m.stage {
	case stGate:
		if !m.now.Before(m.stageAt.Add(m.cfg.ProgressDeadline)) {
			m.rollback(fmt.Sprintf("canary not ready: readiness gate gave no answer within the progress deadline %v", m.cfg.ProgressDeadline))
		}
	case stHold:
		m.evaluate()
	}
}

// reapply retries the Apply that failed.
func (m *machine) reapply() {
	switch {
	case m.st.Phase == RollingBack:
		m.rollbackNext()
	case !m.running || !m.inForward():
	case m.stage == stApply:
		m.apply(m.step.Route(m.cfg.Stable, m.cfg.Canary), m.step.Percent)
	case m.stage == stFinal:
		m.apply(traffic.Split(m.cfg.Stable, m.cfg.Canary, 100), 100)
	}
}

// --- the window ---

// windowOpen asks the deployment window whether the rollout may enter
// step idx (-1: start; the plan's length: the final promotion). Closed: the
// machine waits in stWindow, saying why.
func (m *machine) windowOpen(idx int) bool {
	if m.cfg.Window == nil {
		return true
	}
	d := m.cfg.Window.Check(m.now)
	if !d.Open {
		m.stage = stWindow
		m.winAt = d.Next
		if m.winAt.IsZero() || !m.winAt.After(m.now) {
			m.winAt = m.now.Add(m.cfg.WindowRecheck)
		}
		reason := "deployment window closed: " + reasonOr(d.Reason, "no reason given")
		if m.st.WaitReason != reason {
			m.st.WaitReason = reason
			m.save()
			m.emit(EventWindowClosed, reason)
		}
		return false
	}
	if m.st.WaitReason != "" {
		m.st.WaitReason = ""
		m.save()
	}
	if o := d.Override; o != nil {
		ov := Override{Who: o.Who, Why: o.Why, At: o.At, Reason: d.Reason, Step: idx}
		if !slices.ContainsFunc(m.st.Overrides, func(x Override) bool {
			return x.Who == ov.Who && x.Why == ov.Why && x.At.Equal(ov.At) && x.Step == ov.Step
		}) {
			m.st.Overrides = append(m.st.Overrides, ov)
			m.save()
			m.emit(EventWindowOverride, fmt.Sprintf("window overridden by %s: %s", o.Who, o.Why))
		}
	}
	return true
}

// afterWindow asks again what the window held back.
func (m *machine) afterWindow() {
	switch {
	case m.st.Phase == Pending:
		m.begin()
	case m.finalHeld:
		m.final()
	default:
		m.advance()
	}
}

// --- rolling back ---

// rollback is how every rollback starts, and it disarms any pending
// promotion: rollback wins. The demand is saved once, then the first
// Apply toward stable follows at once (or as soon as the Apply in flight
// returns).
func (m *machine) rollback(reason string) {
	if m.st.Phase == RollingBack {
		if !slices.Contains(m.st.Reasons, reason) {
			m.st.Reasons = append(m.st.Reasons, reason)
			m.save()
		}
		if !m.applying && m.retryAt.IsZero() && m.rampAt.IsZero() {
			m.rollbackNext() // nothing was carrying it on (its Run stopped)
		}
		return
	}
	m.fromFinal = m.st.Phase == Succeeded
	m.clearRequests()
	m.queued = nil
	m.transition(RollingBack)
	m.st.PausedAt, m.st.PauseReason, m.st.WaitReason = time.Time{}, "", ""
	m.st.Reasons = append(m.st.Reasons, reason)
	if m.st.StartedAt.IsZero() {
		m.st.StartedAt = m.now
	}
	m.st.History = m.history(func(h *rollback.History) error { return h.Fault(m.cfg.Canary, m.now) })
	m.ramp, m.rbRoute = nil, traffic.Route{}
	m.planRamp()
	m.st.Target = m.ramp[0]
	m.save()
	m.emit(EventRollingBack, strings.Join(m.st.Reasons, "; "))
	m.backoff, m.retryAt, m.rampAt = minBackoff, time.Time{}, time.Time{}
	m.rollbackNext()
}

// planRamp lays out the rollback's shares: RollbackSteps below the share
// the router last confirmed (never above it), then 0; one Apply from
// Succeeded.
func (m *machine) planRamp() {
	cur := m.st.Percent
	if m.applying {
		cur = min(cur, m.applyPct) // the Apply in flight may or may not land
	}
	if !m.fromFinal {
		for _, p := range m.cfg.RollbackSteps {
			if p < cur && p > 0 {
				m.ramp = append(m.ramp, p)
				cur = p
			}
		}
	}
	m.ramp = append(m.ramp, 0)
}

// rollbackNext applies the rollback's next share, unless an Apply is in
// flight (it is then applied when that one returns).
func (m *machine) rollbackNext() {
	if m.applying || m.st.Phase != RollingBack {
		return
	}
	if len(m.ramp) == 0 { // restored mid-rollback
		m.restoreRamp()
	}
	p := m.ramp[0]
	if m.st.Target != p {
		m.st.Target = p
		m.save()
	}
	route := m.rbRoute
	if len(route.Weights) == 0 {
		route = traffic.Split(m.cfg.Stable, m.cfg.Canary, p)
	}
	m.apply(route, p)
}

// restoreRamp lays the rollback out again after a restart.
func (m *machine) restoreRamp() {
	if to := m.st.RollbackTarget; to != "" {
		final := 0.0
		if to == m.cfg.Canary {
			final = 100
		}
		m.ramp, m.rbRoute = []float64{final}, traffic.Route{Weights: []traffic.Weight{{Backend: to, Percent: 100}}}
		return
	}
	m.planRamp()
}

func (m *machine) onRollbackApplied(err error) {
	if !m.applyRB {
		// The forward Apply that was in flight when the rollback began.
		if err == nil {
			m.st.Percent = m.applyPct
			m.save()
		}
		m.rollbackNext()
		return
	}
	if err != nil {
		m.emit(EventRouterError, fmt.Sprintf("rollback incomplete: apply %.2f%% route: %v (retrying in %v)", m.applyPct, err, m.backoff))
		m.retryLater()
		return
	}
	m.st.Percent = m.applyPct
	m.ramp = m.ramp[1:]
	m.backoff = minBackoff
	if len(m.ramp) > 0 {
		m.save()
		m.rampAt = m.now.Add(m.cfg.RollbackStepHold)
		if m.cfg.RollbackStepHold == 0 {
			m.rampAt = time.Time{}
			m.rollbackNext()
		}
		return
	}
	m.rolledBack()
}

func (m *machine) rolledBack() {
	final := m.st.Percent
	m.transition(RolledBack)
	m.stage = stIdle
	m.st.Target, m.st.FinishedAt = final, m.now
	reason := strings.Join(m.st.Reasons, "; ")
	if to := m.st.RollbackTarget; to != "" {
		live := m.st.Live
		m.st.History = m.history(func(h *rollback.History) error {
			if live != "" {
				_ = h.End(live, rollback.OutcomeRolledBack, reason, m.now)
			}
			return h.Add(rollback.Revision{Version: to, Previous: live, Outcome: rollback.OutcomeSucceeded, Reason: reason, StartedAt: m.now, EndedAt: m.now})
		})
		m.st.Live, m.st.RollbackTarget = to, ""
	} else {
		m.st.Live = m.cfg.Stable
		m.st.History = m.history(func(h *rollback.History) error {
			return h.End(m.cfg.Canary, rollback.OutcomeRolledBack, reason, m.now)
		})
	}
	m.rbRoute = traffic.Route{}
	m.save()
	m.emit(EventRolledBack, reason)
}

// history applies change to the saved history through rollback.History,
// which keeps the limit and the rules of how revisions end. A change that
// does not apply (no revision of that version: a rollout aborted before it
// started) leaves the history as it was.
func (m *machine) history(change func(h *rollback.History) error) []rollback.Revision {
	h, err := rollback.NewHistory(m.cfg.HistoryLimit, m.st.History...)
	if err != nil {
		return m.st.History
	}
	if err := change(h); err != nil {
		return m.st.History
	}
	return h.Revisions()
}
