package rollback

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewHistoryLimit(t *testing.T) {
	for _, n := range []int{0, -1, -100} {
		_, err := NewHistory(n)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "limit: "+strconv.Itoa(n)+" must be at least 1")
	}
	h, err := NewHistory(3)
	require.NoError(t, err)
	assert.Equal(t, 3, h.Limit())
	var zero History
	assert.Equal(t, DefaultHistoryLimit, zero.Limit())
}

func rev(v string, start time.Duration) Revision {
	return Revision{Version: v, StartedAt: t0.Add(start)}
}

func TestHistoryKeepsLastN(t *testing.T) {
	h, err := NewHistory(3)
	require.NoError(t, err)
	for i, v := range []string{"v1", "v2", "v3", "v4", "v5"} {
		require.NoError(t, h.Add(rev(v, time.Duration(i)*time.Hour)))
	}
	var got []string
	for _, r := range h.Revisions() {
		got = append(got, r.Version)
		assert.Equal(t, OutcomeLive, r.Outcome, "empty outcome means live")
	}
	assert.Equal(t, []string{"v3", "v4", "v5"}, got)
	assert.Equal(t, 3, h.Len())
	_, ok := h.Get("v1")
	assert.False(t, ok, "evicted")

	// Seeding keeps the last limit too.
	h2, err := NewHistory(2, h.Revisions()...)
	require.NoError(t, err)
	assert.Equal(t, "v4", h2.Revisions()[0].Version)
}

func TestHistoryRevisionsIsACopy(t *testing.T) {
	var h History
	require.NoError(t, h.Add(rev("v1", 0)))
	rs := h.Revisions()
	rs[0].Version = "changed"
	r, ok := h.Get("v1")
	require.True(t, ok)
	assert.Equal(t, "v1", r.Version)
}

func TestHistoryEnd(t *testing.T) {
	var h History
	require.NoError(t, h.Add(rev("v1", 0)))
	require.NoError(t, h.End("v1", OutcomeSucceeded, "", t0.Add(time.Hour)))
	require.NoError(t, h.Add(rev("v2", 2*time.Hour)))
	require.NoError(t, h.Fault("v2", t0.Add(2*time.Hour+time.Minute)))
	require.NoError(t, h.Fault("v2", t0.Add(3*time.Hour)), "a later fault keeps the first")
	require.NoError(t, h.End("v2", OutcomeRolledBack, "guard: 5xx", t0.Add(2*time.Hour+time.Minute+300*time.Millisecond)))
	require.NoError(t, h.Add(rev("v3", 4*time.Hour)))
	require.NoError(t, h.End("v3", OutcomeSucceeded, "", t0.Add(5*time.Hour)))

	rs := h.Revisions()
	require.Len(t, rs, 3)
	assert.Equal(t, OutcomeReplaced, rs[0].Outcome, "v1 replaced when v3 succeeded")
	assert.Equal(t, t0.Add(5*time.Hour), rs[0].EndedAt, "replaced when v3 succeeded")
	assert.Equal(t, OutcomeRolledBack, rs[1].Outcome)
	assert.Equal(t, "guard: 5xx", rs[1].Reason)
	assert.Equal(t, t0.Add(2*time.Hour+time.Minute), rs[1].FaultAt)
	assert.Equal(t, OutcomeSucceeded, rs[2].Outcome)

	// A revision released again: the newest one is ended.
	require.NoError(t, h.Add(rev("v2", 6*time.Hour)))
	require.NoError(t, h.End("v2", OutcomeRolledBack, "again", t0.Add(7*time.Hour)))
	rs = h.Revisions()
	assert.Equal(t, "guard: 5xx", rs[1].Reason)
	assert.Equal(t, "again", rs[3].Reason)
	assert.Equal(t, t0.Add(7*time.Hour), rs[3].FaultAt, "no fault recorded: the end is the fault")
}

