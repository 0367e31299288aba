package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/internal/termview"
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

// pane is the demo running in a tmux session of its own (own server socket,
// no user configuration), width×height.
type pane struct {
	t             *testing.T
	sock          string
	width, height int
}

// startPane runs the demo with args in a new tmux pane. The pane's shell
// prints the demo's exit status and then waits, so the screen (and the
// cursor's state) can be read after the demo ended. Without tmux the test
// is skipped, or fails when RAMP_REQUIRE_SERVERS=1 (CI).
func startPane(t *testing.T, width, height int, args string) *pane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("RAMP_REQUIRE_SERVERS") == "1" {
			t.Fatalf("tmux is required (RAMP_REQUIRE_SERVERS=1): %v", err)
		}
		t.Skipf("tmux not installed: %v", err)
	}
	self, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "demo-tmux") // short: socket paths are limited to ~100 bytes
	require.NoError(t, err)
	p := &pane{t: t, sock: filepath.Join(dir, "s"), width: width, height: height}
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", p.sock, "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
	// trap: a Ctrl-C reaches the demo, not the shell that reports its status.
	script := fmt.Sprintf(`trap : INT; %q; echo "EXIT=$?"; sleep 600`, self)
	p.tmux("-f", "/dev/null", "new-session", "-d", "-s", "demo", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height),
		"-e", childEnv+"="+args, "-e", "NO_COLOR=", "-e", "TERM=tmux-256color", "sh", "-c", script)
	return p
}

func (p *pane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	require.NoError(p.t, err, "tmux %v: %s", args, out)
	return string(out)
}

// screen is the pane's visible screen; with history, the whole scrollback
// too. Wrapped lines are joined (-J): a line the terminal had to wrap shows
// as one line wider than the pane.
func (p *pane) screen(history bool) []string {
	args := []string{"capture-pane", "-p", "-J", "-t", "demo"}
	if history {
		args = append(args, "-S", "-")
	}
	out := strings.TrimRight(p.tmux(args...), "\n")
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return lines
}

// check asserts what must hold on every screen: valid UTF-8 without
// replacement characters, no line wider than the pane, at most one panel.
// It returns the number of panels.
func (p *pane) check(lines []string, width int) int {
	p.t.Helper()
	panels := 0
	for _, l := range lines {
		require.True(p.t, utf8.ValidString(l), "invalid UTF-8: %q", l)
		require.NotContains(p.t, l, "\uFFFD", "a character was cut")
		require.LessOrEqual(p.t, termview.Width(l), width, "line wider than the pane (%d):\n%q\n%s", width, l, strings.Join(lines, "\n"))
		if strings.HasPrefix(l, panelMarker) {
			panels++
		}
	}
	require.LessOrEqual(p.t, panels, 1, "more than one panel:\n%s", strings.Join(lines, "\n"))
	return panels
}

var exitLine = regexp.MustCompile(`(?m)^EXIT=(\d+)$`)

// watch samples the screen until the demo has exited, checking every
// sample, and returns the exit status and how many samples showed exactly
// one panel. act, if set, runs after every sample with the screen.
func (p *pane) watch(timeout time.Duration, act func(screen string)) (status string, onePanel int) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		lines := p.screen(false)
		onePanel += p.check(lines, p.width)
		text := strings.Join(lines, "\n")
		if m := exitLine.FindStringSubmatch(text); m != nil {
			return m[1], onePanel
		}
		if act != nil {
			act(text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("the demo did not end within %v:\n%s", timeout, strings.Join(p.screen(false), "\n"))
	return "", 0
}

// finalChecks: the scrollback holds one panel (the last, left on screen),
// the summary follows it, and the cursor is visible again.
func (p *pane) finalChecks() string {
	p.t.Helper()
	all := p.screen(true)
	assert.Equal(p.t, 1, p.check(all, p.width), "the whole scrollback holds exactly one panel")
	text := strings.Join(all, "\n")
	assert.Contains(p.t, text, "\nSummary\n")
	assert.Greater(p.t, strings.Index(text, "\nSummary\n"), strings.Index(text, panelMarker))
	assert.Equal(p.t, "1\n", p.tmux("display-message", "-p", "-t", "demo", "#{cursor_flag}"), "the cursor is shown again")
	return text
}

// demoArgs is a short run: a healthy release over three steps, then a
// faulty one the guard rolls back.
const demoArgs = "-speed 4 -rps 400"

// The demo in a real terminal at the sizes people use: one panel redrawn in
// place, no line wider than the terminal, valid UTF-8 throughout, the
// summary at the end, exit status 0.
func TestDemoInTerminal(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {250, 50}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			t.Parallel()
			p := startPane(t, size[0], size[1], demoArgs)
			status, onePanel := p.watch(2*time.Minute, nil)
			final := strings.Join(p.screen(false), "\n")
			t.Logf("screen at the end, %dx%d:\n%s", size[0], size[1], final)
			assert.Equal(t, "0", status)
			assert.GreaterOrEqual(t, onePanel, 5, "samples that showed the panel")
			text := p.finalChecks()
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
	p := startPane(t, 80, 24, demoArgs+" -fault-errors 0 -fault-latency 0")
	sent := false
	status, _ := p.watch(2*time.Minute, func(screen string) {
		if !sent && strings.Contains(screen, termview.PanelMarker+"v2 → v3 · progressing") {
			p.tmux("send-keys", "-t", "demo", "C-c")
			sent = true
		}
	})
	require.True(t, sent, "the second release was never seen in flight")
	t.Logf("screen after Ctrl-C:\n%s", strings.Join(p.screen(false), "\n"))
	assert.Equal(t, "130", status)
	text := p.finalChecks()
	assert.Contains(t, text, "\ninterrupted: v3 rolled back, v2 serves all traffic\n")
	assert.Regexp(t, `v1 → v2\s+succeeded`, text)
	assert.Regexp(t, `v2 → v3\s+rolled_back`, text)
	assert.Contains(t, text, "v2 → v3 rolled back: interrupted by the user")
}

// Resizing the terminal while the demo runs: the panel follows the new
// width at once, and the screen still shows one panel.
func TestDemoFollowsResize(t *testing.T) {
	t.Parallel()
	p := startPane(t, 120, 40, demoArgs)
	waitFor(t, p, func(lines []string) bool { return panelCount(lines) == 1 })
	for _, size := range [][2]int{{70, 20}, {100, 30}, {50, 15}} {
		p.tmux("resize-window", "-t", "demo", "-x", fmt.Sprint(size[0]), "-y", fmt.Sprint(size[1]))
		// Lines printed before the resize were fitted to the old width;
		// the panel, redrawn, fits the new one.
		waitFor(t, p, func(lines []string) bool {
			return panelCount(lines) == 1 && panelFits(lines, size[0])
		})
	}
}

func waitFor(t *testing.T, p *pane, ok func([]string) bool) {
	t.Helper()
	var lines []string
	for range 50 {
		lines = p.screen(false)
		if ok(lines) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("screen never got there:\n%s", strings.Join(lines, "\n"))
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
