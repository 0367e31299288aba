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

func TestReleaseSwitchesThenRollsBack(t *testing.T) {
	var out bytes.Buffer
	rep, err := release(context.Background(), options{hold: 300 * time.Millisecond, rate: 400}, &out)
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
	assert.Less(t, rep.rollbackTook, 100*time.Millisecond, "one route change")
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
		{"plays the release", []string{"-hold", "200ms", "-rate", "400"}, 0, "Outcome: rolled_back"},
		{"hold too short", []string{"-hold", "1ms"}, 2, "-hold"},
		{"rate out of range", []string{"-rate", "0"}, 2, "-rate"},
		{"unknown flag", []string{"-fast"}, 2, "-fast"},
		{"stray argument", []string{"now"}, 2, "unexpected arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.args, &stdout, &stderr)
			require.Equal(t, c.code, code, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			if c.code == 0 {
				assert.Contains(t, stdout.String(), c.out)
				assert.Empty(t, stderr.String())
			} else {
				assert.Contains(t, stderr.String(), c.out)
			}
		})
	}
}
