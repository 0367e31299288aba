package ramp

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/strategy"
)

func TestCollector(t *testing.T) {
	h := newHarness(t, steps(strategy.Step{Percent: 12.25}), nil)
	h.start()
	h.until(h.atStep(0))
	c := NewCollector(h.r)
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP ramp_rollout_canary_percent Share of weighted traffic sent to the canary, in percent.
# TYPE ramp_rollout_canary_percent gauge
ramp_rollout_canary_percent{canary="v2",stable="v1"} 12.25
# HELP ramp_rollout_step Index of the rollout step in force (-1 before the first).
# TYPE ramp_rollout_step gauge
ramp_rollout_step{canary="v2",stable="v1"} 0
`), "ramp_rollout_canary_percent", "ramp_rollout_step"))
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP ramp_rollout_phase Current phase of the rollout (1 for the phase it is in).
# TYPE ramp_rollout_phase gauge
ramp_rollout_phase{canary="v2",phase="paused",stable="v1"} 0
ramp_rollout_phase{canary="v2",phase="pending",stable="v1"} 0
ramp_rollout_phase{canary="v2",phase="progressing",stable="v1"} 1
ramp_rollout_phase{canary="v2",phase="rolled_back",stable="v1"} 0
ramp_rollout_phase{canary="v2",phase="rolling_back",stable="v1"} 0
ramp_rollout_phase{canary="v2",phase="succeeded",stable="v1"} 0
`), "ramp_rollout_phase"))
}
