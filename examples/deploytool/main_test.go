package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUsage(t *testing.T) {
	required := []string{"-haproxy", "/run/h.sock", "-backend", "app", "-stable-server", "s1", "-canary-server", "s2", "-prometheus", "http://p:9090"}
	with := func(extra ...string) []string { return append(append([]string(nil), required...), extra...) }
	tests := []struct {
		name string
		args []string
		says []string
	}{
		{"nothing", nil, []string{"-haproxy: required", "-backend: required", "-stable-server: required", "-canary-server: required", "-prometheus: required"}},
		{"unknown flag", with("-nope"), []string{"flag provided but not defined: -nope"}},
		{"positional", with("extra"), []string{`unexpected argument "extra"`}},
		{"injection in backend", with("-backend", "app;shutdown sessions"), []string{`-backend: invalid HAProxy name: backend "app;shutdown sessions": character ';'`}},
		{"injection in server", with("-canary-server", "s2\nset weight app/s1 0"), []string{`-canary-server: invalid HAProxy name`}},
		{"same servers", with("-canary-server", "s1"), []string{`-canary-server: "s1" is also the stable server`}},
		{"same versions", with("-stable-version", "v", "-canary-version", "v"), []string{`-canary-version: "v" is also the stable version`}},
		{"version with white space", with("-canary-version", "v 2"), []string{`-canary-version: "v 2" contains white space`}},
		{"versions not release names", with("-stable-version", "latest", "-canary-version", "\tv2"),
			[]string{`-stable-version: "latest" is not an immutable release name`, `-canary-version: "\tv2" contains white space`}},
		{"server name with white space is blamed on the server alone", with("-canary-server", "s 2"), []string{"-canary-server:"}},
		{"every problem at once", with("-canary-version", "v 2", "-steps", "50,10", "-passes", "0"),
			[]string{`-canary-version: "v 2" contains white space`, "-steps:", "-passes:"}},
		{"bad url", with("-prometheus", "prometheus:9090"), []string{`-prometheus: "prometheus:9090" is not an http(s) URL`}},
		{"bad ratio", with("-max-error-rate", "5"), []string{`-max-error-rate: "5" is outside [0, 1]`}},
		{"bad ratio text", with("-max-error-rate", "lots"), []string{`-max-error-rate: "lots" is not a ratio`}},
		{"bad steps", with("-steps", "10,5,x"), []string{`-steps: item 2 "5"`, `-steps: item 3 "x": not a number`}},
		{"bad durations", with("-step-duration", "0s", "-interval", "-1s", "-initial-delay", "-1s"),
			[]string{"-step-duration: 0s must be positive", "-interval: -1s must be positive", "-initial-delay: -1s is negative"}},
		{"bad counts", with("-passes", "0", "-failure-limit", "-1", "-min-requests", "-3"),
			[]string{"-passes: 0 must be at least 1", "-failure-limit: -1 is negative", "-min-requests: -3 must be a number >= 0"}},
		{"empty queries", with("-error-rate-query", " ", "-count-query", "", "-max-latency", "1s", "-latency-query", ""),
			[]string{"-error-rate-query: empty", "-count-query: empty while -min-requests is 20", "-latency-query: empty while -max-latency is 1s"}},
		{"bad template", with("-error-rate-query", `rate(x{server="{{nope}}"}[1m])`), []string{"-error-rate-query:", "nope"}},
		{"bad latency template", with("-max-latency", "1s", "-latency-query", `x{server="{{backend}"}`), []string{"-latency-query:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runTool(context.Background(), tt.args...)
			assert.Equal(t, exitUsage, r.code, "stderr: %s", r.stderr)
			for _, s := range tt.says {
				assert.Contains(t, r.stderr, s)
			}
			assert.Empty(t, r.stdout)
		})
	}

	help := runTool(context.Background(), "-h")
	assert.Equal(t, exitPromoted, help.code)
	for _, s := range []string{"Exit status: 0 promoted, 3 rolled back", "-haproxy path", "-step-duration duration", "-max-error-rate ratio", `(default "10,50,100")`} {
		assert.Contains(t, help.stdout, s)
	}
}

func TestParseRatio(t *testing.T) {
	for in, want := range map[string]float64{"0.01": 0.01, "1%": 0.01, " 2.5 % ": 0.025, "0": 0, "100%": 1, "1": 1} {
		got, err := parseRatio(in)
		require.NoError(t, err, in)
		assert.InDelta(t, want, got, 1e-12, in)
	}
	for _, in := range []string{"", "%", "-1%", "101%", "1.5", "NaN", "Inf", "x%"} {
		_, err := parseRatio(in)
		assert.Error(t, err, in)
	}
}

func TestStripQueries(t *testing.T) {
	tests := map[string]string{
		"canary error rate 3.20% (n=10) > limit 1.00% (query: sum(rate(x{a=\"b\"}[1m])) / sum(rate(y[1m])))": "canary error rate 3.20% (n=10) > limit 1.00%",
		"a: no data (query: q()); b: pass (query: r(s()))":                                                   "a: no data; b: pass",
		"n below (count query: sum(increase(x[1m])))":                                                        "n below",
		"unbalanced (query: sum(":                                                                            "unbalanced (query: sum(",
		"nothing to strip (n=3)":                                                                             "nothing to strip (n=3)",
	}
	for in, want := range tests {
		assert.Equal(t, want, stripQueries(in))
	}
}

