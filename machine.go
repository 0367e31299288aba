package ramp

import (
	"fmt"
	"slices"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// The engine is a state machine. machine.handle is a pure transition
// function: the state and one input in, the new state and an ordered list
// of effects out. It does no I/O and never blocks; the driver (driver.go)
// carries the effects out in order, one at a time, and feeds what they
// produce (router results, verdicts, answers, timer ticks) back as inputs.
// Every rule of the engine lives here.

// --- inputs ---

type input interface{ isInput() }

type (
	inStart      struct{ runID uint64 }   // a Run begins to drive
	inStop       struct{}                 // the Run stops driving (its ctx ended)
	inPromote    struct{ fully bool }     // Promote / PromoteFully
	inPause      struct{}                 // Pause
	inResume     struct{}                 // Resume
	inAbort      struct{ reason string }  // Abort
	inRetry      struct{}                 // Retry
	inRollbackTo struct{ version string } // RollbackTo
	inFire       struct {
		runID  uint64
		reason string
	}
	inTriggerDied struct {
		runID uint64
		i     int
		err   error
	}
	inApplied  struct{ err error } // the Apply in flight returned
	inMeasured struct {            // an analysis returned
		gen uint64
		res analysis.Result
		err error
	}
	inGate struct {
		gen uint64
		err error
	} // the readiness gate answered
	inApproved struct {
		gen uint64
		err error
	} // the approval gate answered
	inTick struct{} // the clock reached wakeAt
)

func (inStart) isInput()       {}
func (inStop) isInput()        {}
func (inPromote) isInput()     {}
func (inPause) isInput()       {}
func (inResume) isInput()      {}
func (inAbort) isInput()       {}
func (inRetry) isInput()       {}
func (inRollbackTo) isInput()  {}
func (inFire) isInput()        {}
func (inTriggerDied) isInput() {}
func (inApplied) isInput()     {}
func (inMeasured) isInput()    {}
func (inGate) isInput()        {}
func (inApproved) isInput()    {}
func (inTick) isInput()        {}

// --- effects ---

type effect interface{ isEffect() }

type (
	effSave  struct{ st State } // persist st; stop everything if it fails
	effEmit  struct{ ev Event } // deliver an event
	effApply struct {
		route   traffic.Route
		percent float64
		rb      bool // toward stable: a rollback
	}
	effAnalyze struct {
		gen      uint64
		analyzer analysis.Analyzer
		q        analysis.Query
	}
	effGate    struct{ gen uint64 }
	effApprove struct {
		gen  uint64
		idx  int
		step strategy.Step
	}
	effCancel struct{} // the work of earlier generations is moot
)

func (effSave) isEffect()    {}
func (effEmit) isEffect()    {}
func (effApply) isEffect()   {}
func (effAnalyze) isEffect() {}
func (effGate) isEffect()    {}
func (effApprove) isEffect() {}
func (effCancel) isEffect()  {}

// --- the transition table ---

// transitions lists every legal phase change, with what causes it. It is
// the documentation: the diagram in doc.go is checked against it.
var transitions = map[Phase][]Phase{
	Pending:     {Progressing, RollingBack},                    // Run starts; Abort
	Progressing: {Progressing, Paused, RollingBack, Succeeded}, // next step; Pause; rollback; promoted to 100
	Paused:      {Paused, Progressing, RollingBack, Succeeded}, // restart; Resume or Promote; rollback; PromoteFully
	RollingBack: {RollingBack, RolledBack},                     // next ramp step; stable confirmed
	Succeeded:   {RollingBack},                                 // Abort within the rollback window; RollbackTo
	RolledBack:  {RollingBack, Pending},                        // RollbackTo; Retry
}

func legal(from, to Phase) bool { return slices.Contains(transitions[from], to) }

// stage is where the machine stands within a progressing or paused phase.
type stage int

const (
	stIdle   stage = iota // nothing in progress (not driven, or done)
	stWindow              // waiting for the deployment window
	stGate                // waiting for the readiness gate
	stApply               // the step's route is being applied
	stHold                // the step is in force: hold, analysis, approval
	stFinal               // the 100% route is being applied
)

// afterGate says what waits for the readiness gate.
type afterGate int

const (
	gateThenStep    afterGate = iota // enter the step
	gateThenResumed                  // enter the step restored from the store
	gateThenFinal                    // the final promotion
)

// machine is the rollout's whole state: what is saved (st) and what lives
// only while a driver runs.
type machine struct {
	cfg  *Config
	plan Plan
	st   State
	now  time.Time
	gen  uint64 // bumped by every phase change: late results are discarded
	effs []effect

	runID    uint64 // the triggers of Run runID may fire
	running  bool   // a Run drives the rollout forward
	watching bool   // the triggers of runID still run (reasons are kept)
	restored bool   // unfinished state from the store: OnRestart applies at the next start
	startWhy string // a rollback demanded by New (plan changed), applied at start
	// restartWhy: New reset the state to the first step of a new plan; it
	// is saved and announced at start.
	restartWhy string
	illegal    []string

	stage            stage
	idx              int
	step             strategy.Step
	hold             time.Duration
	stageAt          time.Time // when the stage began (gate asked, apply begun)
	holdEnd, dueAt   time.Time // dueAt: since when the step could be left (zero: not due)
	tally            analysis.Tally
	nextMeasure      time.Time
	measuring        bool
	approving, appOK bool
	promote, full    bool // requests waiting for a step in force
	winAt            time.Time
	appliedAt        time.Time
	afterGate        afterGate
	finalHeld        bool // the final promotion waits for the window

	// the router: at most one Apply in flight
	applying  bool
	applyRB   bool      // the Apply in flight is the rollback's
	queued    *effApply // the forward Apply that waits for the one in flight
	applyPct  float64
	retryAt   time.Time
	backoff   time.Duration
	ramp      []float64 // the rollback's remaining shares, last is 0 (or the RollbackTo share)
	rampAt    time.Time // next ramp step due
	rbRoute   traffic.Route
	fromFinal bool // the rollback started from Succeeded: one Apply, no ramp
}

func newMachine(cfg *Config, plan Plan, st State) *machine {
	return &machine{cfg: cfg, plan: plan, st: st, backoff: minBackoff}
}

// handle is the transition function. It returns the effects to carry out, in
// order, or an error (ErrPhase…) when in is an operation that does not
// apply, in which case nothing changed.
func (m *machine) handle(now time.Time, in input) ([]effect, error) {
	m.now, m.effs = now, nil
	var err error
	switch in := in.(type) {
	case inStart:
		m.start(in.runID)
	case inStop:
		m.stop()
	case inPromote:
		err = m.opPromote(in.fully)
	case inPause:
		err = m.opPause()
	case inResume:
		err = m.opResume()
	case inAbort:
		err = m.opAbort(in.reason)
	case inRetry:
		err = m.opRetry()
	case inRollbackTo:
		err = m.opRollbackTo(in.version)
	case inFire:
		m.onFire(in.runID, in.reason)
	case inTriggerDied:
		m.onTriggerDied(in)
	case inApplied:
		m.onApplied(in.err)
	case inMeasured:
		m.onMeasured(in)
	case inGate:
		m.onGate(in)
	case inApproved:
		m.onApproved(in)
	case inTick:
		m.onTick()
	}
	effs := m.effs
	m.effs = nil
	return effs, err
}

// transition is the one place the phase changes. It bumps the generation,
// so that results of the work begun before (an analysis, a gate) are
// discarded, and cancels that work.
func (m *machine) transition(to Phase) {
	if !legal(m.st.Phase, to) {
		m.illegal = append(m.illegal, fmt.Sprintf("%s → %s", m.st.Phase, to))
	}
	m.st.Phase = to
	m.gen++
	m.measuring, m.approving = false, false
	m.effs = append(m.effs, effCancel{})
}

// save records the state as it is now; every effect that follows it is
// licensed by it.
func (m *machine) save() {
	m.st.UpdatedAt = m.now
	m.effs = append(m.effs, effSave{st: m.st.clone()})
}

// emit announces an event about the state as it is now.
func (m *machine) emit(kind EventKind, reason string) {
	m.emitEvent(Event{Kind: kind, Reason: reason})
}

func (m *machine) emitEvent(e Event) {
	e.Time = m.now
	e.Phase, e.Step, e.Percent, e.Steps = m.st.Phase, m.st.Step, m.st.Target, m.plan.total()
	m.effs = append(m.effs, effEmit{ev: e})
}

// apply asks the router for route. The router is never asked for two
// routes at a time: while one Apply is in flight (one a stopped Run left
// behind), the next waits for it.
func (m *machine) apply(route traffic.Route, percent float64) {
	e := effApply{route: route, percent: percent, rb: m.st.Phase == RollingBack}
	m.retryAt = time.Time{}
	if m.applying {
		m.queued = &e
		return
	}
	m.issue(e)
}

func (m *machine) issue(e effApply) {
	m.applying, m.applyPct, m.applyRB = true, e.percent, e.rb
	m.effs = append(m.effs, e)
}

func (m *machine) stepName(i int) string { return strategy.StepText(i, m.plan.total()) }

// inForward: the machine drives toward success.
func (m *machine) inForward() bool {
	return m.st.Phase == Progressing || m.st.Phase == Paused
}

// wakeAt is when the machine next wants a tick (zero: never).
func (m *machine) wakeAt() time.Time {
	var at time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if !m.applying {
		consider(m.retryAt)
		consider(m.rampAt)
	}
	if m.running && m.stage == stWindow {
		consider(m.winAt)
	}
	if !m.running || !m.inForward() {
		return at
	}
	switch m.stage {
	case stGate:
		consider(m.stageAt.Add(m.cfg.ProgressDeadline))
	case stApply, stFinal:
		consider(m.stageAt.Add(m.cfg.ProgressDeadline))
	case stHold:
		if m.step.Analysis != nil && !m.measuring {
			consider(m.nextMeasure)
		}
		if m.st.Phase == Progressing {
			if m.hold != strategy.UntilPromoted && m.now.Before(m.holdEnd) {
				consider(m.holdEnd)
			}
			if !m.dueAt.IsZero() && !m.approving && !m.appOK {
				consider(m.dueAt.Add(m.cfg.ProgressDeadline))
			}
		}
	}
	return at
}

// busy: the driver must keep going even with no Run (a rollback, an Apply
// in flight).
func (m *machine) busy() bool {
	return m.applying || m.st.Phase == RollingBack
}

// --- starting and stopping ---

func (m *machine) start(runID uint64) {
	m.running, m.watching, m.runID = true, true, runID
	switch m.st.Phase {
	case Pending:
		m.begin()
	case Progressing, Paused:
		m.resumeSaved()
	case RollingBack:
		m.rollbackNext()
	}
}

// begin starts a new rollout, when the window lets it.
func (m *machine) begin() {
	if !m.windowOpen(-1) {
		return
	}
	m.transition(Progressing)
	m.st.Step, m.st.Completed, m.st.StartedAt, m.st.Plan = -1, 0, m.now, &m.plan
	m.st.History = m.history(func(h *rollback.History) error {
		id := m.cfg.Release
		return h.Add(rollback.Revision{Version: m.cfg.Canary, Previous: m.cfg.Stable, Outcome: rollback.OutcomeLive, StartedAt: m.now,
			Commit: id.Commit, CommitTime: id.CommitTime, BuildTime: id.BuildTime, Digest: id.Digest, NotesURL: id.NotesURL})
	})
	m.save()
	m.emit(EventStarted, "")
	m.advance()
}

// resumeSaved carries on with a rollout restored from the store (or
// stopped by an earlier Run of this process).
func (m *machine) resumeSaved() {
	if why := m.startWhy; why != "" {
		m.startWhy = ""
		m.rollback(why)
		return
	}
	if m.restored && m.cfg.OnRestart == RollBack {
		m.restored = false
		m.rollback(fmt.Sprintf("restarted at %s (%.2f%%) with restart policy roll back", m.stepName(m.st.Step), m.st.Percent))
		return
	}
	m.restored = false
	if why := m.restartWhy; why != "" {
		m.restartWhy = ""
		m.save()
		m.emit(EventStarted, why)
	}
	switch {
	case m.st.Final:
		m.final()
	case m.st.Step == m.st.Completed && m.st.Step >= 0:
		m.enterStep(true)
	default:
		m.advance()
	}
}

func (m *machine) stop() {
	m.running = false
	if m.inForward() {
		m.transition(m.st.Phase) // results still coming belong to the stopped Run
	}
	m.stage, m.winAt = stIdle, time.Time{}
	if m.st.Phase != RollingBack {
		m.retryAt = time.Time{} // a rollback's retry goes on with whoever drives next
	}
}

// --- moving forward ---

// advance asks the strategy for step Completed and enters it (after the
// window and the readiness gate).
func (m *machine) advance() {
	m.stage = stIdle
	idx := m.st.Completed
	st, done := m.cfg.Strategy.Next(strategy.Progress{
		Index: idx, Stable: m.cfg.Stable, Canary: m.cfg.Canary, Last: m.st.PrevResult,
		Percent: m.st.PrevPercent, Elapsed: m.now.Sub(m.st.StartedAt),
	})
	if done {
		m.final()
		return
	}
	if idx > 0 && !m.windowOpen(idx) {
		return
	}
	if err := st.Validate(fmt.Sprintf("steps[%d]", idx)); err != nil {
		m.rollback(fmt.Sprintf("invalid %s from strategy: %v", m.stepName(idx), err))
		return
	}
	if st.Analysis != nil && m.analyzer(st) == nil {
		m.rollback(fmt.Sprintf("%s has analysis but neither the step nor the rollout names an analyzer", m.stepName(idx)))
		return
	}
	m.idx, m.step = idx, st
	if givesTraffic(st) && !m.gatePassed() {
		m.askGate(gateThenStep)
		return
	}
	m.enterStep(false)
}

func givesTraffic(s strategy.Step) bool {
	return s.Percent > 0 || len(s.Rules) > 0 || s.MirrorPercent > 0
}

func (m *machine) gatePassed() bool { return m.cfg.Gate == nil || m.st.GatePassed }

func (m *machine) analyzer(st strategy.Step) analysis.Analyzer {
	if st.Analysis != nil && st.Analysis.Analyzer != nil {
		return st.Analysis.Analyzer
	}
	return m.cfg.Analyzer
}

func (m *machine) askGate(then afterGate) {
	m.stage, m.stageAt, m.afterGate = stGate, m.now, then
	m.effs = append(m.effs, effGate{gen: m.gen})
}

// enterStep saves the step in force, then applies its route. resumed: the
// step was in force before a restart; its hold goes on where it was.
func (m *machine) enterStep(resumed bool) {
	if resumed {
		m.idx = m.st.Step
		st, done := m.cfg.Strategy.Next(strategy.Progress{
			Index: m.idx, Stable: m.cfg.Stable, Canary: m.cfg.Canary, Last: m.st.PrevResult,
			Percent: m.st.PrevPercent, Elapsed: m.now.Sub(m.st.StartedAt),
		})
		if done || st.Validate("step") != nil {
			m.rollback(fmt.Sprintf("restarted at %s, which the strategy no longer yields", m.stepName(m.idx)))
			return
		}
		m.step = st
		if givesTraffic(st) && !m.gatePassed() && m.stage != stGate {
			m.askGate(gateThenResumed)
			return
		}
	}
	m.transition(m.st.Phase)
	if !resumed || m.st.StepStartedAt.IsZero() {
		m.st.StepStartedAt = m.now
	}
	m.st.Step, m.st.Target = m.idx, m.step.Percent
	m.hold = m.step.EffectiveHold()
	m.tally, m.appOK, m.dueAt = analysis.Tally{}, false, time.Time{}
	m.save()
	m.emitEvent(Event{Kind: EventStepStarted, Reason: m.step.Name})
	m.stage, m.stageAt, m.backoff = stApply, m.now, minBackoff
	m.apply(m.step.Route(m.cfg.Stable, m.cfg.Canary), m.step.Percent)
}

// inHold: the step's route is confirmed; the hold begins.
func (m *machine) inHold() {
	m.stage = stHold
	m.holdEnd = m.st.StepStartedAt.Add(m.hold) // a pause in force is added when it ends (resume)
	if m.step.Analysis != nil {
		m.nextMeasure = m.now.Add(m.step.Analysis.InitialDelay)
	}
	if m.hold == strategy.UntilPromoted && !m.cfg.UnboundedPromoteWait && m.st.Phase == Progressing {
		m.dueAt = m.now
	}
	m.appliedAt = m.now
	m.evaluate()
}

// evaluate decides what a step in force does next: leave, ask for
// approval, roll back on the deadline, or measure.
func (m *machine) evaluate() {
	if m.stage != stHold || !m.inForward() {
		return
	}
	if m.full {
		m.full, m.promote = false, false
		m.emit(EventPromoted, "promoted fully: remaining steps skipped")
		m.st.Completed = m.idx + 1
		m.final()
		return
	}
	if m.promote {
		m.promote = false
		m.emit(EventPromoted, "promoted manually")
		m.leaveStep()
		return
	}
	if m.st.Phase == Progressing && m.holdOver() {
		if m.dueAt.IsZero() {
			m.dueAt = m.now
		}
		if m.passed() && (m.step.Approve == nil || m.appOK) {
			m.leaveStep()
			return
		}
		if m.passed() && !m.approving && !m.appOK {
			m.approving = true
			m.effs = append(m.effs, effApprove{gen: m.gen, idx: m.idx, step: m.step})
		}
	}
	if m.st.Phase == Progressing && m.deadlinePassed() {
		m.rollback(fmt.Sprintf("progress deadline %v exceeded at %s (%.2f%%): %s", m.cfg.ProgressDeadline, m.stepName(m.idx), m.step.Percent, m.why()))
		return
	}
	m.measure()
}

func (m *machine) holdOver() bool {
	return m.hold != strategy.UntilPromoted && !m.now.Before(m.holdEnd)
}

// passed: the analysis lets the step be left (its latest measurement is a
// pass, see analysis.Tally).
func (m *machine) passed() bool {
	return m.step.Analysis == nil || m.tally.Outcome(m.step.Analysis.Policy) == analysis.Passed
}

func (m *machine) deadlinePassed() bool {
	return !m.dueAt.IsZero() && !m.approving && !m.appOK && m.now.Sub(m.dueAt) >= m.cfg.ProgressDeadline
}

func (m *machine) why() string {
	if m.hold == strategy.UntilPromoted && !m.holdOver() && m.passed() {
		return "still waiting for a manual promote"
	}
	last := m.st.LastResult
	return fmt.Sprintf("analysis verdict still %s (last: %s)", last.Verdict, reasonOr(last.Reason, "none"))
}

func (m *machine) measure() {
	a := m.step.Analysis
	if m.stage != stHold || a == nil || m.measuring || m.now.Before(m.nextMeasure) {
		return
	}
	m.measuring = true
	m.nextMeasure = m.nextMeasure.Add(a.Interval)
	if m.nextMeasure.Before(m.now) {
		m.nextMeasure = m.now.Add(a.Interval)
	}
	q := analysis.Query{Baseline: m.cfg.Stable, Canary: m.cfg.Canary, Since: m.appliedAt, Until: m.now, Step: m.idx}
	m.effs = append(m.effs, effAnalyze{gen: m.gen, analyzer: m.analyzer(m.step), q: q})
}

// leaveStep saves that the step was left before anything else happens, so
// a restart never holds it again and tells the strategy the same.
func (m *machine) leaveStep() {
	m.st.Completed = m.idx + 1
	m.st.PrevResult, m.st.PrevPercent = m.st.LastResult, m.step.Percent
	if m.st.Phase == Paused {
		m.transition(Progressing)
		m.st.PausedAt, m.st.PauseReason = time.Time{}, ""
	}
	m.save()
	m.advance()
}

// final gives the canary all traffic, after the readiness gate and the
// window. The intent (Final) is saved first, so a restart lands here.
func (m *machine) final() {
	m.stage = stIdle
	if !m.st.Final {
		if !m.gatePassed() {
			m.askGate(gateThenFinal)
			return
		}
		if !m.windowOpen(m.plan.total()) {
			m.finalHeld = true
			return
		}
		m.finalHeld = false
	}
	if m.st.Phase == Paused {
		m.transition(Progressing)
		m.st.PausedAt, m.st.PauseReason = time.Time{}, ""
	} else {
		m.transition(m.st.Phase)
	}
	m.st.Final, m.st.Target = true, 100
	m.save()
	m.stage, m.stageAt, m.backoff = stFinal, m.now, minBackoff
	m.apply(traffic.Split(m.cfg.Stable, m.cfg.Canary, 100), 100)
}

func (m *machine) succeed() {
	m.transition(Succeeded)
	m.stage = stIdle
	m.st.FinishedAt, m.st.Percent, m.st.Live, m.st.WaitReason = m.now, 100, m.cfg.Canary, ""
	m.st.History = m.history(func(h *rollback.History) error {
		return h.End(m.cfg.Canary, rollback.OutcomeSucceeded, "", m.now)
	})
	m.save()
	m.emit(EventSucceeded, "")
}
