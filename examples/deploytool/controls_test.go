package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// passing answers every analysis query: no errors, plenty of requests.
func passing(q string) (int, string) {
	v := "0"
	if strings.Contains(q, "increase(") {
		v = "500"
	}
	return http.StatusOK, fmt.Sprintf(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,%q]}]}}`, time.Now().Unix(), v)
}

// failing answers a 30% error rate.
func failing(q string) (int, string) {
	v := "0.3"
	if strings.Contains(q, "increase(") {
		v = "500"
	}
	return http.StatusOK, fmt.Sprintf(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,%q]}]}}`, time.Now().Unix(), v)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// noSite are flags that pass validation but reach no HAProxy: a run that
// gets past the release controls fails its preflight with exit 1.
func noSite(t *testing.T, extra ...string) []string {
	return append([]string{"-haproxy", filepath.Join(t.TempDir(), "none.sock"), "-backend", "app",
		"-stable-server", "stable", "-canary-server", "canary", "-prometheus", "http://127.0.0.1:1"}, extra...)
}

func TestControlUsage(t *testing.T) {
	badWindows := writeFile(t, "w.json", `{"format":1,"deny":[{"name":"x","cron":"0 25 * * *","duration":"1h"}]}`)
	for _, tc := range []struct {
		name string
		args []string
		says []string
	}{
		{"env without history", noSite(t, "-env", "prod"), []string{`-history: required with -env "prod"`}},
		{"promote without env", append([]string{"promote"}, noSite(t, "-history", "h.json")...), []string{"-env: required by promote"}},
		{"unknown env", noSite(t, "-env", "qa", "-history", "h.json"), []string{`-env: "qa" is not one of -envs dev,staging,prod`}},
		{"bad windows file", noSite(t, "-windows", badWindows), []string{`-windows: ` + badWindows + `: windows file: deny[0].cron: "0 25 * * *": hour: 25 is outside 0-23`}},
		{"missing windows file", noSite(t, "-windows", "/nonexistent/w.json"), []string{"-windows: windows file: open /nonexistent/w.json"}},
		{"override without reason", noSite(t, "-windows", writeFile(t, "ok.json", `{"format":1}`), "-override-by", "alice"), []string{"-override-by: an override needs both"}},
		{"override without windows", noSite(t, "-override-by", "alice", "-override-reason", "x"), []string{"-override-by: there is no -windows file"}},
		{"moving tag in a pipeline", noSite(t, "-history", "h.json", "-env", "dev", "-canary-version", "latest"), []string{`-canary-version: "latest" is a moving tag`}},
		{"not a version in a pipeline", noSite(t, "-history", "h.json", "-env", "dev", "-canary-version", "canary"), []string{`-canary-version: "canary" is a moving tag`}},
		{"bad metadata", noSite(t, "-commit-time", "yesterday", "-digest", "sha256:12", "-commit", "xyz", "-notes-url", "notes"),
			[]string{`-commit-time: "yesterday" is not an RFC 3339 time`, `-digest: "sha256:12" is not a content digest`, `-commit: "xyz" is not a git commit id`, `-notes-url: "notes" is not an http(s) URL`}},
		{"bad label pattern", noSite(t, "-label-pattern", "("), []string{`-label-pattern: "(":`}},
		{"twice the same env", noSite(t, "-envs", "dev,prod,dev"), []string{`-envs: "dev" appears twice`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runTool(context.Background(), tc.args...)
			assert.Equal(t, exitUsage, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			for _, s := range tc.says {
				assert.Contains(t, r.stderr, s)
			}
		})
	}
	help := runTool(context.Background(), "-h")
	for _, s := range []string{"4 the -lock is held", "5 outside the -windows", "6 the pipeline refuses", "-lock file", "-windows file", "-approved-by person"} {
		assert.Contains(t, help.stdout, s)
	}
}

func TestOutsideTheWindowExits5(t *testing.T) {
	stopped := writeFile(t, "w.json", `{"format":1,"stop":{"who":"alice","why":"incident 4711"}}`)
	r := runTool(context.Background(), noSite(t, "-windows", stopped)...)
	assert.Equal(t, exitWindowClosed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "deploytool: outside the deployment window: the line is stopped by alice: incident 4711")
	assert.NotContains(t, r.stderr, "haproxy", "nothing was tried")

	// A freeze around now; an override lets the run go on (to its
	// preflight, which fails here: there is no HAProxy).
	now := time.Now().UTC()
	frozen := writeFile(t, "f.json", fmt.Sprintf(`{"format":1,"freezes":[{"name":"incident review","from":%q,"to":%q}]}`,
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)))
	r = runTool(context.Background(), noSite(t, "-windows", frozen)...)
	assert.Equal(t, exitWindowClosed, r.code)
	assert.Contains(t, r.stderr, `closed by freeze "incident review", until`)
	r = runTool(context.Background(), noSite(t, "-windows", frozen, "-override-by", "carol", "-override-reason", "CVE-2026-1")...)
	assert.Equal(t, exitError, r.code, r.stderr)
	assert.Contains(t, r.stdout, "deploytool: window closed; going ahead on the override of carol: CVE-2026-1")
	assert.Contains(t, r.stderr, "deploytool: haproxy:")
}

