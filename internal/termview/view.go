package termview

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ramp-go/ramp/strategy"
)

// View is what the live view shows of one release: a plain value the caller
// fills in and hands to Renderer.Draw as often as it likes. Text fields may
// hold anything (long reasons, control characters, any script): the layout
// sanitizes, wraps and shortens them to fit the terminal.
//
// The zero View draws an empty panel.
type View struct {
	// Title names the release, as "v1 → v2".
	Title string
	// Phase is where the rollout stands, as ramp.Phase spells it
	// ("progressing", "paused", "rolling_back", "rolled_back", "succeeded").
	Phase string
	// Canary is the version whose share of traffic the bar shows.
	Canary string
	// Share is the canary's share of traffic in percent (0–100) as the
	// router confirmed it; Target is the share being applied. When they
	// differ the bar says "Share → Target".
	Share, Target float64
	// Steps are the canary's shares of the strategy's steps in percent, and
	// Step the index of the step in force (-1 before the first).
	Steps []float64
	Step  int
	// Versions are the live figures per version, one table row each.
	Versions []Version
	// Verdict is the last analysis verdict with its reason. The view wraps
	// it to at most VerdictLines rows and shortens the rest; print the full
	// text elsewhere (the plain log, Status) if it matters.
	Verdict string
	// Log holds recent log lines, oldest first. The view shows the newest
	// that fit, each shortened to one row.
	Log []string
}

// clone copies v's slices, so that the caller may change them after Draw.
func (v View) clone() View {
	v.Steps = append([]float64(nil), v.Steps...)
	v.Versions = append([]Version(nil), v.Versions...)
	v.Log = append([]string(nil), v.Log...)
	return v
}

// Version is one row of the view's table.
type Version struct {
	Name string
	// RPS is requests per second.
	RPS float64
	// ErrorRate is the share of 5xx responses, 0 to 1.
	ErrorRate float64
	// P99 is the 99th percentile latency; 0 shows as "-" (no data).
	P99 time.Duration
}

// VerdictLines is how many rows the verdict takes at most.
const VerdictLines = 3

// style is what a span of text looks like; the zero style is the
// terminal's default.
type style uint8

const (
	plain style = iota
	bold
	dim
	green
	red
	yellow
	cyan
)

var sgr = [...]string{plain: "", bold: "\x1b[1m", dim: "\x1b[2m", green: "\x1b[32m", red: "\x1b[31m", yellow: "\x1b[33m", cyan: "\x1b[36m"}

type span struct {
	text  string
	style style
}

// row is one screen row of the panel: spans whose text is sanitized.
type row []span

func (r row) width() int {
	n := 0
	for _, s := range r {
		n += Width(s.text)
	}
	return n
}

// fit shortens r to width columns; the last span kept ends with Ellipsis
// when something was cut.
func (r row) fit(width int) row {
	if r.width() <= width {
		return r
	}
	out := row{}
	left := width
	for i, s := range r {
		w := Width(s.text)
		if w < left || (w == left && i == len(r)-1) {
			out = append(out, s)
			left -= w
			continue
		}
		if left > 0 {
			head, _ := cut(s.text, left-1)
			out = append(out, span{head + Ellipsis, s.style})
		}
		break
	}
	return out
}

func (r row) String() string {
	var b strings.Builder
	for _, s := range r {
		b.WriteString(s.text)
	}
	return b.String()
}

// rule marks the top and bottom of the panel.
const rule = "─"

// PanelMarker starts the first row of every panel the live view draws, so a
// test (or a person reading a screen capture) can count panels.
const PanelMarker = rule + rule + " ramp "

// Rows lays v out for a terminal width columns wide with room for at most
// maxRows rows, and returns the rows as plain text (no colour). It is what
// the live view draws; no row is wider than width.
func (v View) Rows(width, maxRows int) []string {
	rows := v.layout(width, maxRows)
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.String()
	}
	return out
}

// layout builds the panel's rows. The frame (header, bar, steps, table,
// bottom rule) comes first; the verdict and the log share what height is
// left, the verdict first. On a terminal too short for the frame the rows
// at the bottom are dropped.
func (v View) layout(width, maxRows int) []row {
	if width < 1 || maxRows < 1 {
		return nil
	}
	frame := []row{v.header(width), v.bar(width)}
	if len(v.Steps) > 0 {
		frame = append(frame, v.stepsRow(width))
	}
	frame = append(frame, v.table(width)...)
	rows := frame
	room := maxRows - len(frame) - 1 // the bottom rule
	if v.Verdict != "" && room > 0 {
		lead := " verdict "
		if width < 40 {
			lead = " "
		}
		for i, l := range Wrap(v.Verdict, width-Width(lead), "", min(room, VerdictLines)) {
			first := lead
			if i > 0 {
				first = strings.Repeat(" ", Width(lead))
			}
			rows = append(rows, row{{first, dim}, {l, verdictStyle(v.Verdict)}})
		}
		room = maxRows - len(rows) - 1
	}
	if n := min(room, len(v.Log)); n > 0 {
		for _, l := range v.Log[len(v.Log)-n:] {
			rows = append(rows, row{{" ", plain}, {Sanitize(l), dim}})
		}
	}
	rows = append(rows, row{{strings.Repeat(rule, width), dim}})
	if len(rows) > maxRows {
		rows = rows[:maxRows]
	}
	for i := range rows {
		rows[i] = rows[i].fit(width)
	}
	return rows
}

