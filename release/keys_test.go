package release_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/rollback"
)

const d = 24 * time.Hour

// A week of releases through staging and prod, with known answers.
func weekOfReleases() []release.Record {
	stage := func(env string, st release.Status, start, end time.Duration) release.Stage {
		s := release.Stage{Env: env, Status: st, Start: t0.Add(start)}
		if end > 0 {
			s.End = t0.Add(end)
		}
		return s
	}
	return []release.Record{
		{Identity: release.Identity{Label: "v1.0.0", CommitTime: t0}, Path: []release.Stage{
			stage("staging", release.Succeeded, 20*time.Hour, 21*time.Hour),
			stage("prod", release.Succeeded, d+time.Hour, d+time.Hour+time.Hour)}}, // lead 26h
		{Identity: release.Identity{Label: "v1.1.0", CommitTime: t0.Add(2 * d)}, Path: []release.Stage{
			stage("staging", release.Succeeded, 2*d+time.Hour, 2*d+2*time.Hour),
			stage("prod", release.Succeeded, 2*d+2*time.Hour, 2*d+3*time.Hour)}}, // lead 3h
		{Identity: release.Identity{Label: "v1.2.0", CommitTime: t0.Add(3 * d)}, Path: []release.Stage{
			stage("staging", release.Succeeded, 3*d, 3*d+time.Hour),
			func() release.Stage {
				s := stage("prod", release.Failed, 3*d+time.Hour, 3*d+time.Hour+40*time.Minute)
				s.FaultAt = t0.Add(3*d + time.Hour + 10*time.Minute) // restored in 30m
				return s
			}()}},
		{Identity: release.Identity{Label: "v1.3.0", CommitTime: t0.Add(4 * d)}, Path: []release.Stage{
			stage("staging", release.Succeeded, 4*d+time.Hour, 4*d+2*time.Hour),
			stage("prod", release.Succeeded, 4*d+5*time.Hour, 4*d+6*time.Hour)}}, // lead 6h
		{Identity: release.Identity{Label: "v1.4.0", CommitTime: t0.Add(5 * d)}, Path: []release.Stage{
			stage("staging", release.Failed, 5*d+time.Hour, 5*d+2*time.Hour)}}, // never reached prod
		{Identity: release.Identity{Label: "v1.5.0", CommitTime: t0.Add(6 * d)}, Path: []release.Stage{
			stage("staging", release.Succeeded, 6*d, 6*d+time.Hour),
			stage("prod", release.Running, 6*d+2*time.Hour, 0)}},
	}
}

func TestKeysKnownAnswers(t *testing.T) {
	recs := weekOfReleases()
	now := t0.Add(7 * d)
	for _, tc := range []struct {
		name                                 string
		keys                                 release.Keys
		deployments, finished, rolled        int
		perDay, cfr                          float64
		lead, restore                        time.Duration
		freq, leadBand, cfrBand, restoreBand release.Band
	}{
		{"prod, the whole week", release.KeysOfRecords(recs, "prod", now, 7*d),
			5, 4, 1, 5.0 / 7, 0.25, 6 * time.Hour, 30 * time.Minute,
			release.High, release.Elite, release.Low, release.Elite},
		{"prod, the last two days", release.KeysOfRecords(recs, "prod", now, 2*d),
			1, 0, 0, 0.5, 0, 0, 0,
			release.High, release.BandUnknown, release.BandUnknown, release.BandUnknown},
		{"prod, days 1 to 3 (window of 3 days ending at day 3.5)", release.KeysOfRecords(recs, "prod", t0.Add(3*d+12*time.Hour), 3*d),
			3, 3, 1, 1, 1.0 / 3, 14*time.Hour + 30*time.Minute, 30 * time.Minute, // leads 26h and 3h: the median of two is their mean
			release.Elite, release.Elite, release.Low, release.Elite},
		{"staging is a pipeline environment like any", release.KeysOfRecords(recs, "staging", now, 7*d),
			6, 6, 1, 6.0 / 7, 1.0 / 6, 2 * time.Hour, 0, // leads 21h, 2h, 1h, 2h, 1h; v1.4.0 failed without a fault time
			release.High, release.Elite, release.Low, release.BandUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.keys
			assert.Equal(t, tc.deployments, k.Deployments)
			assert.Equal(t, tc.finished, k.Finished)
			assert.Equal(t, tc.rolled, k.RolledBack)
			assert.InDelta(t, tc.perDay, k.DeploymentsPerDay, 1e-9)
			assert.InDelta(t, tc.cfr, k.ChangeFailureRate, 1e-9)
			assert.Equal(t, tc.lead, k.MedianLeadTime)
			assert.Equal(t, tc.restore, k.MedianTimeToRestore)
			assert.Equal(t, []release.Band{tc.freq, tc.leadBand, tc.cfrBand, tc.restoreBand}, []release.Band{k.Frequency, k.LeadTime, k.FailureRate, k.Restore})
		})
	}
	k := release.KeysOfRecords(recs, "prod", t0.Add(3*d+12*time.Hour), 3*d)
	assert.Equal(t, 26*time.Hour, k.LongestLeadTime)
}

