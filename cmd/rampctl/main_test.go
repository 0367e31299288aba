package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ramp-go/ramp/admin"
)

func runArgs(env map[string]string, args ...string) result {
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		says string
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"deploy"}, `unknown command "deploy"`},
		{"unknown flag", []string{"get", "-x"}, "flag provided but not defined: -x"},
		{"stray argument", []string{"promote", "now"}, `promote: unexpected argument "now"`},
		{"wait without --until", []string{"wait"}, `wait: --until: "" is not one of pending, progressing`},
		{"wait for a phase that is not one", []string{"wait", "--until", "done"}, `--until: "done" is not one of`},
		{"wait with a bad timeout", []string{"wait", "--until", "succeeded", "--timeout", "0s"}, "--timeout: 0s must be positive"},
		{"wait with an unparseable timeout", []string{"wait", "--until", "succeeded", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"bad output", []string{"get", "-o", "yaml"}, `get: -o: "yaml" is not text or json`},
		{"bad interval", []string{"watch", "-interval", "-1s"}, "watch: -interval: -1s must be positive"},
		{"bad address", []string{"-addr", "ftp://x", "get"}, `-addr: "ftp://x": scheme must be http or https`},
		{"no host", []string{"-addr", "http://", "get"}, `-addr: "http://": no host`},
		{"missing token file", []string{"-token-file", "/nonexistent/token", "promote"}, "-token-file: open /nonexistent/token"},
		{"bad request timeout", []string{"-request-timeout", "0s", "get"}, "-request-timeout: 0s must be positive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runArgs(nil, c.args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, c.says)
			assert.Contains(t, r.stderr, "Run rampctl -h for usage.")
			assert.Empty(t, r.stdout)
		})
	}
	h := runArgs(nil, "-h")
	assert.Equal(t, exitOK, h.code)
	assert.Contains(t, h.stdout, "wait --until PHASE")
	assert.Contains(t, h.stdout, "4 wait: timed out, 5 refused (token), 6 not allowed in this phase")
}

func TestTokenNeverInAnError(t *testing.T) {
	const secret = "hunter2-secret"
	r := runArgs(nil, "-addr", "http://user:"+secret+"@127.0.0.1:1", "-token", secret, "promote")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "no user info in the address")
	assert.NotContains(t, r.stderr, secret)

	// Nothing listens on port 1: the connection error names the address,
	// never the token.
	r = runArgs(map[string]string{tokenEnv: secret}, "-addr", "127.0.0.1:1", "abort", "--reason", "x")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "connection refused")
	assert.NotContains(t, r.stdout+r.stderr, secret)
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8081":             "http://127.0.0.1:8081/",
		"http://127.0.0.1:8081":      "http://127.0.0.1:8081/",
		"https://ops.internal/ramp":  "https://ops.internal/ramp/",
		"https://ops.internal/ramp/": "https://ops.internal/ramp/",
		"http://[::1]:8081/admin/x/": "http://[::1]:8081/admin/x/",
	} {
		u, err := parseAddr(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, u.String(), in)
			assert.Equal(t, strings.TrimSuffix(want, "/")+"/status", (&client{base: u}).url("status", nil))
		}
	}
}

func TestStepTextAndSummary(t *testing.T) {
	steps := []admin.Step{{Percent: 10}, {Percent: 50}, {Percent: 100}}
	for _, c := range []struct {
		st   admin.Status
		want string
	}{
		{admin.Status{Phase: "pending", Step: -1, Steps: steps}, "pending no step yet canary 0%"},
		{admin.Status{Phase: "progressing", Step: 1, Steps: steps, CanaryPercent: 50}, "progressing step 2 of 3 canary 50%"},
		{admin.Status{Phase: "paused", Step: 0, Steps: steps, CanaryPercent: 10.5, Reason: "paused manually"}, `paused step 1 of 3 canary 10.5% reason "paused manually"`},
		{admin.Status{Phase: "succeeded", Step: 0, Steps: steps, CanaryPercent: 100, LastVerdict: &admin.Verdict{Verdict: "pass"}}, "succeeded canary 100% verdict pass"},
		{admin.Status{Phase: "progressing", Step: 4}, "progressing step 5 canary 0%"},
	} {
		assert.Equal(t, c.want, summary(c.st))
	}
}

func TestNewEvents(t *testing.T) {
	ev := func(kind string, step int) admin.Event { return admin.Event{Kind: kind, Step: step} }
	h := []admin.Event{ev("started", -1), ev("step_started", 0), ev("analysis", 0), ev("step_started", 1)}
	assert.Equal(t, h, newEvents(h, nil), "the first read: all")
	assert.Equal(t, h[2:], newEvents(h, &h[1]))
	assert.Empty(t, newEvents(h, &h[3]), "nothing new")
	gone := ev("paused", 7)
	assert.Equal(t, h, newEvents(h, &gone), "the ring moved past the last one printed: all")
	assert.Regexp(t, `^\d\d:\d\d:\d\d step_started step 2 of 3, canary 50%$`, eventLine(admin.Event{Kind: "step_started", Step: 1, CanaryPercent: 50}, 3))
	assert.Contains(t, eventLine(admin.Event{Kind: "succeeded", Step: 0, CanaryPercent: 100}, 3), " succeeded, canary 100%")
	assert.Contains(t, eventLine(admin.Event{Kind: "analysis", Step: 0, CanaryPercent: 10, Verdict: "fail", Reason: "5xx 3%"}, 3),
		" analysis step 1 of 3, canary 10%, fail: 5xx 3%")
}
