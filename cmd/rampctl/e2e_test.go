package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/internal/integration"
	"github.com/ramp-go/ramp/internal/termview/tmuxtest"
)

const testToken = "s3cret-Tok3n-never-shown"

// proxyUnderTest is a canaryproxy process with two upstreams in this
// process and a little load through it.
type proxyUnderTest struct {
	proc         *integration.Process
	proxy, admin string
}

var servingLine = regexp.MustCompile(`msg=serving proxy=(\S+) admin=(\S+)`)

func startCanaryproxy(t *testing.T, args ...string) *proxyUnderTest {
	t.Helper()
	up := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	bin := integration.GoBuild(t, "github.com/ramp-go/ramp/examples/canaryproxy")
	argv := append([]string{"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-stable", up("stable"), "-canary", up("canary"),
		"-stable-version", "v1", "-canary-version", "v2", "-admin-token", testToken}, args...)
	p := &proxyUnderTest{proc: integration.StartProcess(t, exec.Command(bin, argv...))}
	p.proc.WaitReady(t, 20*time.Second, func() bool {
		m := servingLine.FindStringSubmatch(p.proc.Output())
		if m != nil {
			p.proxy, p.admin = "http://"+m[1], "http://"+m[2]
		}
		return m != nil
	})
	return p
}

// load sends requests through the proxy until the test ends.
func (p *proxyUnderTest) load(t *testing.T) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if resp, err := c.Get(p.proxy); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

type result struct {
	code           int
	stdout, stderr string
}