// -window-wait: the engine waits, pending, for the window (Config.Window
// with WaitForWindow) and deploytool gives up after the wait, exiting 5
// with the window's reason; a window that opens in time lets it go on.
func TestWindowWait(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	now := time.Now()
	frozen := freezeFile(t, now.Add(-time.Hour), now.Add(2*time.Second))
	r := runTool(context.Background(), siteArgs(s, fakeProm(t, passing).URL, "-windows", frozen, "-window-wait", "300ms")...)
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	assert.Equal(t, exitWindowClosed, r.code, "still closed after the wait: %s", r.stderr)
	assert.Contains(t, r.stdout, `deploytool: waiting up to 300ms for the deployment window: closed by freeze "maintenance"`)
	assert.Contains(t, r.stdout, `deploytool: waiting for the deployment window: closed by freeze "maintenance"`, "the engine's event says why")
	assert.Contains(t, r.stderr, `deploytool: outside the deployment window after waiting 300ms: closed by freeze "maintenance"`)
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t), "nothing moved")

	r = runTool(context.Background(), siteArgs(s, fakeProm(t, passing).URL, "-windows", frozen, "-window-wait", "1m", "-steps", "50,100", "-step-duration", "200ms")...)
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	assert.Equal(t, exitPromoted, r.code, "the window opened: the rollout ran: %s", r.stderr)
	assert.False(t, time.Now().Before(now.Add(2*time.Second)), "it waited for the freeze to end")
	assert.Less(t, strings.Index(r.stdout, "deploytool: waiting for the deployment window"), strings.Index(r.stdout, "gets 50.00%"))
	assert.NotContains(t, r.stdout, "paused", "the window holds the rollout, not a manual pause")

	r = runTool(context.Background(), noSite(t, "-window-wait", "-1s")...)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "-window-wait: -1s is negative")
}

