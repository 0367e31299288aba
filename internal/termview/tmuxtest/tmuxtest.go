// Package tmuxtest runs a program in a real terminal for tests: a tmux pane
// of a given size on a tmux server of its own (own socket, no user
// configuration), whose screen the test reads with capture-pane, types into
// with send-keys and resizes.
//
// Without tmux the test is skipped, or fails when RAMP_REQUIRE_SERVERS is
// set (CI), as internal/integration decides for every server binary. The
// server is killed when the test ends.
package tmuxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ramp-go/ramp/internal/integration"
)

// Pane is a program running in a tmux pane.
type Pane struct {
	t    testing.TB
	bin  string // the tmux binary
	sock string
	// Width and Height are the pane's size as last set.
	Width, Height int
}

// Start runs argv in a new pane width×height, with env (NAME=value) added
// to its environment and TERM=tmux-256color (tmux sets TERM last: to run a
// program under another TERM, start it through env(1)). The pane's shell prints
// "EXIT=<status>" when the program ends and then waits, so that the screen
// and the cursor can still be read; SIGINT (Ctrl-C) reaches the program
// only.
func Start(t testing.TB, width, height int, env []string, argv ...string) *Pane {
	t.Helper()
	bin := integration.Binary(t, "tmux")
	dir, err := os.MkdirTemp("", "tmuxtest") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	p := &Pane{t: t, bin: bin, sock: filepath.Join(dir, "s"), Width: width, Height: height}
	t.Cleanup(func() {
		_ = exec.Command(p.bin, "-S", p.sock, "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	// trap: the shell survives a Ctrl-C and reports the program's status.
	script := fmt.Sprintf(`trap : INT; %s; echo "EXIT=$?"; sleep 600`, strings.Join(quoted, " "))
	args := []string{"-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height),
		"-e", "TERM=tmux-256color"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	p.Tmux(append(args, "sh", "-c", script)...)
	return p
}

// Tmux runs a tmux command on the pane's server and returns its output.
func (p *Pane) Tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command(p.bin, append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

// Lines is the visible screen, or with history the whole scrollback too,
// with trailing spaces and blank rows at the bottom dropped. Wrapped lines
// are joined (capture-pane -J): a line the terminal had to wrap shows as
// one line wider than the pane.
func (p *Pane) Lines(history bool) []string {
	p.t.Helper()
	args := []string{"capture-pane", "-p", "-J", "-t", "main"}
	if history {
		args = append(args, "-S", "-")
	}
	lines := strings.Split(strings.TrimRight(p.Tmux(args...), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return lines
}

// Styled is the visible screen with the escape sequences of its colours and
// attributes (capture-pane -e).
func (p *Pane) Styled() string {
	p.t.Helper()
	return p.Tmux("capture-pane", "-p", "-e", "-t", "main")
}

// Screen is Lines(false) joined.
func (p *Pane) Screen() string { return strings.Join(p.Lines(false), "\n") }

// CursorVisible reports whether the program left the cursor shown.
func (p *Pane) CursorVisible() bool {
	return strings.TrimSpace(p.Tmux("display-message", "-p", "-t", "main", "#{cursor_flag}")) == "1"
}

// SendKeys types keys (tmux key names: "C-c", "Enter", or text).
func (p *Pane) SendKeys(keys ...string) {
	p.Tmux(append([]string{"send-keys", "-t", "main"}, keys...)...)
}

// Resize changes the pane's size; the program gets SIGWINCH.
func (p *Pane) Resize(width, height int) {
	p.Tmux("resize-window", "-t", "main", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height))
	p.Width, p.Height = width, height
}

var exitLine = regexp.MustCompile(`(?m)^EXIT=(\d+)$`)

// Exited returns the program's exit status once it has ended.
func (p *Pane) Exited() (status string, ok bool) {
	m := exitLine.FindStringSubmatch(p.Screen())
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Poll calls f with the visible screen every interval until f returns true
// or timeout passes; it fails the test then.
func (p *Pane) Poll(timeout, interval time.Duration, f func(lines []string) bool) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var lines []string
	for time.Now().Before(deadline) {
		lines = p.Lines(false)
		if f(lines) {
			return
		}
		time.Sleep(interval)
	}
	p.t.Fatalf("tmuxtest: gave up after %v; the screen:\n%s", timeout, strings.Join(lines, "\n"))
}
