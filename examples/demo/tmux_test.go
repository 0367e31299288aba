package main

import (
	"fmt"
	"os"
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

// startDemo runs the demo with args in a tmux pane width×height.
func startDemo(t *testing.T, width, height int, args string) *tmuxtest.Pane {
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
// faulty one the guard rolls back.
const demoArgs = "-speed 4 -rps 400"

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
// size at once, and the screen still shows one panel.
func TestDemoFollowsResize(t *testing.T) {
	t.Parallel()
	p := startDemo(t, 120, 40, demoArgs)
	p.Poll(10*time.Second, 50*time.Millisecond, func(lines []string) bool { return panelCount(lines) == 1 })
	for _, size := range [][2]int{{70, 20}, {100, 30}, {50, 15}} {
		p.Resize(size[0], size[1])
		// Lines printed before the resize were fitted to the old width;
		// the panel, redrawn, fits the new one.
		p.Poll(5*time.Second, 50*time.Millisecond, func(lines []string) bool {
			return panelCount(lines) == 1 && panelFits(lines, size[0])
		})
	}
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

// panelFits: every row from the panel's first to the end of the screen is
// at most width columns wide.
func panelFits(lines []string, width int) bool {
	in := false
	for _, l := range lines {
		in = in || strings.HasPrefix(l, panelMarker)
		if in && termview.Width(l) > width {
			return false
		}
	}
	return in
}