// fakeProm answers the preflight's vector(1) and gives every other query
// answer(query).
func fakeProm(t *testing.T, answer func(query string) (int, string)) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := r.Form.Get("query")
		w.Header().Set("Content-Type", "application/json")
		if q == "vector(1)" {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"1"]}]}}`, time.Now().Unix())
			return
		}
		code, body := answer(q)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func noData(string) (int, string) {
	return http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":[]}}`
}

func TestPreflightFailsBeforeMovingTraffic(t *testing.T) {
	prom := fakeProm(t, noData)
	dir, err := os.MkdirTemp("", "deploytool")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	missing := dir + "/admin.sock"

	r := runTool(context.Background(), "-haproxy", missing, "-backend", "app", "-stable-server", "stable",
		"-canary-server", "canary", "-prometheus", prom.URL)
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "deploytool: haproxy:")
	assert.Contains(t, r.stderr, missing)

	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	r = runTool(context.Background(), "-haproxy", s.hp.Socket, "-backend", "nope", "-stable-server", "stable",
		"-canary-server", "canary", "-prometheus", prom.URL)
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "No such backend.")

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	r = runTool(context.Background(), "-haproxy", s.hp.Socket, "-backend", "app", "-stable-server", "stable",
		"-canary-server", "canary", "-prometheus", down.URL)
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "deploytool: prometheus:")
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t), "nothing moved")
}

// siteArgs are the flags for a fast run against s and the Prometheus at promURL.
func siteArgs(s *site, promURL string, extra ...string) []string {
	return append([]string{
		"-haproxy", s.hp.Socket, "-backend", "app", "-stable-server", "stable", "-canary-server", "canary",
		"-prometheus", promURL, "-steps", "10,50,100", "-step-duration", "400ms", "-interval", "100ms",
	}, extra...)
}

// TestInterruptRollsBack: cancelling run's context (what SIGINT does)
// rolls back before run returns.
func TestInterruptRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	prom := fakeProm(t, noData) // no verdict ever: the first step holds
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan deployRun, 1)
	go func() { done <- runTool(ctx, siteArgs(s, prom.URL, "-progress-deadline", "1m")...) }()

	deadline := time.Now().Add(10 * time.Second)
	for s.weights(t)["canary"] == 0 {
		require.True(t, time.Now().Before(deadline), "the first step never reached HAProxy")
		time.Sleep(20 * time.Millisecond)
	}
	cancel(fmt.Errorf("signal: interrupt"))
	var r deployRun
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after the interrupt")
	}
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	assert.Equal(t, exitRolledBack, r.code)
	assert.Contains(t, r.stdout, "interrupted: signal: interrupt: rolling back")
	assert.Contains(t, r.stdout, "rolled back canary after")
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t))
}

// TestSIGINT sends a real SIGINT to the built tool: main wires the signal
// to the rollback.
func TestSIGINT(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tool and starts haproxy")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go command to build the tool: %v", err)
	}
	s := startSite(t)
	prom := fakeProm(t, noData)
	bin := filepath.Join(t.TempDir(), "deploytool")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, siteArgs(s, prom.URL, "-progress-deadline", "1m")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	deadline := time.Now().Add(10 * time.Second)
	for s.weights(t)["canary"] == 0 {
		require.True(t, time.Now().Before(deadline), "the first step never reached HAProxy")
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the tool did not exit after SIGINT")
	}
	t.Logf("%v\n%s%s", err, stdout.String(), stderr.String())
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, exitRolledBack, exit.ExitCode())
	assert.Contains(t, stdout.String(), "interrupted: received interrupt: rolling back")
	assert.Contains(t, stdout.String(), "rolled back canary after")
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t))
}

// TestNoDataRollsBackAtDeadline: a step that never gets a verdict is not
// promoted; the progress deadline rolls it back.
func TestNoDataRollsBackAtDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	var queries atomic.Int64
	prom := fakeProm(t, func(q string) (int, string) { queries.Add(1); return noData(q) })
	r := runTool(context.Background(), siteArgs(s, prom.URL, "-progress-deadline", "500ms")...)
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	assert.Equal(t, exitRolledBack, r.code)
	assert.Contains(t, r.stdout, "analysis no_data")
	assert.Contains(t, r.stdout, "progress deadline 500ms exceeded")
	assert.NotContains(t, r.stdout, "step 2 of 3")
	assert.Positive(t, queries.Load())
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t))
}

// TestPrometheusErrorsRollBack: a source that keeps failing is not a pass.
func TestPrometheusErrorsRollBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	s := startSite(t)
	prom := fakeProm(t, func(string) (int, string) {
		return http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"parse error: unexpected <EOF>"}`
	})
	r := runTool(context.Background(), siteArgs(s, prom.URL)...)
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	assert.Equal(t, exitRolledBack, r.code)
	assert.Contains(t, r.stdout, "analysis error")
	assert.Contains(t, r.stdout, "parse error: unexpected <EOF>")
	assert.True(t, strings.Contains(r.stdout, "analysis errored 5 times in a row"), r.stdout)
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t))
}