// The same figures from a rollout's own history: rollback.History's
// revisions carry the commit time.
func TestKeysFromRolloutHistory(t *testing.T) {
	h, err := rollback.NewHistory(100)
	require.NoError(t, err)
	for i := range 14 { // two a day for a week, each 30 minutes from commit to live
		start := t0.Add(time.Duration(i) * 12 * time.Hour)
		id := release.Identity{Label: fmt.Sprintf("v1.%d.0", i), CommitTime: start.Add(-20 * time.Minute)}
		require.NoError(t, h.Add(id.Revision("", start)))
		if i == 5 {
			require.NoError(t, h.Fault(id.Label, start.Add(time.Minute)))
			require.NoError(t, h.End(id.Label, rollback.OutcomeRolledBack, "error rate", start.Add(2*time.Hour+time.Minute)))
			continue
		}
		require.NoError(t, h.End(id.Label, rollback.OutcomeSucceeded, "", start.Add(10*time.Minute)))
	}
	k := release.KeysOf(h.Revisions(), t0.Add(7*d), 7*d)
	assert.Equal(t, 14, k.Deployments)
	assert.InDelta(t, 2.0, k.DeploymentsPerDay, 1e-9)
	assert.Equal(t, 30*time.Minute, k.MedianLeadTime)
	assert.InDelta(t, 1.0/14, k.ChangeFailureRate, 1e-9)
	assert.Equal(t, 2*time.Hour, k.MedianTimeToRestore)
	assert.Equal(t, []release.Band{release.Elite, release.Elite, release.High, release.High}, []release.Band{k.Frequency, k.LeadTime, k.FailureRate, k.Restore})
	assert.Equal(t, "deployment frequency 2.00/day (elite), lead time 30m0s (elite), change failure rate 7% (1 of 14) (high), time to restore 2h0m0s (high)", k.String())
}

func TestBandEdges(t *testing.T) {
	const min = time.Minute
	for _, tc := range []struct {
		got, want release.Band
		what      string
	}{
		{release.FrequencyBand(3), release.Elite, "3/day"},
		{release.FrequencyBand(1), release.Elite, "1/day"},
		{release.FrequencyBand(0.99), release.High, "0.99/day"},
		{release.FrequencyBand(1.0 / 7), release.High, "1/week"},
		{release.FrequencyBand(0.99 / 7), release.Medium, "just under 1/week"},
		{release.FrequencyBand(1.0 / 30), release.Medium, "1/30 days"},
		{release.FrequencyBand(0.99 / 30), release.Low, "just under 1/30 days"},
		{release.FrequencyBand(0), release.Low, "none"},
		{release.LeadTimeBand(23*time.Hour + 59*min), release.Elite, "23h59m"},
		{release.LeadTimeBand(d), release.High, "24h"},
		{release.LeadTimeBand(7 * d), release.High, "7d"},
		{release.LeadTimeBand(7*d + min), release.Medium, "7d1m"},
		{release.LeadTimeBand(30 * d), release.Medium, "30d"},
		{release.LeadTimeBand(30*d + min), release.Low, "30d1m"},
		{release.FailureRateBand(0), release.Elite, "0%"},
		{release.FailureRateBand(0.05), release.Elite, "5%"},
		{release.FailureRateBand(0.051), release.High, "5.1%"},
		{release.FailureRateBand(0.10), release.High, "10%"},
		{release.FailureRateBand(0.15), release.Medium, "15%"},
		{release.FailureRateBand(0.151), release.Low, "15.1%"},
		{release.RestoreBand(59 * min), release.Elite, "59m"},
		{release.RestoreBand(time.Hour), release.High, "1h"},
		{release.RestoreBand(d - min), release.High, "23h59m"},
		{release.RestoreBand(d), release.Medium, "24h"},
		{release.RestoreBand(7 * d), release.Medium, "7d"},
		{release.RestoreBand(7*d + min), release.Low, "7d1m"},
	} {
		assert.Equal(t, tc.want, tc.got, tc.what)
	}
	assert.Equal(t, "unknown elite high medium low", strings.Join([]string{release.BandUnknown.String(), release.Elite.String(), release.High.String(), release.Medium.String(), release.Low.String()}, " "))
}

