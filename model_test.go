package ramp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/window"
)

// The model test drives the pure transition function with random
// sequences of inputs — operations in any interleaving, trigger fires and
// failures, router failures, analysis verdicts (errors and no data
// included), gate and approval answers, the clock, Run stopping, and
// restarts with the same or another plan — playing the driver's part
// itself (effects carried out in order, results fed back in random order,
// late ones too), and checks the safety rules after every input.
//
// RAMP_MODEL_SEQUENCES sets the number of sequences (default 10,000).

type modelWorld struct {
	t    *testing.T
	rnd  *rand.Rand
	cfg  *Config
	plan Plan
	m    *machine
	now  time.Time
	log  []string // the inputs so far, for the failure message

	store    *memStore
	saved    State // the last state saved
	hasSaved bool
	router   float64 // the share the router really applies
	unsure   bool    // a restart lost track of an Apply that may have landed
	inflight *effApply
	analyses []effAnalyze
	gates    []effGate
	approves []effApprove
	window   *fakeWindow

	runID           uint64
	promoteAsked    bool // a Promote or PromoteFully was accepted and not yet consumed
	rollbackDecided bool // since the last Retry
	lastVerdict     map[int]analysis.Verdict
	inputs          int
}

type modelStrategy struct{ steps []strategy.Step }

func (s modelStrategy) Next(p strategy.Progress) (strategy.Step, bool) {
	if p.Index >= len(s.steps) {
		return strategy.Step{}, true
	}
	return s.steps[p.Index], false
}

type okGate struct{}

func (okGate) Ready(context.Context, rollback.Target) error { return nil }

// modelPlan picks one of a few plans.
func modelPlan(rnd *rand.Rand) modelStrategy {
	pol := &strategy.Analysis{Policy: analysis.Policy{Interval: 10 * time.Second, Count: 1 + rnd.IntN(2), InconclusiveLimit: rnd.IntN(2) * 3}}
	approve := func(context.Context, int, strategy.Step) error { return nil }
	plans := [][]strategy.Step{
		{{Percent: 10, Hold: 30 * time.Second, Analysis: pol}, {Percent: 50, Hold: time.Minute, Analysis: pol}},
		{{Percent: 5, Hold: strategy.UntilPromoted}, {Percent: 25, Hold: 20 * time.Second, Analysis: pol, Approve: approve}, {Percent: 100, Hold: 10 * time.Second}},
		{{Percent: 20, Hold: 0, Analysis: pol}, {Percent: 60, Hold: 45 * time.Second}},
	}
	return modelStrategy{steps: plans[rnd.IntN(len(plans))]}
}

func newModelWorld(t *testing.T, seed uint64) *modelWorld {
	rnd := rand.New(rand.NewPCG(seed, seed*7+1))
	w := &modelWorld{t: t, rnd: rnd, now: t0, store: &memStore{}, lastVerdict: map[int]analysis.Verdict{}}
	cfg := &Config{Stable: "v1", Canary: "v2", Strategy: modelPlan(rnd), Router: newFakeRouter(),
		Analyzer: always(analysis.Pass, ""), ProgressDeadline: 5 * time.Minute}
	if rnd.IntN(2) == 0 {
		cfg.RollbackSteps, cfg.RollbackStepHold = []float64{40, 15, 5}, 10*time.Second
	}
	if rnd.IntN(3) == 0 {
		cfg.Gate = okGate{}
	}
	if rnd.IntN(3) == 0 {
		w.window = &fakeWindow{d: window.Decision{Open: true}}
		cfg.Window, cfg.WindowClosed = w.window, WaitForWindow
	}
	cfg.RollbackWindow = time.Duration(rnd.IntN(2)) * time.Minute
	cfg.OnPlanChange = PlanChangePolicy(rnd.IntN(3))
	cfg.defaults()
	w.cfg = cfg
	w.plan, _ = planOf(cfg)
	w.m = newMachine(cfg, w.plan, State{Version: StateVersion, Stable: "v1", Canary: "v2", Phase: Pending, Step: -1})
	return w
}

func (w *modelWorld) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("%s\ninputs: %v\nstate: %+v", fmt.Sprintf(format, args...), w.log, w.m.st)
}

// feed gives the machine one input and carries out its effects.
func (w *modelWorld) feed(name string, in input) error {
	w.inputs++
	w.log = append(w.log, name)
	before := w.saved
	effs, err := w.m.handle(w.now, in)
	if err != nil && len(effs) > 0 {
		w.fail("%s was refused (%v) but had effects %v", name, err, effs)
	}
	for _, e := range effs {
		w.carryOut(e)
	}
	w.check(name, before, in)
	return err
}

