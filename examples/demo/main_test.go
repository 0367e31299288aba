package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/internal/integration"
)

// The demo plays both releases for real on loopback: the healthy one ends
// succeeded, the faulty one rolled back by the guard, and it exits 0.
func TestDemoPlaysBothReleases(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	demoSlot(t)
	code := run(ctx, []string{"-speed", "3", "-plain", "-rps", "200", "-max-p99", "5s"}, &out, &errs)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errs.String(), out.String())
	s := out.String()
	require.Contains(t, s, "Summary")
	assert.Regexp(t, regexp.MustCompile(`v1 → v2\s+succeeded`), s)
	assert.Regexp(t, regexp.MustCompile(`v2 → v3\s+rolled_back`), s)
	assert.Contains(t, s, "v2 → v3 rolled back: guard: canary")
	assert.Contains(t, s, "step 3 of 3: v2 gets 100.00% of traffic")
	assert.NotContains(t, s, "\x1b", "no escape sequences when the output is not a terminal")
	// The time from fault to rollback is reported, not "-".
	line := s[strings.Index(s, "v2 → v3    rolled_back"):]
	line = line[:strings.Index(line, "\n")]
	assert.Regexp(t, regexp.MustCompile(`\d+(\.\d+)?m?s$`), strings.TrimSpace(line))
}

func TestDemoBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-steps", "10,abc"}, `-steps: steps: item 2 "abc": not a number`},
		{[]string{"-speed", "0"}, "-speed: 0 must be positive"},
		{[]string{"-fault-errors", "1.5"}, "-fault-errors: 1.5 is outside [0, 1]"},
		{[]string{"-rps", "5"}, "-rps: 5 is outside [10, 20000]"},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
	} {
		var out, errs bytes.Buffer
		assert.Equal(t, 2, run(context.Background(), tc.args, &out, &errs), tc.args)
		assert.Contains(t, errs.String(), tc.want)
	}
}

// An interrupt (ctx cancelled, as on Ctrl-C) in the middle of a release
// rolls it back, says so, prints the summary and exits 130; here on plain
// output, the terminal case is in tmux_test.go.
func TestDemoInterruptRollsBackPlain(t *testing.T) {
	t.Parallel()
	demoSlot(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out integration.SyncBuffer
	var errs bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-speed", "4", "-plain", "-rps", "300", "-max-p99", "5s", "-fault-errors", "0", "-fault-latency", "0"}, &out, &errs)
	}()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), "step 1 of 3: v3 gets 10.00% of traffic") {
		select {
		case code := <-done:
			t.Fatalf("the demo ended (%d) before the second release:\n%s", code, out.String())
		case <-deadline:
			t.Fatalf("the second release never started:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo did not end after the interrupt:\n%s", out.String())
	}
	s := out.String()
	assert.Equal(t, 130, code, "stderr: %s\nstdout: %s", errs.String(), s)
	assert.Empty(t, errs.String())
	assert.Contains(t, s, "\ninterrupted: v3 rolled back, v2 serves all traffic\n")
	assert.Regexp(t, regexp.MustCompile(`v2 → v3\s+rolled_back`), s)
	assert.Contains(t, s, "v2 → v3 rolled back: interrupted by the user")
	assert.Less(t, strings.Index(s, "interrupted:"), strings.Index(s, "Summary"))
	assert.NotContains(t, s, "\x1b", "no escape sequences in plain output")
}

// An interrupt between releases (or before the first) rolls nothing back.
func TestInterruptLine(t *testing.T) {
	assert.Equal(t, "interrupted: no release in flight, v1 serves all traffic", interruptLine(nil, "v1"))
	done := &release{stable: "v1", canary: "v2", outcome: ramp.Succeeded}
	assert.Equal(t, "interrupted: no release in flight, v2 serves all traffic", interruptLine([]*release{done}, "v2"))
	rolled := &release{stable: "v2", canary: "v3", outcome: ramp.RolledBack, interrupted: true}
	assert.Equal(t, "interrupted: v3 rolled back, v2 serves all traffic", interruptLine([]*release{done, rolled}, "v2"))
	guard := &release{stable: "v2", canary: "v3", outcome: ramp.RolledBack}
	assert.Equal(t, "interrupted: no release in flight, v2 serves all traffic", interruptLine([]*release{done, guard}, "v2"),
		"the guard, not the interrupt, rolled it back")
}
