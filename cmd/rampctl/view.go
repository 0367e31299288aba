package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/internal/termview"
	"github.com/ramp-go/ramp/strategy"
)

// rates turns successive cumulative counts into per-second request rates.
type rates struct {
	at   time.Time
	last map[string]int64
	perS map[string]float64
}

func (r *rates) update(st admin.Status, now time.Time) {
	if r.last == nil {
		r.last, r.perS = map[string]int64{}, map[string]float64{}
	}
	for role, v := range st.Versions {
		if prev, ok := r.last[role]; ok && now.After(r.at) && v.Requests >= prev {
			r.perS[role] = float64(v.Requests-prev) / now.Sub(r.at).Seconds()
		}
		r.last[role] = v.Requests
	}
	r.at = now
}

// liveView is what termview draws of st: the share bar, the steps, each
// version's rate, 5xx share and p99 (of the step in force while the
// rollout runs, since the start after), the last verdict and the reason.
func liveView(st admin.Status, perS map[string]float64) termview.View {
	stable, canary := st.Versions["stable"], st.Versions["canary"]
	v := termview.View{
		Title:  stable.Version + " → " + canary.Version,
		Phase:  st.Phase,
		Canary: canary.Version,
		Share:  st.CanaryPercent,
		Target: st.TargetPercent,
		Step:   st.Step,
	}
	if done(st.Phase) {
		v.Target = v.Share // nothing in flight any more
	}
	for _, s := range st.Steps {
		v.Steps = append(v.Steps, s.Percent)
	}
	for _, role := range []string{"stable", "canary"} {
		ver := st.Versions[role]
		errRate, p99 := ver.ErrorRate, ver.P99Seconds
		if ver.Step.Requests > 0 {
			errRate, p99 = ver.Step.ErrorRate, ver.Step.P99Seconds
		}
		v.Versions = append(v.Versions, termview.Version{Name: ver.Version, RPS: perS[role], ErrorRate: errRate,
			P99: time.Duration(p99 * float64(time.Second))})
	}
	if lv := st.LastVerdict; lv != nil {
		v.Verdict = lv.Verdict + ": " + lv.Reason
	}
	if st.Reason != "" {
		v.Log = []string{"reason: " + st.Reason}
	}
	return v
}

// eventLine is one event of the history as watch prints it.
func eventLine(e admin.Event, steps int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Time.Local().Format("15:04:05"), e.Kind)
	if e.Step >= 0 && e.Kind != "succeeded" { // promoting fully skips steps
		text := e.StepText
		if text == "" {
			text = strategy.StepText(e.Step, steps)
		}
		b.WriteString(" " + text)
	}
	fmt.Fprintf(&b, ", canary %s", termview.Percent(e.CanaryPercent))
	if e.Verdict != "" {
		b.WriteString(", " + e.Verdict)
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	return b.String()
}

// newEvents returns the events of h after last (the last one printed);
// all of them when last is not among them (the first read, or the ring
// moved past it).
func newEvents(h []admin.Event, last *admin.Event) []admin.Event {
	if last == nil {
		return h
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == *last {
			return h[i+1:]
		}
	}
	return h
}

// summary is the one-line form: what changes when the rollout moves.
func summary(st admin.Status) string {
	var b strings.Builder
	b.WriteString(st.Phase)
	if s := stepText(st); s != "" {
		b.WriteString(" " + s)
	}
	fmt.Fprintf(&b, " canary %s", termview.Percent(st.CanaryPercent))
	if v := st.LastVerdict; v != nil {
		fmt.Fprintf(&b, " verdict %s", v.Verdict)
	}
	if st.Reason != "" {
		fmt.Fprintf(&b, " reason %q", st.Reason)
	}
	return b.String()
}

// stepText says where the rollout is in its plan (strategy.StepText);
// nothing once it has succeeded (promoting fully skips steps).
func stepText(st admin.Status) string {
	if st.Phase == "succeeded" {
		return ""
	}
	return strategy.StepText(st.Step, len(st.Steps))
}

func done(phase string) bool { return phase == "succeeded" || phase == "rolled_back" }

// panel is the full view: versions, phase, share bar, steps, per-version
// figures, the last verdict and the reason.
func panel(st admin.Status, now time.Time, perS map[string]float64) []string {
	const width = 40
	stable, canary := st.Versions["stable"], st.Versions["canary"]
	lines := []string{fmt.Sprintf("rollout  %s → %s", stable.Version, canary.Version)}

	phase := strings.TrimSpace(st.Phase + "  " + stepText(st))
	if !done(st.Phase) && st.Step >= 0 && st.Step < len(st.Steps) && !st.StepStartedAt.IsZero() {
		held := now.Sub(st.StepStartedAt).Truncate(time.Second)
		if hold := st.Steps[st.Step].DurationSeconds; hold < 0 {
			phase += fmt.Sprintf(", %v, held until promoted", held)
		} else {
			phase += fmt.Sprintf(", %v of %v", held, time.Duration(hold*float64(time.Second)))
		}
	}
	lines = append(lines, "phase    "+phase)

	filled := int(math.Round(math.Min(math.Max(st.CanaryPercent, 0), 100) / 100 * width))
	lines = append(lines, fmt.Sprintf("share    [%s%s] %s to %s", strings.Repeat("█", filled), strings.Repeat("░", width-filled), termview.Percent(st.CanaryPercent), canary.Version))

	var steps []string
	for i, s := range st.Steps {
		mark := "·"
		switch {
		case i < st.Step || st.Phase == "succeeded":
			mark = "✓"
		case i == st.Step && !done(st.Phase):
			mark = "●"
		}
		steps = append(steps, termview.Percent(s.Percent)+" "+mark)
	}
	lines = append(lines, "steps    "+strings.Join(steps, "  "))

	lines = append(lines, fmt.Sprintf("         %-12s %8s %9s %8s %8s %10s  %s", "version", "req/s", "requests", "5xx", "5xx rate", "p99", "this step"))
	for _, role := range []string{"stable", "canary"} {
		v := st.Versions[role]
		step := "–"
		if v.Step.Requests > 0 {
			step = fmt.Sprintf("%d req, %s 5xx, p99 %s", v.Step.Requests, termview.Percent(100*v.Step.ErrorRate), seconds(v.Step.P99Seconds))
		}
		lines = append(lines, fmt.Sprintf("%-8s %-12s %8.0f %9d %8d %8s %10s  %s", role, v.Version, perS[role], v.Requests, v.Errors, termview.Percent(100*v.ErrorRate), seconds(v.P99Seconds), step))
	}
	verdict := "none yet"
	if v := st.LastVerdict; v != nil {
		verdict = v.Verdict + ": " + v.Reason
	}
	lines = append(lines, "verdict  "+verdict)
	if st.Reason != "" {
		lines = append(lines, "reason   "+st.Reason)
	}
	return lines
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Microsecond).String()
}