func (v View) header(width int) row {
	title := Sanitize(v.Title)
	r := row{{PanelMarker, dim}, {title, bold}}
	if v.Phase != "" {
		r = append(r, span{" · ", dim}, span{Sanitize(v.Phase), phaseStyle(v.Phase)})
	}
	if s := v.stepText(); s != "" {
		r = append(r, span{" · " + s, plain})
	}
	r = append(r, span{" ", plain})
	if fill := width - r.width(); fill > 0 {
		r = append(r, span{strings.Repeat(rule, fill), dim})
	}
	return r
}

// stepText says which step is in force, as "step 2 of 3".
func (v View) stepText() string {
	switch {
	case len(v.Steps) == 0 && v.Step < 0:
		return ""
	case v.Step < 0 && len(v.Steps) > 0:
		return fmt.Sprintf("%d steps", len(v.Steps))
	}
	step := v.Step
	if len(v.Steps) > 0 {
		step = min(step, len(v.Steps)-1)
	}
	return strategy.StepText(step, len(v.Steps))
}

func (v View) bar(width int) row {
	label := " " + Truncate(v.Canary, max(width/4, 1)) + " "
	share := fmt.Sprintf(" %6.2f%%", clampPercent(v.Share))
	if v.Target != v.Share {
		share += fmt.Sprintf(" → %.2f%%", clampPercent(v.Target))
	}
	barWidth := min(width-Width(label)-Width(share)-1, maxBar)
	if barWidth < 4 { // no room for a bar worth the name: the figures alone
		return row{{label, bold}, {strings.TrimLeft(share, " "), plain}}
	}
	filled, partial, empty := barCells(v.Share, barWidth)
	return row{{label, bold}, {filled + partial, phaseStyle(v.Phase)}, {empty, dim}, {share, plain}}
}

// maxBar is the widest the bar gets: one cell per percent; wider says
// nothing more.
const maxBar = 100

// eighths are the block elements U+2589–U+258F: a cell filled by 1/8 to 7/8.
var eighths = [...]string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// barCells draws percent of a bar cells wide with eighth-cell resolution:
// full blocks, at most one partial block, light shade for the rest.
func barCells(percent float64, cells int) (filled, partial, empty string) {
	n := int(math.Round(clampPercent(percent) / 100 * float64(cells) * 8))
	full, part := n/8, n%8
	rest := cells - full
	if part > 0 {
		rest--
	}
	return strings.Repeat("█", full), eighths[part], strings.Repeat("░", rest)
}

func clampPercent(p float64) float64 {
	if !(p >= 0) { // NaN too
		return 0
	}
	return min(p, 100)
}

// stepsRow lists the steps, the one in force in brackets, done ones
// dimmed. When they do not fit it shows a window around the one in force.
func (v View) stepsRow(width int) row {
	labels := make([]string, len(v.Steps))
	for i, p := range v.Steps {
		labels[i] = Percent(p)
		if i == v.Step {
			labels[i] = "[" + labels[i] + "]"
		}
	}
	cur := max(v.Step, 0)
	lo, hi := 0, len(labels)
	for {
		r := v.stepsSpans(labels, lo, hi)
		if r.width() <= width || hi-lo <= 1 {
			return r
		}
		// Drop the step farthest from the one in force.
		if cur-lo > hi-1-cur {
			lo++
		} else {
			hi--
		}
	}
}

func (v View) stepsSpans(labels []string, lo, hi int) row {
	r := row{{" steps   ", dim}}
	if lo > 0 {
		r = append(r, span{Ellipsis + " ", dim})
	}
	for i := lo; i < hi; i++ {
		if i > lo {
			r = append(r, span{" → ", dim})
		}
		st := plain
		switch {
		case i < v.Step:
			st = dim
		case i == v.Step:
			st = bold
		}
		r = append(r, span{labels[i], st})
	}
	if hi < len(labels) {
		r = append(r, span{" " + Ellipsis, dim})
	}
	return r
}

// Percent writes a share in percent with up to two decimals and no
// trailing zeros: 10 → "10%", 12.5 → "12.5%", 0.126 → "0.13%".
func Percent(p float64) string {
	s := fmt.Sprintf("%.2f", p)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// table is the header and one row per version: req/s, 5xx share, p99.
func (v View) table(width int) []row {
	name := 7
	for _, ver := range v.Versions {
		name = max(name, Width(Sanitize(ver.Name)))
	}
	name = min(name, max(width/4, 4))
	head := row{{" " + Pad("version", name) + fmt.Sprintf(" %9s %8s %10s", "req/s", "5xx", "p99"), dim}}
	rows := []row{head}
	for _, ver := range v.Versions {
		p99 := "-"
		if ver.P99 > 0 {
			p99 = roundDuration(ver.P99).String()
		}
		errStyle := plain
		if ver.ErrorRate > 0 {
			errStyle = red
		}
		rows = append(rows, row{
			{" " + Pad(Truncate(ver.Name, name), name), bold},
			{fmt.Sprintf(" %9.0f", ver.RPS), plain},
			{fmt.Sprintf(" %7.2f%%", 100*ver.ErrorRate), errStyle},
			{" " + PadLeft(p99, 10), plain},
		})
	}
	return rows
}

// roundDuration keeps three significant digits or so: 8.31ms, 256ms, 1.2s.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func phaseStyle(phase string) style {
	switch phase {
	case "succeeded":
		return green
	case "rolling_back", "rolled_back":
		return red
	case "paused":
		return yellow
	}
	return cyan
}

func verdictStyle(verdict string) style {
	switch {
	case strings.HasPrefix(verdict, "pass"):
		return green
	case strings.HasPrefix(verdict, "fail"), strings.HasPrefix(verdict, "error"), strings.HasPrefix(verdict, "rollback"):
		return red
	}
	return plain
}