func (w *modelWorld) carryOut(e effect) {
	switch e := e.(type) {
	case effSave:
		w.saved, w.hasSaved = e.st, true
		_ = w.store.Save(bg, e.st)
	case effEmit:
		w.checkLicensed(fmt.Sprintf("event %s", e.ev.Kind), e.ev.Phase, e.ev.Step)
		if e.ev.Kind == EventAnalysis {
			w.lastVerdict[e.ev.Step] = e.ev.Result.Verdict
		}
	case effApply:
		w.checkApply(e)
		w.inflight = &e
	case effAnalyze:
		w.checkLicensed("analysis", w.m.st.Phase, e.q.Step)
		w.analyses = append(w.analyses, e)
	case effGate:
		w.gates = append(w.gates, e)
	case effApprove:
		w.approves = append(w.approves, e)
	}
}

// checkLicensed: an effect about phase and step follows the save of them.
func (w *modelWorld) checkLicensed(what string, ph Phase, step int) {
	if !w.hasSaved || w.saved.Phase != ph || w.saved.Step != step {
		w.fail("%s (phase %s, step %d) not preceded by its save (saved: phase %s, step %d)", what, ph, step, w.saved.Phase, w.saved.Step)
	}
}

func (w *modelWorld) checkApply(e effApply) {
	if w.inflight != nil {
		w.fail("two Applies at once")
	}
	if !w.hasSaved || w.saved.Target != e.percent {
		w.fail("Apply of %v%% not preceded by the save of that target (saved target %v)", e.percent, w.saved.Target)
	}
	if e.rb {
		if w.saved.Phase != RollingBack {
			w.fail("rollback Apply while the saved phase is %s", w.saved.Phase)
		}
		to := w.saved.RollbackTarget
		if to == "" && !w.unsure && e.percent > w.router {
			w.fail("a ramped rollback raised the share from %v%% to %v%%", w.router, e.percent)
		}
		return
	}
	if w.rollbackDecided {
		w.fail("a forward Apply (%v%%) after a rollback was decided", e.percent)
	}
	if w.saved.Phase != Progressing && w.saved.Phase != Paused {
		w.fail("forward Apply in saved phase %s", w.saved.Phase)
	}
	if e.percent != 100 && !planHas(&w.plan, e.percent) {
		w.fail("Apply of %v%%, a share the plan does not have", e.percent)
	}
}

// check holds after every input.
func (w *modelWorld) check(name string, before State, in input) {
	m := w.m
	if len(m.illegal) > 0 {
		w.fail("illegal transition %v", m.illegal)
	}
	if w.inflight == nil && !w.unsure && w.hasSaved && w.saved.Percent != w.router && w.saved.Phase != Pending {
		w.fail("saved share %v%% but the router applies %v%%", w.saved.Percent, w.router)
	}
	if w.rollbackDecided && w.saved.Phase == Succeeded {
		w.fail("succeeded after a rollback was decided")
	}
	if w.saved.Phase == RollingBack || w.saved.Phase == RolledBack {
		if before.Phase != RollingBack && before.Phase != RolledBack && w.saved.RollbackTarget == "" {
			w.rollbackDecided = true
		}
	}
	// A step is left only on a pass as its latest measurement, or by a
	// person.
	left := w.saved.Completed > before.Completed && before.Phase != Pending && w.saved.Phase != Pending
	if left || (w.saved.Final && !before.Final) {
		i := before.Completed
		if left && i < len(w.plan.Steps) && w.plan.Steps[i].Analysed && !w.promoteAsked {
			if v := w.lastVerdict[i]; v != analysis.Pass {
				w.fail("step %d left with latest verdict %s", i, v)
			}
		}
		w.promoteAsked = false
	}
}

// randomInput picks the next input, as any interleaving of operations,
// results and time could produce.
func (w *modelWorld) step() {
	r := w.rnd
	switch k := r.IntN(20); {
	case k < 3 && w.inflight != nil:
		e := *w.inflight
		w.inflight = nil
		var err error
		if r.IntN(4) == 0 {
			err = errors.New("router down")
		} else {
			w.router, w.unsure = e.percent, false
		}
		_ = w.feed("applied:"+strconv.FormatBool(err == nil), inApplied{err: err})
	case k < 6 && len(w.analyses) > 0:
		i := r.IntN(len(w.analyses))
		a := w.analyses[i]
		w.analyses = append(w.analyses[:i], w.analyses[i+1:]...)
		verdicts := []analysis.Verdict{analysis.Pass, analysis.Pass, analysis.Pass, analysis.NoData, analysis.Error, analysis.Fail}
		v := verdicts[r.IntN(len(verdicts))]
		var err error
		if v == analysis.Error && r.IntN(2) == 0 {
			err = errors.New("prometheus down")
		}
		_ = w.feed("measured:"+v.String(), inMeasured{gen: a.gen, res: analysis.Result{Verdict: v}, err: err})
	case k < 7 && len(w.gates) > 0:
		g := w.gates[0]
		w.gates = w.gates[1:]
		_ = w.feed("gate", inGate{gen: g.gen})
	case k < 8 && len(w.approves) > 0:
		a := w.approves[0]
		w.approves = w.approves[1:]
		var err error
		if r.IntN(4) == 0 {
			err = errors.New("denied")
		}
		_ = w.feed("approved", inApproved{gen: a.gen, err: err})
	case k < 11:
		w.tick()
	default:
		w.operation()
	}
}

