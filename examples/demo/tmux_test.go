package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/internal/termview"
	"github.com/ramp-go/ramp/internal/termview/tmuxtest"
)

// childEnv, when set, makes the test binary run the demo with these
// arguments instead of the tests: that is how the tests below run the demo
// in a real terminal (a tmux pane) without building it separately.
const childEnv = "RAMP_DEMO_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childEnv); ok {
		os.Exit(runMain(strings.Fields(args)))
	}
	os.Exit(m.Run())
}

// panelMarker starts the first row of the live panel.
var panelMarker = strings.TrimSpace(termview.PanelMarker)

// demoSlots bounds how many demos the parallel tests run at once: each is a
// few hundred requests a second through four servers, under -race, on a
// machine that may be busy.
var demoSlots = make(chan struct{}, 3)

// demoSlot waits for a free slot, held until the test ends.
func demoSlot(t *testing.T) {
	demoSlots <- struct{}{}
	t.Cleanup(func() { <-demoSlots })
}

// startDemo runs the demo with args in a tmux pane width×height.
func startDemo(t *testing.T, width, height int, args string) *tmuxtest.Pane {
	demoSlot(t)
	self, err := os.Executable()
	require.NoError(t, err)
	return tmuxtest.Start(t, width, height, []string{childEnv + "=" + args, "NO_COLOR="}, self)
}

// check asserts what must hold on every screen: valid UTF-8 without
// replacement characters, no line wider than the pane, at most one panel.
// It returns the number of panels.
func check(t *testing.T, lines []string, width int) int {
	t.Helper()
	panels := 0
	for _, l := range lines {
		require.True(t, utf8.ValidString(l), "invalid UTF-8: %q", l)
		require.NotContains(t, l, "\uFFFD", "a character was cut")
		require.LessOrEqual(t, termview.Width(l), width, "line wider than the pane (%d):\n%q\n%s", width, l, strings.Join(lines, "\n"))
		if strings.HasPrefix(l, panelMarker) {
			panels++
		}
	}
	require.LessOrEqual(t, panels, 1, "more than one panel:\n%s", strings.Join(lines, "\n"))
	return panels
}

// watch samples the screen every 100 ms until the demo has exited,
// checking every sample, and returns the exit status and how many samples
// showed exactly one panel. act, if set, runs after every sample.
func watch(t *testing.T, p *tmuxtest.Pane, act func(screen string)) (status string, onePanel int) {
	t.Helper()
	p.Poll(2*time.Minute, 100*time.Millisecond, func(lines []string) bool {
		onePanel += check(t, lines, p.Width)
		var done bool
		status, done = p.Exited()
		if !done && act != nil {
			act(strings.Join(lines, "\n"))
		}
		return done
	})
	return status, onePanel
}

// finalChecks: the scrollback holds one panel (the last, left on screen),
// the summary follows it, and the cursor is shown again.
func finalChecks(t *testing.T, p *tmuxtest.Pane) string {
	t.Helper()
	all := p.Lines(true)
	assert.Equal(t, 1, check(t, all, p.Width), "the whole scrollback holds exactly one panel")
	text := strings.Join(all, "\n")
	assert.Contains(t, text, "\nSummary\n")
	assert.Greater(t, strings.Index(text, "\nSummary\n"), strings.Index(text, panelMarker))
	assert.True(t, p.CursorVisible(), "the cursor is shown again")
	return text
}

// demoArgs is a short run: a healthy release over three steps, then a
// faulty one the guard rolls back on its 5xx rate. The p99 limit is loose so
// that a busy test machine cannot fail the healthy release.
const demoArgs = "-speed 4 -rps 400 -max-p99 5s"

// The demo in a real terminal at the sizes people use, and a small one where
// the panel fills the screen: one panel redrawn in place, no line wider than
// the terminal, valid UTF-8 throughout, the summary at the end, exit 0.
func TestDemoInTerminal(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {250, 50}, {50, 12}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			t.Parallel()
			p := startDemo(t, size[0], size[1], demoArgs)
			status, onePanel := watch(t, p, nil)
			t.Logf("screen at the end, %dx%d:\n%s", size[0], size[1], p.Screen())
			assert.Equal(t, "0", status)
			assert.GreaterOrEqual(t, onePanel, 5, "samples that showed the panel")
			text := finalChecks(t, p)
			assert.Regexp(t, `v1 → v2\s+succeeded`, text)
			assert.Regexp(t, `v2 → v3\s+rolled_back`, text)
			assert.Contains(t, text, "v2 → v3 rolled back: guard:")
		})
	}
}