func TestHistoryErrors(t *testing.T) {
	var h History
	require.NoError(t, h.Add(rev("v1", time.Hour)))
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"add no version", h.Add(Revision{StartedAt: t0}), "version: empty"},
		{"add no start", h.Add(Revision{Version: "x"}), "started at: zero"},
		{"add bad outcome", h.Add(Revision{Version: "x", StartedAt: t0, Outcome: "exploded"}), `outcome: "exploded" is not one of`},
		{"add end before start", h.Add(Revision{Version: "x", StartedAt: t0, EndedAt: t0.Add(-1), Outcome: OutcomeSucceeded}), "ended at:"},
		{"end unknown", h.End("nope", OutcomeSucceeded, "", t0), "no such revision"},
		{"end live", h.End("v1", OutcomeLive, "", t0.Add(2*time.Hour)), `outcome: "live" is not an ending`},
		{"end before start", h.End("v1", OutcomeSucceeded, "", t0), "is before its start"},
		{"fault unknown", h.Fault("nope", t0), "no such revision"},
	} {
		require.Error(t, tc.err, tc.name)
		assert.Contains(t, tc.err.Error(), tc.want, tc.name)
	}
	_, err := NewHistory(5, Revision{Version: "", StartedAt: t0})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "revision 0: version: empty")
	assert.Equal(t, 1, h.Len(), "bad input changed nothing")
	assert.ErrorIs(t, h.End("nope", OutcomeSucceeded, "", t0), ErrUnknownRevision)
}

// fleet builds a history of 8 rollouts over 4 days: 2 rolled back with
// times to restore of 200 ms and 1 s.
func fleet(t *testing.T) *History {
	h, err := NewHistory(10)
	require.NoError(t, err)
	day := 24 * time.Hour
	type r struct {
		v     string
		start time.Duration
		out   Outcome
		ttr   time.Duration
	}
	for _, x := range []r{
		{"v1", 0, OutcomeSucceeded, 0},
		{"v2", day / 2, OutcomeRolledBack, 200 * time.Millisecond},
		{"v3", day, OutcomeSucceeded, 0},
		{"v4", 3 * day / 2, OutcomeSucceeded, 0},
		{"v5", 2 * day, OutcomeRolledBack, time.Second},
		{"v6", 5 * day / 2, OutcomeSucceeded, 0},
		{"v7", 3 * day, OutcomeSucceeded, 0},
		{"v8", 7 * day / 2, OutcomeLive, 0},
	} {
		require.NoError(t, h.Add(rev(x.v, x.start)))
		end := t0.Add(x.start + time.Hour)
		switch x.out {
		case OutcomeRolledBack:
			require.NoError(t, h.Fault(x.v, end.Add(-x.ttr)))
			require.NoError(t, h.End(x.v, x.out, "bad", end))
		case OutcomeSucceeded:
			require.NoError(t, h.End(x.v, x.out, "", end))
		}
	}
	return h
}

func TestHistoryStats(t *testing.T) {
	h := fleet(t)
	now := t0.Add(4 * 24 * time.Hour)

	s := h.Stats(now, 0) // everything kept: 4 days
	assert.Equal(t, t0, s.Since)
	assert.Equal(t, 8, s.Deployments)
	assert.InDelta(t, 2.0, s.DeploymentsPerDay, 1e-9)
	assert.Equal(t, 7, s.Finished)
	assert.Equal(t, 5, s.Succeeded)
	assert.Equal(t, 2, s.RolledBack)
	assert.InDelta(t, 2.0/7, s.ChangeFailureRate, 1e-12)
	assert.Equal(t, 2, s.Restores)
	assert.Equal(t, 600*time.Millisecond, s.MedianTimeToRestore)
	assert.Equal(t, 600*time.Millisecond, s.MeanTimeToRestore)
	assert.Equal(t, 1200*time.Millisecond, s.TotalTimeToRestore)
	assert.Equal(t, time.Second, s.LongestTimeToRestore)
	assert.False(t, s.Truncated)

	s = h.Stats(now, 2*24*time.Hour) // v5..v8
	assert.Equal(t, 4, s.Deployments)
	assert.InDelta(t, 2.0, s.DeploymentsPerDay, 1e-9)
	assert.Equal(t, 3, s.Finished)
	assert.InDelta(t, 1.0/3, s.ChangeFailureRate, 1e-12)
	assert.Equal(t, time.Second, s.MedianTimeToRestore)

	s = h.Stats(now, time.Hour) // nothing started in the last hour
	assert.Equal(t, 0, s.Deployments)
	assert.Equal(t, 0.0, s.ChangeFailureRate)
	assert.Equal(t, time.Duration(0), s.MedianTimeToRestore)

	var empty History
	s = empty.Stats(now, 0)
	assert.Equal(t, Stats{Since: now, Until: now}, s)

	assert.Equal(t, h.Stats(now, 0), StatsOf(h.Revisions(), now, 0), "the same figures from a plain slice")
}