// rampctl runs the command in this process against p's admin API.
func (p *proxyUnderTest) rampctl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr strings.Builder
	getenv := func(k string) string {
		if k == addrEnv {
			return p.admin
		}
		return env[k]
	}
	code := run(ctx, args, getenv, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func (p *proxyUnderTest) status(t *testing.T) admin.Status {
	t.Helper()
	r := p.rampctl(t, nil, "get", "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var st admin.Status
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	return st
}

func (p *proxyUnderTest) waitShare(t *testing.T, percent float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.status(t).CanaryPercent != percent {
		require.True(t, time.Now().Before(deadline), "share never reached %v%%", percent)
		time.Sleep(20 * time.Millisecond)
	}
}

var withToken = map[string]string{tokenEnv: testToken}

func TestRampctlAgainstCanaryproxy(t *testing.T) {
	p := startCanaryproxy(t, "-steps", "10,50,100", "-step-duration", "1m")
	p.load(t)
	p.waitShare(t, 10)

	r := p.rampctl(t, nil, "get")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, want := range []string{"rollout  v1 → v2", "phase    progressing  step 1 of 3", "] 10% to v2", "10% ●  50% ·  100% ·", "verdict  none yet"} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Regexp(t, `(?m)^canary   v2 +\d+ +\d+ +0 +0%`, r.stdout, "per-version figures")

	// A wrong token: refused with exit 5, the token never echoed.
	for _, how := range [][]string{{"-token", "wrong-" + testToken, "promote"}, {"promote", "-token", "wrong-" + testToken}} {
		r = p.rampctl(t, nil, how...)
		assert.Equal(t, exitRefused, r.code)
		assert.Equal(t, "rampctl: promote: 401 Unauthorized: wrong admin token\n", r.stderr)
		assert.NotContains(t, r.stdout+r.stderr, testToken)
	}
	r = p.rampctl(t, map[string]string{tokenEnv: "wrong"}, "abort")
	assert.Equal(t, exitRefused, r.code)
	assert.NotContains(t, r.stdout+r.stderr, "wrong\n")
	r = p.rampctl(t, nil, "pause")
	assert.Equal(t, exitRefused, r.code)
	assert.Contains(t, r.stderr, "no token given")
	assert.Equal(t, 10.0, p.status(t).CanaryPercent, "nothing was done")

	// Token from a file, promote.
	tokenFile := t.TempDir() + "/token"
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600))
	r = p.rampctl(t, nil, "-token-file", tokenFile, "promote")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "promote: accepted")
	p.waitShare(t, 50)
	r = p.rampctl(t, nil, "get")
	assert.Contains(t, r.stdout, "step 2 of 3")
	assert.Contains(t, r.stdout, "10% ✓  50% ●  100% ·")

	// Operations that do not apply: exit 6.
	require.Equal(t, exitOK, p.rampctl(t, withToken, "pause").code)
	r = p.rampctl(t, withToken, "pause")
	assert.Equal(t, exitConflict, r.code)
	assert.Contains(t, r.stderr, "409 Conflict")
	r = p.rampctl(t, nil, "wait", "--until", "paused", "--timeout", "5s")
	assert.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, exitOK, p.rampctl(t, withToken, "resume").code)

	// wait: timeout (4) while the step holds, other outcome (3) after an
	// abort, the awaited phase (0).
	t0 := time.Now()
	r = p.rampctl(t, nil, "wait", "--until", "succeeded", "--timeout", "300ms", "-interval", "50ms")
	assert.Equal(t, exitTimeout, r.code)
	assert.Contains(t, r.stderr, "wait: not succeeded after 300ms: progressing step 2 of 3 canary 50%")
	t.Logf("wait --timeout 300ms returned after %v", time.Since(t0).Round(time.Millisecond))

	waited := make(chan result, 1)
	go func() {
		waited <- p.rampctl(t, nil, "wait", "--until", "succeeded", "--timeout", "20s", "-interval", "20ms")
	}()
	time.Sleep(100 * time.Millisecond)
	r = p.rampctl(t, withToken, "abort", "--reason", "checkout errors up")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "abort: accepted; rollout rolled_back, canary 0%")
	r = <-waited
	assert.Equal(t, exitOtherwise, r.code, "wait for success exits 3 on a rollback: %s", r.stderr)
	assert.Contains(t, r.stdout, `rolled_back step 2 of 3 canary 0% reason "aborted via the admin API: checkout errors up"`)
	assert.Contains(t, r.stderr, "the rollout ended rolled_back, not succeeded")
	r = p.rampctl(t, nil, "wait", "--until", "rolled_back", "--timeout", "5s")
	assert.Equal(t, exitOK, r.code)

	r = p.rampctl(t, nil, "get")
	assert.Contains(t, r.stdout, "reason   aborted via the admin API: checkout errors up")
	for deadline := time.Now().Add(5 * time.Second); ; { // events reach the history a moment after the phase
		r = p.rampctl(t, nil, "history")
		require.Equal(t, exitOK, r.code)
		if strings.Contains(r.stdout, "rolled_back  ") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{`step_started +progressing +2 +50%`, `promoted +progressing +1 +10% .* promoted manually`, `paused +paused +2`, "resumed",
		`rolled_back +rolled_back +2 +0% .* aborted via the admin API: checkout errors up`, `(?m)^v2 +v1 +rolled_back .* checkout errors up$`} {
		assert.Regexp(t, want, r.stdout)
	}

	// retry starts it again; promote --full ends it.
	r = p.rampctl(t, withToken, "retry")
	require.Equal(t, exitOK, r.code, r.stderr)
	p.waitShare(t, 10)
	r = p.rampctl(t, withToken, "promote", "--full")
	require.Equal(t, exitOK, r.code, r.stderr)
	r = p.rampctl(t, nil, "wait", "--until", "succeeded", "--timeout", "10s", "-interval", "20ms")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "succeeded canary 100%")
	assert.NotContains(t, p.proc.Output(), testToken, "canaryproxy does not log the token either")
}

func TestWaitForAnUnreachableAPITimesOut(t *testing.T) {
	addr := integration.FreeAddr(t) // nothing listens there
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"-addr", addr, "wait", "--until", "succeeded", "--timeout", "300ms", "-interval", "50ms"},
		func(string) string { return "" }, &stdout, &stderr)
	assert.Equal(t, exitTimeout, code)
	assert.Contains(t, stderr.String(), "connection refused")
}