func TestPipelineRefusalsExit6(t *testing.T) {
	history := filepath.Join(t.TempDir(), "releases.json")
	r := runTool(context.Background(), append([]string{"promote"}, noSite(t, "-env", "prod", "-history", history, "-canary-version", "v1.0.0", "-approved-by", "alice")...)...)
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, "deploytool: refused: release v1.0.0: cannot enter prod: it has not entered dev")

	// A history in which v1.0.0 passed staging with one digest.
	digest := "sha256:" + strings.Repeat("a", 64)
	other := "sha256:" + strings.Repeat("b", 64)
	require.NoError(t, os.WriteFile(history, []byte(`{"format":1,"releases":[{"identity":{"label":"v1.0.0","digest":"`+digest+`"},"path":[
		{"env":"dev","status":"succeeded","start":"2026-12-01T09:00:00Z","end":"2026-12-01T09:10:00Z"},
		{"env":"staging","status":"succeeded","start":"2026-12-01T10:00:00Z","end":"2026-12-01T10:30:00Z"}]},
		{"identity":{"label":"v1.1.0"},"path":[
		{"env":"dev","status":"succeeded","start":"2026-12-02T09:00:00Z","end":"2026-12-02T09:10:00Z"},
		{"env":"staging","status":"failed","start":"2026-12-02T10:00:00Z","end":"2026-12-02T10:30:00Z","reason":"rolled back"}]}]}`), 0o644))
	r = runTool(context.Background(), append([]string{"promote"}, noSite(t, "-env", "prod", "-history", history, "-canary-version", "v1.0.0", "-digest", other, "-approved-by", "alice")...)...)
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, `digest: "`+other+`", but v1.0.0 was recorded with "`+digest+`"`)

	r = runTool(context.Background(), append([]string{"promote"}, noSite(t, "-env", "prod", "-history", history, "-canary-version", "v1.0.0")...)...)
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, "prod needs an approval: -approved-by names the person who gave it")

	r = runTool(context.Background(), append([]string{"promote"}, noSite(t, "-env", "prod", "-history", history, "-canary-version", "v1.1.0", "-approved-by", "alice")...)...)
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, "cannot enter prod: it failed in staging")

	// Approved, right build: the release gets in, and the rollout runs
	// (its preflight fails here: no HAProxy), which the history records.
	r = runTool(context.Background(), append([]string{"promote"}, noSite(t, "-env", "prod", "-history", history, "-canary-version", "v1.0.0", "-approved-by", "alice")...)...)
	assert.Equal(t, exitError, r.code, r.stderr)
	assert.Contains(t, r.stderr, "deploytool: haproxy:")
	assert.Contains(t, r.stdout, "deploytool: release v1.0.0: failed in prod, approved by alice")
	assert.Contains(t, r.stdout, "deploytool: four keys in prod over 720h0m0s: deployment frequency")
	var file struct {
		Releases []struct {
			Path []struct{ Env, Status, Reason, ApprovedBy string }
		}
	}
	b, err := os.ReadFile(history)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &file))
	prod := file.Releases[0].Path[2]
	assert.Equal(t, "prod", prod.Env)
	assert.Equal(t, "failed", prod.Status)
	assert.Equal(t, "deploytool exited 1", prod.Reason)
}

