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
)

// The demo plays both releases for real on loopback: the healthy one ends
// succeeded, the faulty one rolled back by the guard, and it exits 0.
func TestDemoPlaysBothReleases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	code := run(ctx, []string{"-speed", "3", "-plain", "-rps", "200"}, &out, &errs)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errs.String(), out.String())
	s := out.String()
	require.Contains(t, s, "Summary")
	assert.Regexp(t, regexp.MustCompile(`v1 → v2\s+succeeded`), s)
	assert.Regexp(t, regexp.MustCompile(`v2 → v3\s+rolled_back`), s)
	assert.Contains(t, s, "v2 → v3 rolled back: guard: canary")
	assert.Contains(t, s, "step 3 of 3: v2 gets 100.00% of traffic")
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