func (w *modelWorld) tick() {
	at := w.m.wakeAt()
	if at.IsZero() || w.rnd.IntN(3) == 0 {
		w.now = w.now.Add(time.Duration(1+w.rnd.IntN(90)) * time.Second)
	} else if at.After(w.now) {
		w.now = at
	}
	_ = w.feed("tick", inTick{})
}

func (w *modelWorld) operation() {
	r := w.rnd
	switch r.IntN(13) {
	case 0, 1:
		w.promoteOp("promote", false)
	case 2:
		w.promoteOp("promote-fully", true)
	case 3:
		_ = w.feed("pause", inPause{})
	case 4:
		_ = w.feed("resume", inResume{})
	case 5:
		_ = w.feed("abort", inAbort{reason: "abort"})
	case 6:
		_ = w.feed("fire", inFire{runID: w.runID, reason: "guard"})
	case 7:
		_ = w.feed("trigger-died", inTriggerDied{runID: w.runID, err: errors.New("gone")})
	case 8:
		if w.feed("retry", inRetry{}) == nil {
			w.rollbackDecided, w.promoteAsked = false, false
			w.lastVerdict = map[int]analysis.Verdict{}
		}
	case 9:
		if w.window != nil {
			w.window.set(window.Decision{Open: r.IntN(2) == 0, Reason: "freeze"})
		}
	case 10:
		if w.m.running {
			_ = w.feed("stop", inStop{})
		} else {
			w.start()
		}
	case 11:
		w.restart(r.IntN(3) == 0)
	case 12:
		_ = w.feed("rollback-to", inRollbackTo{version: "v1"})
	}
}

// promoteOp: a person's promote licenses leaving a step without a pass.
func (w *modelWorld) promoteOp(name string, fully bool) {
	prev := w.promoteAsked
	w.promoteAsked = true
	if w.feed(name, inPromote{fully: fully}) != nil {
		w.promoteAsked = prev
	}
}

func (w *modelWorld) start() {
	w.runID++ // a promote asked while no Run drove is still pending: the next Run honours it
	_ = w.feed("start", inStart{runID: w.runID})
}

// restart replaces the machine as a new process would: New on the saved
// state, with the same plan or another one.
func (w *modelWorld) restart(otherPlan bool) {
	w.log = append(w.log, fmt.Sprintf("restart(other plan: %t)", otherPlan))
	if w.inflight != nil && w.rnd.IntN(2) == 0 {
		w.router, w.unsure = w.inflight.percent, true // it landed; the process died before hearing so
	}
	w.inflight, w.analyses, w.gates, w.approves = nil, nil, nil, nil
	cfg := *w.cfg
	cfg.Store = w.store
	if otherPlan {
		cfg.Strategy = modelPlan(w.rnd)
	}
	plan, _ := planOf(&cfg)
	m := newMachine(&cfg, plan, State{Version: StateVersion, Stable: "v1", Canary: "v2", Phase: Pending, Step: -1})
	err := restore(bg, &cfg, plan, m)
	changed := plan.diff(&w.plan) != "" && w.saved.Phase != RollingBack && !w.saved.Phase.Done() && w.saved.Phase != Pending && w.hasSaved
	switch {
	case err != nil && !errors.Is(err, ErrPlanChanged):
		w.fail("restart: %v", err)
	case err != nil:
		if !changed || cfg.OnPlanChange != RefusePlanChange {
			w.fail("restart refused the plan wrongly: %v", err)
		}
		return // the host must decide; the old process's state stays as it was
	case changed && cfg.OnPlanChange == RefusePlanChange:
		w.fail("a restart with another plan was accepted silently")
	}
	if !changed && w.hasSaved && (m.st.Percent != w.saved.Percent || m.st.Completed != w.saved.Completed || m.st.Phase != w.saved.Phase) {
		w.fail("restart changed the state: %+v → %+v", w.saved, m.st)
	}
	inForward := m.st.Phase == Progressing || m.st.Phase == Paused
	if inForward && m.st.Plan != nil && m.st.Plan.diff(&plan) != "" && !(changed && cfg.OnPlanChange == RollBackPlanChange) {
		w.fail("restored state holds another plan than the rollout's")
	}
	w.cfg, w.plan, w.m = &cfg, plan, m
	m.cfg = w.cfg
	w.promoteAsked = false
	w.lastVerdict = map[int]analysis.Verdict{}
	w.start()
}

func TestModel(t *testing.T) {
	sequences := 10000
	if s := os.Getenv("RAMP_MODEL_SEQUENCES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("RAMP_MODEL_SEQUENCES: %v", err)
		}
		sequences = n
	}
	if testing.Short() {
		sequences = 1000
	}
	total := 0
	for seed := range uint64(sequences) {
		w := newModelWorld(t, seed)
		w.start()
		n := 15 + w.rnd.IntN(36)
		for range n {
			w.step()
		}
		total += w.inputs
	}
	t.Logf("%d sequences, %d inputs, invariants checked after every input", sequences, total)
}