// A run killed mid-rollout leaves its stage running; the next run that
// holds the lock marks it failed: the release's outcome is unknown.
func TestDeadRunIsAbandoned(t *testing.T) {
	history := writeFile(t, "releases.json", `{"format":1,"releases":[{"identity":{"label":"v1.0.0"},"path":[
		{"env":"dev","status":"running","start":"2026-12-01T09:00:00Z"}]}]}`)
	args := append([]string{"promote"}, noSite(t, "-env", "dev", "-history", history, "-canary-version", "v1.0.0")...)
	r := runTool(context.Background(), args...)
	assert.Equal(t, exitRefused, r.code)
	assert.Contains(t, r.stderr, "its rollout in dev started at 2026-12-01T09:00:00Z has not ended")
	assert.NotContains(t, r.stderr, "marked failed", "without the lock it cannot know the run is dead")

	r = runTool(context.Background(), append(args, "-lock", filepath.Join(t.TempDir(), "app.lock"))...)
	assert.Equal(t, exitRefused, r.code)
	assert.Contains(t, r.stderr, "marked failed: its run died before it ended")
	b, err := os.ReadFile(history)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"status": "failed"`)
	assert.Contains(t, string(b), "abandoned: its deploytool run ended without recording how")
}

// The whole pipeline through a real HAProxy: dev, staging, prod with its
// approval; then a release that fails in staging cannot enter prod.
func TestPipelineEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	good, bad := fakeProm(t, passing), fakeProm(t, failing)
	history := filepath.Join(t.TempDir(), "releases.json")
	commitTime := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	args := func(prom, env, version string, extra ...string) []string {
		return append(append([]string{"promote"}, siteArgs(s, prom, "-history", history, "-env", env,
			"-stable-version", "v0.9.0", "-canary-version", version, "-commit-time", commitTime,
			"-steps", "50,100", "-step-duration", "200ms", "-progress-deadline", "10s")...), extra...)
	}
	for _, env := range []string{"dev", "staging", "prod"} {
		s.setWeights(t, 256, 0)
		r := runTool(context.Background(), args(good.URL, env, "v1.0.0", "-approved-by", "alice")...)
		t.Logf("%s: exit %d\n%s%s", env, r.code, r.stdout, r.stderr)
		require.Equal(t, exitPromoted, r.code, r.stderr)
		assert.Contains(t, r.stdout, "deploytool: release v1.0.0: succeeded in "+env)
	}
	s.setWeights(t, 256, 0)
	r := runTool(context.Background(), args(good.URL, "dev", "v1.1.0")...)
	require.Equal(t, exitPromoted, r.code, r.stderr)
	s.setWeights(t, 256, 0)
	r = runTool(context.Background(), args(bad.URL, "staging", "v1.1.0")...)
	t.Logf("staging, failing: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	require.Equal(t, exitRolledBack, r.code, r.stderr)
	assert.Contains(t, r.stdout, "deploytool: release v1.1.0: failed in staging")
	r = runTool(context.Background(), args(good.URL, "prod", "v1.1.0", "-approved-by", "alice")...)
	assert.Equal(t, exitRefused, r.code)
	assert.Contains(t, r.stderr, "cannot enter prod: it failed in staging")
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t), "the refused release moved nothing")

	r = runTool(context.Background(), args(good.URL, "prod", "v1.0.0", "-approved-by", "alice")...)
	assert.Equal(t, exitPromoted, r.code, "promoting a live release again does nothing")
	assert.Contains(t, r.stdout, "nothing to do")
	// One deployment to prod, succeeded, lead time about an hour.
	assert.Regexp(t, `four keys in prod over 720h0m0s: deployment frequency 0.03/day \(medium\), lead time 1h0m0s \(elite\), change failure rate 0% \(0 of 1\) \(elite\), time to restore n/a \(unknown\)`, r.stdout)
}

// Two deploytool processes on one service and one lock file: the second
// exits 4 naming the first; after a SIGKILL of the first, the next runs.
func TestLockBetweenProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tool and starts haproxy")
	}
	goBin, err := exec.LookPath("go") // go test runs with it on PATH
	require.NoError(t, err, "the go command builds the tool")
	s := startSite(t)
	bin := filepath.Join(t.TempDir(), "deploytool")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	lockFile := filepath.Join(t.TempDir(), "app.lock")

	// The first holds its first step: no verdict ever comes.
	first := exec.Command(bin, siteArgs(s, fakeProm(t, noData).URL, "-lock", lockFile, "-canary-version", "v2.0.0", "-progress-deadline", "5m")...)
	stdout, err := first.StdoutPipe()
	require.NoError(t, err)
	var firstErr strings.Builder
	first.Stderr = &firstErr
	require.NoError(t, first.Start())
	t.Cleanup(func() { _ = first.Process.Kill(); _ = first.Wait() })
	lines := bufio.NewScanner(stdout)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if strings.Contains(lines.Text(), "step 1 of 3") {
			break
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.weights(t)["canary"] != 28 { // the step is announced before HAProxy has it
		require.True(t, time.Now().Before(deadline), "the first run never reached its first step; it said:\n%s\n%s", strings.Join(seen, "\n"), firstErr.String())
		time.Sleep(20 * time.Millisecond)
	}
	go func() { // keep draining, so the first never blocks on its output
		for lines.Scan() {
		}
	}()

	start := time.Now()
	second := exec.Command(bin, siteArgs(s, fakeProm(t, passing).URL, "-lock", lockFile, "-canary-version", "v2.0.1")...)
	secondOut, err := second.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", secondOut)
	assert.Equal(t, exitLockHeld, exit.ExitCode(), "%s", secondOut)
	assert.Less(t, time.Since(start), 5*time.Second, "the second fails fast")
	host, _ := os.Hostname()
	assert.Contains(t, string(secondOut), fmt.Sprintf(`deploytool: lock "app" is held by %s pid %d releasing v2.0.0 (deploytool: stable → v2.0.0 in backend app) since `, host, first.Process.Pid))
	assert.Equal(t, 28, s.weights(t)["canary"], "the second moved nothing")

	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()

	third := exec.Command(bin, siteArgs(s, fakeProm(t, passing).URL, "-lock", lockFile, "-canary-version", "v2.0.1")...)
	thirdOut, err := third.CombinedOutput()
	t.Logf("third run:\n%s", thirdOut)
	require.NoError(t, err, "the lock of a killed holder does not block")
	assert.Contains(t, string(thirdOut), "deploytool: holding the deploy lock "+lockFile)
	assert.Contains(t, string(thirdOut), "deploytool: promoted v2.0.1")
	assert.Equal(t, map[string]int{"stable": 0, "canary": 256}, s.weights(t))
}

func freezeFile(t *testing.T, from, to time.Time) string {
	return writeFile(t, "freeze.json", fmt.Sprintf(`{"format":1,"freezes":[{"name":"maintenance","from":%q,"to":%q}]}`,
		from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano)))
}

// A window that closes while the rollout runs holds its step until it
// opens again; no step starts while it is closed.
func TestWindowClosingMidRolloutHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	from := time.Now().Add(1500 * time.Millisecond) // haproxy and the first step are up by then
	to := from.Add(1500 * time.Millisecond)
	r := runTool(context.Background(), siteArgs(s, fakeProm(t, passing).URL, "-windows", freezeFile(t, from, to),
		"-steps", "10,50,100", "-step-duration", "800ms")...)
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	require.Equal(t, exitPromoted, r.code, r.stderr)
	out := r.stdout
	held := strings.Index(out, "deploytool: window closed: holding the current step: closed by freeze \"maintenance\"")
	open := strings.Index(out, "deploytool: window open again: going on")
	require.Positive(t, held)
	require.Greater(t, open, held)
	between := out[held:open]
	assert.NotContains(t, between, "gets ", "no step starts while the window is closed")
	assert.Contains(t, out[open:], "step 3 of 3")
	assert.NotContains(t, out, "paused", "the engine holds the step (Config.Window), not a manual pause")
	assert.GreaterOrEqual(t, r.took, 3*time.Second, "the run waited for the window")
}

// An override of a closed window is recorded by the engine: its event
// names who and why.
func TestWindowOverrideRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	now := time.Now()
	r := runTool(context.Background(), siteArgs(s, fakeProm(t, passing).URL, "-windows", freezeFile(t, now.Add(-time.Hour), now.Add(time.Hour)),
		"-override-by", "carol", "-override-reason", "CVE-2026-1", "-steps", "50,100", "-step-duration", "200ms",
		"-commit", "0123456", "-commit-time", "2026-12-01T09:30:00+01:00", "-digest", "sha256:"+strings.Repeat("c", 64))...)
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	require.Equal(t, exitPromoted, r.code, r.stderr)
	assert.Contains(t, r.stdout, "deploytool: window closed; going ahead on the override of carol: CVE-2026-1")
	assert.Regexp(t, `\] no step yet: window overridden by carol: CVE-2026-1`, r.stdout)
	// -commit, -commit-time and -digest reach the engine's history
	// (Config.Release).
	assert.Contains(t, r.stdout, "deploytool: history: canary succeeded: commit 0123456, digest sha256:"+strings.Repeat("c", 64)+", committed 2026-12-01T08:30:00Z")
}

// A rollback is never held by a window: interrupted while held, the run
// rolls back.
func TestRollbackWhileHeldByTheWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	from := time.Now().Add(1500 * time.Millisecond)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan deployRun, 1)
	go func() {
		done <- runTool(ctx, siteArgs(s, fakeProm(t, passing).URL, "-windows", freezeFile(t, from, from.Add(time.Hour)),
			"-steps", "10,50,100", "-step-duration", "800ms")...)
	}()
	time.Sleep(time.Until(from.Add(500 * time.Millisecond)))
	require.Positive(t, s.weights(t)["canary"], "the rollout is under way")
	cancel(fmt.Errorf("signal: interrupt"))
	var r deployRun
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("no rollback while held")
	}
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	assert.Equal(t, exitRolledBack, r.code)
	assert.Contains(t, r.stdout, "deploytool: window closed: holding the current step")
	assert.Contains(t, r.stdout, "rolled back: stable has all traffic")
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t))
}
