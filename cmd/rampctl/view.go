package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/ramp-go/ramp/admin"
)

// view shows successive statuses of a rollout. liveView redraws a panel in
// place on a terminal, lineView prints a line per change elsewhere. (The
// interface is the seam for a shared terminal renderer.)
type view interface {
	show(st admin.Status, now time.Time) error
}

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

// liveView redraws the panel in place: it moves the cursor up over the
// lines it drew last and clears to the end of the screen.
type liveView struct {
	w     io.Writer
	width int // lines are cut to it, so that none wraps and upsets the count
	drawn int
	rates rates
}

func (v *liveView) show(st admin.Status, now time.Time) error {
	v.rates.update(st, now)
	lines := panel(st, now, v.rates.perS)
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.drawn)
	}
	for _, l := range lines {
		b.WriteString(cut(l, v.width))
		b.WriteByte('\n')
	}
	v.drawn = len(lines)
	_, err := io.WriteString(v.w, b.String())
	return err
}

// cut shortens s to width runes (our lines hold no double-width runes).
func cut(s string, width int) string {
	if width <= 1 {
		return s
	}
	r := []rune(s)
	if len(r) < width {
		return s
	}
	return string(r[:width-2]) + "…"
}

// lineView prints one line each time what it shows changes.
type lineView struct {
	w     io.Writer
	last  string
	rates rates
}

func (v *lineView) show(st admin.Status, now time.Time) error {
	v.rates.update(st, now)
	line := summary(st)
	if line == v.last {
		return nil
	}
	v.last = line
	_, err := fmt.Fprintf(v.w, "%s %s\n", now.Format("15:04:05"), line)
	return err
}

// summary is the one-line form: what changes when the rollout moves.
func summary(st admin.Status) string {
	var b strings.Builder
	b.WriteString(st.Phase)
	if s := stepText(st); s != "" {
		b.WriteString(" " + s)
	}
	fmt.Fprintf(&b, " canary %s", pct(st.CanaryPercent))
	if v := st.LastVerdict; v != nil {
		fmt.Fprintf(&b, " verdict %s", v.Verdict)
	}
	if st.Reason != "" {
		fmt.Fprintf(&b, " reason %q", st.Reason)
	}
	return b.String()
}

// stepText says where the rollout is in its plan, counting steps from 1;
// nothing once it has succeeded (promoting fully skips steps).
func stepText(st admin.Status) string {
	n := len(st.Steps)
	switch {
	case st.Phase == "succeeded":
		return ""
	case n == 0:
		return fmt.Sprintf("step %d", st.Step+1)
	case st.Step < 0:
		return fmt.Sprintf("before step 1 of %d", n)
	case st.Step >= n:
		return fmt.Sprintf("after step %d of %d", n, n)
	}
	return fmt.Sprintf("step %d of %d", st.Step+1, n)
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
		hold := time.Duration(st.Steps[st.Step].DurationSeconds * float64(time.Second))
		phase += fmt.Sprintf(", %v of %v", now.Sub(st.StepStartedAt).Truncate(time.Second), hold)
	}
	lines = append(lines, "phase    "+phase)

	filled := int(math.Round(math.Min(math.Max(st.CanaryPercent, 0), 100) / 100 * width))
	lines = append(lines, fmt.Sprintf("share    [%s%s] %s to %s", strings.Repeat("█", filled), strings.Repeat("░", width-filled), pct(st.CanaryPercent), canary.Version))

	var steps []string
	for i, s := range st.Steps {
		mark := "·"
		switch {
		case i < st.Step || st.Phase == "succeeded":
			mark = "✓"
		case i == st.Step && !done(st.Phase):
			mark = "●"
		}
		steps = append(steps, pct(s.Percent)+" "+mark)
	}
	lines = append(lines, "steps    "+strings.Join(steps, "  "))

	lines = append(lines, fmt.Sprintf("         %-12s %8s %9s %8s %8s %10s  %s", "version", "req/s", "requests", "5xx", "5xx rate", "p99", "this step"))
	for _, role := range []string{"stable", "canary"} {
		v := st.Versions[role]
		step := "–"
		if v.Step.Requests > 0 {
			step = fmt.Sprintf("%d req, %s 5xx, p99 %s", v.Step.Requests, pct(100*v.Step.ErrorRate), seconds(v.Step.P99Seconds))
		}
		lines = append(lines, fmt.Sprintf("%-8s %-12s %8.0f %9d %8d %8s %10s  %s", role, v.Version, perS[role], v.Requests, v.Errors, pct(100*v.ErrorRate), seconds(v.P99Seconds), step))
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

// pct writes a percentage with up to two decimals.
func pct(p float64) string {
	s := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", p), "0"), ".")
	return s + "%"
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Microsecond).String()
}