func TestHistoryStatsTruncated(t *testing.T) {
	h, err := NewHistory(2)
	require.NoError(t, err)
	for i, v := range []string{"a", "b", "c"} {
		require.NoError(t, h.Add(rev(v, time.Duration(i)*time.Hour)))
	}
	s := h.Stats(t0.Add(3*time.Hour), 24*time.Hour)
	assert.True(t, s.Truncated, "a full history whose oldest kept revision is inside the window")
	assert.Equal(t, 2, s.Deployments)
}

func TestHistoryCollector(t *testing.T) {
	h := fleet(t)
	now := t0.Add(4 * 24 * time.Hour)
	c := h.Collector(CollectorOpts{ConstLabels: prometheus.Labels{"service": "checkout"}, Now: func() time.Time { return now }})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))

	want := `
# HELP ramp_change_failure_ratio Share of finished rollouts in the history window that were rolled back.
# TYPE ramp_change_failure_ratio gauge
ramp_change_failure_ratio{service="checkout"} 0.2857142857142857
# HELP ramp_deployments_per_day Deployments per day over the history window.
# TYPE ramp_deployments_per_day gauge
ramp_deployments_per_day{service="checkout"} 2
# HELP ramp_deployments_started_total Rollouts started (revisions added to the history).
# TYPE ramp_deployments_started_total counter
ramp_deployments_started_total{service="checkout"} 8
# HELP ramp_deployments_total Rollouts ended, by outcome (succeeded or rolled_back).
# TYPE ramp_deployments_total counter
ramp_deployments_total{outcome="rolled_back",service="checkout"} 2
ramp_deployments_total{outcome="succeeded",service="checkout"} 5
# HELP ramp_history_revisions Revisions kept in the history.
# TYPE ramp_history_revisions gauge
ramp_history_revisions{service="checkout"} 8
# HELP ramp_time_to_restore_seconds Time from the first rollback reason to rollback complete, over the history window.
# TYPE ramp_time_to_restore_seconds summary
ramp_time_to_restore_seconds{service="checkout",quantile="0.5"} 0.6
ramp_time_to_restore_seconds_sum{service="checkout"} 1.2
ramp_time_to_restore_seconds_count{service="checkout"} 2
`
	assert.Equal(t, strings.TrimSpace(want), exposition(t, reg))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems)

	// Counters survive eviction and do not double count a revision ended
	// twice with the same outcome.
	small, err := NewHistory(1)
	require.NoError(t, err)
	require.NoError(t, small.Add(rev("a", 0)))
	require.NoError(t, small.End("a", OutcomeSucceeded, "", t0.Add(time.Minute)))
	require.NoError(t, small.Add(rev("b", time.Hour)))
	require.NoError(t, small.End("b", OutcomeSucceeded, "", t0.Add(2*time.Hour)))
	require.NoError(t, small.End("b", OutcomeSucceeded, "", t0.Add(2*time.Hour)))
	reg = prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(small.Collector(CollectorOpts{Now: func() time.Time { return t0.Add(3 * time.Hour) }})))
	got := exposition(t, reg) + "\n"
	assert.Contains(t, got, "ramp_deployments_started_total 2\n")
	assert.Contains(t, got, `ramp_deployments_total{outcome="succeeded"} 2`+"\n")
	assert.Contains(t, got, `ramp_deployments_total{outcome="rolled_back"} 0`+"\n")
	assert.Contains(t, got, "ramp_history_revisions 1\n")
	assert.Contains(t, got, "ramp_time_to_restore_seconds_count 0\n")
	assert.Contains(t, got, "ramp_deployments_per_day 1\n", "one kept revision 2 h old: a span under a day counts as one day")
}

// exposition gathers reg in the Prometheus text format. (It does what
// client_golang's testutil.GatherAndCompare compares; testutil itself
// needs a module that is not in this module's go.sum.)
func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		require.NoError(t, enc.Encode(mf))
	}
	return strings.TrimSpace(b.String())
}