// Ctrl-C in the middle of a release rolls it back, says so in one line,
// prints the summary and exits 130.
func TestDemoCtrlCRollsBack(t *testing.T) {
	t.Parallel()
	// v3 is healthy here, so only the interrupt can roll it back.
	p := startDemo(t, 80, 24, demoArgs+" -fault-errors 0 -fault-latency 0")
	sent := false
	status, _ := watch(t, p, func(screen string) {
		if !sent && strings.Contains(screen, termview.PanelMarker+"v2 → v3 · progressing") {
			p.SendKeys("C-c")
			sent = true
		}
	})
	require.True(t, sent, "the second release was never seen in flight")
	t.Logf("screen after Ctrl-C:\n%s", p.Screen())
	assert.Equal(t, "130", status)
	text := finalChecks(t, p)
	assert.Contains(t, text, "\ninterrupted: v3 rolled back, v2 serves all traffic\n")
	assert.Regexp(t, `v1 → v2\s+succeeded`, text)
	assert.Regexp(t, `v2 → v3\s+rolled_back\s+\S+\s+\d+ / \d+\s+\d+ / \d+\s+-\n`, text, "no fault→rollback time for an interrupt")
	assert.Contains(t, text, "v2 → v3 rolled back: interrupted by the user")
}

// Resizing the terminal while the demo runs: the panel follows the new
// width at once (SIGWINCH) and the program goes on.
//
// A resize that lands while a frame is on its way to the terminal can leave
// one stale row above the panel: the frame went up by the rows the old panel
// took at the old width, the terminal had already reflowed it to more. No
// program can tell the two orders apart from its side of the pty, so this
// test does not count panels after a resize; the fixed-size tests do.
func TestDemoFollowsResize(t *testing.T) {
	t.Parallel()
	p := startDemo(t, 120, 40, demoArgs)
	p.Poll(10*time.Second, 50*time.Millisecond, func(lines []string) bool { return panelCount(lines) == 1 })
	for _, size := range [][2]int{{70, 20}, {100, 30}, {50, 15}} {
		p.Resize(size[0], size[1])
		// Lines printed before the resize were fitted to the old width;
		// the panel, redrawn, fits the new one.
		p.Poll(5*time.Second, 50*time.Millisecond, func(lines []string) bool {
			return panelFits(lines, size[0])
		})
	}
	p.Poll(2*time.Minute, 100*time.Millisecond, func([]string) bool { _, done := p.Exited(); return done })
	status, _ := p.Exited()
	assert.Equal(t, "0", status)
	assert.True(t, p.CursorVisible())
}

func panelCount(lines []string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, panelMarker) {
			n++
		}
	}
	return n
}

// panelFits: the last panel on screen is complete (its bottom rule is
// there) and every row from its first to the end of the screen is at most
// width columns wide.
func panelFits(lines []string, width int) bool {
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, panelMarker) {
			start = i
		}
	}
	if start < 0 {
		return false
	}
	bottom := false
	for _, l := range lines[start:] {
		if termview.Width(l) > width {
			return false
		}
		bottom = bottom || strings.HasPrefix(l, "──") && strings.Trim(l, "─") == ""
	}
	return bottom
}

// NO_COLOR keeps the live view but drops its colours; TERM=dumb, a terminal
// that cannot move its cursor, gets plain lines.
func TestDemoRespectsNoColorAndDumbTerminals(t *testing.T) {
	sgrColor := regexp.MustCompile(`\x1b\[[0-9;]*3[0-7]m`)
	for _, tc := range []struct {
		name  string
		env   []string
		live  bool
		color bool
	}{
		{"colour", nil, true, true},
		{"NO_COLOR", []string{"NO_COLOR=1"}, true, false},
		{"TERM=dumb", []string{"TERM=dumb"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			demoSlot(t)
			self, err := os.Executable()
			require.NoError(t, err)
			// Through env(1): tmux sets TERM itself, after the -e variables.
			argv := append(append([]string{"env"}, tc.env...), self)
			p := tmuxtest.Start(t, 100, 30, []string{childEnv + "=" + demoArgs + " -steps 100", "NO_COLOR="}, argv...)
			sawPanel, sawColor := false, false
			p.Poll(2*time.Minute, 100*time.Millisecond, func(lines []string) bool {
				sawPanel = sawPanel || panelCount(lines) > 0
				sawColor = sawColor || sgrColor.MatchString(p.Styled())
				_, done := p.Exited()
				return done
			})
			status, _ := p.Exited()
			assert.Equal(t, "0", status)
			assert.Equal(t, tc.live, sawPanel, "live panel")
			assert.Equal(t, tc.color, sawColor, "colours")
			text := strings.Join(p.Lines(true), "\n")
			assert.Contains(t, text, "\nSummary\n")
			if !tc.live {
				assert.Contains(t, text, "step 1 of 1 analysis", "plain lines print every verdict")
			}
		})
	}
}
