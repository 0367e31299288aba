package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/internal/termview"
	"github.com/ramp-go/ramp/strategy"
)

// logLines is how many recent log lines the live view keeps.
const logLines = 8

// ui shows progress through a termview.Renderer: on a terminal one panel
// redrawn in place with the milestones printed above it, otherwise plain
// lines (every event in full and a status line a second).
type ui struct {
	r        *termview.Renderer
	recorder *analysis.Recorder

	mu      sync.Mutex
	stable  string
	canary  string
	steps   []float64
	rollout *ramp.Rollout
	ended   chan struct{} // closed when the release's last event is shown
	log     []string
	last    map[string]analysis.Window
	lastAt  time.Time
	rates   map[string]float64
	stop    chan struct{}
	done    chan struct{}
}

func newUI(w io.Writer, plain bool, rec *analysis.Recorder) *ui {
	u := &ui{
		r:        termview.New(w, termview.Options{Plain: plain}),
		recorder: rec, last: map[string]analysis.Window{}, rates: map[string]float64{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go u.loop()
	return u
}

func (u *ui) loop() {
	defer u.r.RestoreOnPanic()
	defer close(u.done)
	period := time.Second
	if u.r.Live() {
		period = 250 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			u.draw()
		}
	}
}

func (u *ui) draw() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sample()
	if u.rollout != nil {
		_ = u.r.Draw(u.viewLocked())
	}
}

// finish stops the updates and leaves the last panel on screen; what is
// printed afterwards goes below it.
func (u *ui) finish() {
	select {
	case <-u.stop:
	default:
		close(u.stop)
	}
	<-u.done
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.rollout != nil {
		_ = u.r.Draw(u.viewLocked())
	}
	u.r.Finish()
}

// println prints a line for good (wrapped to the terminal's width on a
// terminal, in full otherwise).
func (u *ui) println(format string, args ...any) {
	_ = u.r.Println(fmt.Sprintf(format, args...))
}

// close restores the terminal; safe to call more than once.
func (u *ui) close() { _ = u.r.Close() }

func (u *ui) startRelease(stable, canary string, steps []float64) {
	u.mu.Lock()
	u.stable, u.canary, u.steps = stable, canary, steps
	u.log = nil
	u.ended = make(chan struct{})
	u.mu.Unlock()
	u.println("── release %s → %s", stable, canary)
}

func (u *ui) track(r *ramp.Rollout) {
	u.mu.Lock()
	u.rollout = r
	u.mu.Unlock()
	u.draw()
}

// untrack waits for the rollout's last event (events are delivered on a
// goroutine of their own, possibly after Run returned) and draws the final
// state, which stays on screen until the next release's first draw.
func (u *ui) untrack() {
	u.mu.Lock()
	ended := u.ended
	u.mu.Unlock()
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
	}
	u.draw()
	u.mu.Lock()
	u.rollout = nil
	u.mu.Unlock()
}

// event is the rollout's OnEvent callback. Every event goes to the panel's
// log; on a terminal the milestones are also printed above the panel and the
// analysis verdicts stay in the panel (their full text is in the plain log
// and in Status).
func (u *ui) event(e ramp.Event) {
	defer u.r.RestoreOnPanic() // it runs on the rollout's goroutine
	u.mu.Lock()
	line, milestone := eventText(e, u.stable, u.canary)
	if line == "" {
		u.mu.Unlock()
		return
	}
	line = e.Time.Format("15:04:05.000") + "  " + line
	u.log = append(u.log, line)
	if len(u.log) > logLines {
		u.log = u.log[len(u.log)-logLines:]
	}
	ended := u.ended
	u.mu.Unlock()
	if milestone || !u.r.Live() {
		_ = u.r.Println(line)
	}
	if e.Kind == ramp.EventSucceeded || e.Kind == ramp.EventRolledBack {
		select {
		case <-ended: // closed already
		default:
			close(ended)
		}
	}
}

// eventText is the log line of an event, and whether it marks a milestone
// (a step, the end) rather than a routine analysis.
func eventText(e ramp.Event, stable, canary string) (line string, milestone bool) {
	switch e.Kind {
	case ramp.EventStepStarted:
		return fmt.Sprintf("%s: %s gets %.2f%% of traffic", strategy.StepText(e.Step, e.Steps), canary, e.Percent), true
	case ramp.EventAnalysis:
		return fmt.Sprintf("%s analysis %s: %s", strategy.StepText(e.Step, e.Steps), e.Result.Verdict, e.Result.Reason), false
	case ramp.EventRollingBack:
		return "ROLLING BACK: " + e.Reason, true
	case ramp.EventRolledBack:
		return fmt.Sprintf("rolled back: all traffic on %s", stable), true
	case ramp.EventSucceeded:
		return fmt.Sprintf("succeeded: %s takes all traffic", canary), true
	case ramp.EventRouterError, ramp.EventTriggerError:
		return e.Kind.String() + ": " + e.Reason, true
	}
	return "", false
}

// viewLocked is what the panel shows now.
func (u *ui) viewLocked() termview.View {
	st := u.rollout.Status()
	v := termview.View{
		Title:  u.stable + " → " + u.canary,
		Phase:  st.Phase.String(),
		Canary: u.canary,
		Share:  st.Percent, Target: st.Target,
		Steps: u.steps, Step: st.Step,
		Log: append([]string(nil), u.log...),
	}
	switch {
	case st.Phase == ramp.RollingBack || st.Phase == ramp.RolledBack:
		v.Verdict = "rollback: " + st.Reason
	case !st.LastResult.At.IsZero():
		v.Verdict = fmt.Sprintf("%s: %s", st.LastResult.Verdict, st.LastResult.Reason)
	}
	for _, name := range []string{u.stable, u.canary} {
		v.Versions = append(v.Versions, u.versionStats(name))
	}
	return v
}

// sample turns the recorder's totals into request rates.
func (u *ui) sample() {
	now := time.Now()
	for _, v := range u.recorder.Backends() {
		tot := u.recorder.Total(v)
		if prev, ok := u.last[v]; ok && !u.lastAt.IsZero() {
			u.rates[v] = float64(tot.Requests-prev.Requests) / now.Sub(u.lastAt).Seconds()
		}
		u.last[v] = tot
	}
	u.lastAt = now
}

func (u *ui) versionStats(name string) termview.Version {
	now := time.Now()
	w := u.recorder.Window(name, now.Add(-3*time.Second), now)
	v := termview.Version{Name: name, RPS: u.rates[name], ErrorRate: w.ErrorRate()}
	if w.Latency != nil {
		v.P99 = w.Latency.Quantile(0.99)
	}
	return v
}
