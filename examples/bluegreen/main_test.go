package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/rollback"
)

// testMaxP99 is the latency limit of the tests that play the whole release.
// Both versions answer at once, so their latency is the machine's: on a
// loaded 2-core machine under -race the p99 of loopback requests reached
// 724 ms, blue's as much as green's. These tests prove the course of the
// release (the output they log shows the p99 measured);
// TestRun/a_slow_green_is_rolled_back proves that the limit judges.
const testMaxP99 = 5 * time.Second

func TestReleaseSwitchesThenRollsBack(t *testing.T) {
	var out bytes.Buffer
	rep, err := release(context.Background(), options{hold: 300 * time.Millisecond, rate: 400, maxP99: testMaxP99}, &out)
	require.NoError(t, err, out.String())
	rep.print(&out)
	t.Log("\n" + out.String())

	require.Len(t, rep.stages, 4, "the initial route, the preview, the switch, the rollback")
	for i, c := range []struct {
		name           string
		blue, green    float64
		users, testers string // the only version each may have reached
	}{
		{"before", 100, 0, blue, blue},
		{"preview", 100, 0, blue, green},
		{"switch", 0, 100, green, green},
		{"rollback", 100, 0, blue, blue},
	} {
		s := rep.stages[i]
		assert.Equal(t, c.name, stageName(i, s.route), "stage %d", i)
		assert.Equal(t, c.blue, s.route.Percent(blue), "stage %d: blue's weight", i)
		assert.Equal(t, c.green, s.route.Percent(green), "stage %d: green's weight", i)
		assert.Positive(t, s.users[c.users], "stage %s: users on %s", c.name, c.users)
		assert.Len(t, s.users, 1, "stage %s: users reached only %s: %v", c.name, c.users, s.users)
		if i > 0 { // the first stage is short: testers, a tenth of the load, may not have come yet
			assert.Positive(t, s.testers[c.testers], "stage %s: testers on %s", c.name, c.testers)
		}
		for version := range s.testers {
			assert.Equal(t, c.testers, version, "stage %s: testers reached only %s: %v", c.name, c.testers, s.testers)
		}
	}
	assert.Len(t, rep.stages[1].route.Rules, 1, "the preview routes by header")

	assert.Equal(t, ramp.RolledBack, rep.phase)
	assert.Equal(t, incident, rep.reason)
	require.NotEmpty(t, rep.history)
	last := rep.history[len(rep.history)-1]
	assert.Equal(t, green, last.Version)
	assert.Equal(t, rollback.OutcomeRolledBack, last.Outcome)
	// One route change back (the four stages above); how long it took is
	// a measurement of this machine, in the output logged above.
	assert.Zero(t, rep.failed)

	for _, want := range []string{"pre-promotion analysis: pass", "switch: green takes 100%", "post-promotion analysis: pass", "succeeded", "incident:", "rolled back:"} {
		assert.Contains(t, out.String(), want)
	}
	assert.Less(t, strings.Index(out.String(), "pre-promotion"), strings.Index(out.String(), "switch:"), "analysed before the switch")
}

func TestRun(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		out  string // expected in stdout (0) or stderr (2)
	}{
		{"plays the release", []string{"-hold", "200ms", "-rate", "400", "-max-p99", testMaxP99.String()}, 0, "Outcome: rolled_back"},
		{"a slow green is rolled back", []string{"-hold", "200ms", "-rate", "400", "-max-p99", "1us"}, 1, "rolled back unexpectedly: analysis failed at step 1 of 2 (0.00%): canary p99 latency"},
		{"hold too short", []string{"-hold", "1ms"}, 2, "-hold"},
		{"latency limit not positive", []string{"-max-p99", "0s"}, 2, "-max-p99: 0s must be positive"},
		{"rate out of range", []string{"-rate", "0"}, 2, "-rate"},
		{"unknown flag", []string{"-fast"}, 2, "-fast"},
		{"stray argument", []string{"now"}, 2, "unexpected arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.args, &stdout, &stderr)
			require.Equal(t, c.code, code, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			switch c.code {
			case 0:
				assert.Contains(t, stdout.String(), c.out)
				assert.Empty(t, stderr.String())
				t.Log("\n" + stdout.String())
			case 1:
				assert.Contains(t, stderr.String(), c.out)
				assert.Contains(t, stdout.String(), "pre-promotion analysis: fail")
				assert.NotContains(t, stdout.String(), "switch:", "never switched to a failing green")
			default:
				assert.Contains(t, stderr.String(), c.out)
			}
		})
	}
}