// screenUntil reads the pane until its screen holds every want (a regular
// expression when it starts with "(?m)"), and returns it.
func screenUntil(p *tmuxtest.Pane, want ...string) string {
	var screen string
	p.Poll(15*time.Second, 50*time.Millisecond, func(lines []string) bool {
		screen = strings.Join(lines, "\n")
		for _, w := range want {
			if strings.HasPrefix(w, "(?m)") && !regexp.MustCompile(w).MatchString(screen) ||
				!strings.HasPrefix(w, "(?m)") && !strings.Contains(screen, w) {
				return false
			}
		}
		return true
	})
	return screen
}

func TestWatchInATerminal(t *testing.T) {
	p := startCanaryproxy(t, "-steps", "10,50,100", "-step-duration", "1m")
	p.load(t)
	p.waitShare(t, 10)
	bin := integration.GoBuild(t, "github.com/ramp-go/ramp/cmd/rampctl")
	// TERM=xterm through env(1): tmux sets TERM last.
	pane := tmuxtest.Start(t, 120, 30, []string{"LANG=C.UTF-8"}, "env", "TERM=xterm", bin, "-addr", p.admin, "watch", "-interval", "100ms")

	first := screenUntil(pane, "── ramp v1 → v2 · progressing · step 1 of 3", "[10%] → 50% → 100%", " 10.00%",
		"step_started step 1 of 3, canary 10%",
		`(?m)^ v1 +[1-9]\d* +0\.00% +\S+s$`, // stable's rate, 5xx share and p99
		`(?m)^ v2 +\d+ +0\.00% +\S+s$`)
	t.Logf("first screen:\n%s", strings.TrimRight(first, "\n"))

	require.Equal(t, exitOK, p.rampctl(t, withToken, "promote").code)
	second := screenUntil(pane, "progressing · step 2 of 3", "10% → [50%] → 100%", " 50.00%", "promoted step 1 of 3, canary 10%: promoted manually")
	t.Logf("after promote:\n%s", strings.TrimRight(second, "\n"))
	// Redrawn in place: one panel on the screen, not one per refresh;
	// the events scroll above it.
	assert.Equal(t, 1, strings.Count(second, "── ramp v1 → v2"), "the panel is redrawn in place")
	assert.Equal(t, 1, strings.Count(second, " steps "))
	assert.NotContains(t, second, " 10.00%")
	assert.Less(t, strings.Index(second, "promoted step 1 of 3"), strings.Index(second, "── ramp v1 → v2"), "events above the panel")

	require.Equal(t, exitOK, p.rampctl(t, withToken, "abort", "--reason", "seen in the terminal").code)
	last := screenUntil(pane, "rolled_back", "reason: aborted via the admin API: seen in the terminal", "EXIT=0")
	t.Logf("after abort:\n%s", strings.TrimRight(last, "\n"))
	assert.Equal(t, 1, strings.Count(last, "── ramp v1 → v2"))
	assert.Contains(t, last, "  0.00%")
}

func TestWatchPrintsLinesWhenNotATerminal(t *testing.T) {
	p := startCanaryproxy(t, "-steps", "10,50", "-step-duration", "1m")
	p.waitShare(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out integration.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", p.admin, "watch", "-interval", "20ms"}, func(string) string { return "" }, &out, io.Discard)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "canary 10%") {
		require.True(t, time.Now().Before(deadline), "no first line: %q", out.String())
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, exitOK, p.rampctl(t, withToken, "promote", "--full").code)
	require.Equal(t, exitOK, <-done, "watch ends with the rollout")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	t.Logf("watch output:\n%s", out.String())
	assert.Regexp(t, `^\d\d:\d\d:\d\d started, canary 0%$`, lines[0])
	assert.Contains(t, out.String(), "step_started step 1 of 2, canary 10%\n")
	assert.Contains(t, out.String(), "  v1 → v2 progressing step 1 of 2 v2 10.00% | v1 ", "a status line")
	assert.Contains(t, out.String(), "promoted step 1 of 2, canary 10%: promoted fully: remaining steps skipped\n")
	assert.Regexp(t, `^\d\d:\d\d:\d\d succeeded, canary 100%$`, lines[len(lines)-1])
	assert.LessOrEqual(t, strings.Count(out.String(), "req/s"), 2, "status lines at most once a second, not per poll")
	assert.NotContains(t, out.String(), "\x1b[", "no escape codes off a terminal")
}