func TestKeysCollector(t *testing.T) {
	keys := release.KeysOfRecords(weekOfReleases(), "prod", t0.Add(7*d), 7*d)
	c := release.NewCollector(func() release.Keys { return keys }, release.CollectorOpts{ConstLabels: prometheus.Labels{"service": "shop"}})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	// rollback.History's collector shares a registry with it.
	h, err := rollback.NewHistory(10)
	require.NoError(t, err)
	require.NoError(t, reg.Register(h.Collector(rollback.CollectorOpts{ConstLabels: prometheus.Labels{"service": "shop"}})))

	want := `
# HELP ramp_dora_band DORA band of each key (4 elite, 3 high, 2 medium, 1 low, 0 unknown), by the 2023 Accelerate State of DevOps Report (DORA, Google Cloud).
# TYPE ramp_dora_band gauge
ramp_dora_band{key="change_failure_rate",service="shop"} 1
ramp_dora_band{key="deployment_frequency",service="shop"} 3
ramp_dora_band{key="lead_time",service="shop"} 4
ramp_dora_band{key="time_to_restore",service="shop"} 4
# HELP ramp_dora_change_failure_ratio Rolled back ÷ finished deployments over the window (DORA change failure rate).
# TYPE ramp_dora_change_failure_ratio gauge
ramp_dora_change_failure_ratio{service="shop"} 0.25
# HELP ramp_dora_deployments_per_day Deployments per day over the window (DORA deployment frequency).
# TYPE ramp_dora_deployments_per_day gauge
ramp_dora_deployments_per_day{service="shop"} 0.7142857142857143
# HELP ramp_dora_lead_time_seconds Median time from commit to fully live over the window (DORA lead time for changes).
# TYPE ramp_dora_lead_time_seconds gauge
ramp_dora_lead_time_seconds{service="shop"} 21600
# HELP ramp_dora_time_to_restore_seconds Median time from fault detected to stable serving again over the window (DORA time to restore).
# TYPE ramp_dora_time_to_restore_seconds gauge
ramp_dora_time_to_restore_seconds{service="shop"} 1800
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"ramp_dora_band", "ramp_dora_change_failure_ratio", "ramp_dora_deployments_per_day", "ramp_dora_lead_time_seconds", "ramp_dora_time_to_restore_seconds"))

	// Without data the figures are absent and the bands unknown, but for
	// the frequency: none is low.
	keys = release.KeysOfRecords(nil, "prod", t0, 7*d)
	assert.Equal(t, 5, testutil.CollectAndCount(c))
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP ramp_dora_band DORA band of each key (4 elite, 3 high, 2 medium, 1 low, 0 unknown), by the 2023 Accelerate State of DevOps Report (DORA, Google Cloud).
# TYPE ramp_dora_band gauge
ramp_dora_band{key="change_failure_rate",service="shop"} 0
ramp_dora_band{key="deployment_frequency",service="shop"} 1
ramp_dora_band{key="lead_time",service="shop"} 0
ramp_dora_band{key="time_to_restore",service="shop"} 0
`), "ramp_dora_band"))
}
