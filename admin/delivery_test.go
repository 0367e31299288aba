package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/strategy"
)

// rawStatus is GET /status as JSON objects, to see nulls as nulls.
func rawStatus(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url + "/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

// A promoted release with a commit time: one deployment in 30 days
// (medium), its lead time (about two hours: elite), no failure (elite),
// and no restore to measure (null, unknown).
func TestDeliveryKeysOfAPromotedRelease(t *testing.T) {
	commit := time.Now().Add(-2 * time.Hour)
	r, err := ramp.New(context.Background(), ramp.Config{
		Stable: "v1", Canary: "v2", Router: &router{},
		Strategy: strategy.Canary{Steps: []strategy.Step{{Percent: 50, Hold: time.Millisecond}}},
		Release:  release.Identity{CommitTime: commit},
	})
	require.NoError(t, err)
	require.NoError(t, r.Run(context.Background()))
	require.Equal(t, ramp.Succeeded, r.Status().Phase)
	srv := httptest.NewServer(admin.NewHandler(r, admin.Options{}))
	t.Cleanup(srv.Close)

	d := rawStatus(t, srv.URL)["delivery"].(map[string]any)
	assert.Equal(t, (30 * 24 * time.Hour).Seconds(), d["window_seconds"])
	assert.Equal(t, release.BandsSource, d["bands"])
	assert.EqualValues(t, 1, d["deployments"])
	assert.EqualValues(t, 1, d["finished"])
	assert.EqualValues(t, 0, d["rolled_back"])
	freq := d["deployment_frequency"].(map[string]any)
	assert.InDelta(t, 1.0/30, freq["value"], 1e-9)
	assert.Equal(t, "medium", freq["band"])
	lead := d["lead_time"].(map[string]any)
	assert.InDelta(t, 2*3600, lead["value"], 60)
	assert.Equal(t, "elite", lead["band"])
	assert.EqualValues(t, 1, lead["samples"])
	cfr := d["change_failure_rate"].(map[string]any)
	assert.Equal(t, 0.0, cfr["value"])
	assert.Equal(t, "elite", cfr["band"])
	restore := d["time_to_restore"].(map[string]any)
	assert.Nil(t, restore["value"], "nothing failed: no time to restore")
	assert.Equal(t, "unknown", restore["band"])

	// A window of a day: the same deployment is one a day (elite).
	srv2 := httptest.NewServer(admin.NewHandler(r, admin.Options{DeliveryWindow: 24 * time.Hour}))
	t.Cleanup(srv2.Close)
	freq = rawStatus(t, srv2.URL)["delivery"].(map[string]any)["deployment_frequency"].(map[string]any)
	assert.InDelta(t, 1.0, freq["value"], 1e-9)
	assert.Equal(t, "elite", freq["band"])
}

// An aborted rollout is a failed change: the change failure rate is 100%
// (low) and its time to restore is measured; no commit time, no lead
// time.
func TestDeliveryKeysOfARollback(t *testing.T) {
	f := newFixture(t, admin.Options{Token: "s3cret"})
	f.run(t)
	f.waitPhase(t, ramp.Progressing)
	code, _ := f.post(t, "/abort?reason=bad", "Bearer s3cret", "", "")
	require.Equal(t, http.StatusOK, code)
	f.waitPhase(t, ramp.RolledBack)

	st := f.status(t)
	d := st.Delivery
	assert.Equal(t, 1, d.Deployments)
	assert.Equal(t, 1, d.RolledBack)
	require.NotNil(t, d.ChangeFailureRate.Value)
	assert.Equal(t, 1.0, *d.ChangeFailureRate.Value)
	assert.Equal(t, "low", d.ChangeFailureRate.Band)
	require.NotNil(t, d.TimeToRestore.Value)
	assert.Less(t, *d.TimeToRestore.Value, 5.0)
	assert.Equal(t, "elite", d.TimeToRestore.Band)
	assert.Nil(t, d.LeadTime.Value)
	assert.Equal(t, "unknown", d.LeadTime.Band)
}
