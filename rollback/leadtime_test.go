package rollback

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatsLeadTime(t *testing.T) {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	revs := []Revision{
		// commit 2h before start, 1h rollout: lead time 3h (replaced
		// later: EndedAt is when it was replaced)
		{Version: "v1", Outcome: OutcomeReplaced, StartedAt: base, LiveAt: base.Add(time.Hour), EndedAt: base.Add(7 * time.Hour), CommitTime: base.Add(-2 * time.Hour)},
		// no commit time: no lead time
		{Version: "v2", Outcome: OutcomeReplaced, StartedAt: base.Add(2 * time.Hour), EndedAt: base.Add(3 * time.Hour)},
		// replaced, recorded before LiveAt existed: its end is no lead time
		{Version: "v2b", Outcome: OutcomeReplaced, StartedAt: base.Add(2 * time.Hour), EndedAt: base.Add(30 * time.Hour), CommitTime: base},
		// rolled back: not live, no lead time
		{Version: "v3", Outcome: OutcomeRolledBack, StartedAt: base.Add(4 * time.Hour), EndedAt: base.Add(5 * time.Hour), FaultAt: base.Add(4 * time.Hour), CommitTime: base},
		// lead time 1h
		{Version: "v4", Outcome: OutcomeReplaced, StartedAt: base.Add(6 * time.Hour), LiveAt: base.Add(6*time.Hour + 30*time.Minute), EndedAt: base.Add(8 * time.Hour), CommitTime: base.Add(5*time.Hour + 30*time.Minute)},
		// lead time 10h
		{Version: "v5", Outcome: OutcomeSucceeded, StartedAt: base.Add(8 * time.Hour), EndedAt: base.Add(9 * time.Hour), CommitTime: base.Add(-time.Hour)},
		// live: no lead time yet
		{Version: "v6", Outcome: OutcomeLive, StartedAt: base.Add(10 * time.Hour), CommitTime: base},
	}
	s := StatsOf(revs, base.Add(11*time.Hour), 0)
	assert.Equal(t, 3, s.LeadTimes)
	assert.Equal(t, 3*time.Hour, s.MedianLeadTime)
	assert.Equal(t, 10*time.Hour, s.LongestLeadTime)

	s = StatsOf(revs[:1], base.Add(11*time.Hour), 0)
	assert.Equal(t, 1, s.LeadTimes)
	assert.Equal(t, 3*time.Hour, s.MedianLeadTime)
	s = StatsOf(revs[1:4], base.Add(11*time.Hour), 0)
	assert.Zero(t, s.LeadTimes)
	assert.Zero(t, s.MedianLeadTime)
}

// Release metadata survives the state file, and a revision written
// before the fields existed still loads.
func TestRevisionMetadataJSON(t *testing.T) {
	r := Revision{Version: "v1.2.3", Outcome: OutcomeSucceeded, StartedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC),
		BuildTime: time.Date(2026, 12, 1, 8, 10, 0, 0, time.UTC), Digest: "sha256:ab",
		NotesURL: "https://example.com/releases/v1.2.3"}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var back Revision
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r, back)

	old := `{"version":"v1","previous":"v0","outcome":"succeeded","started_at":"2026-12-01T09:00:00Z"}`
	back = Revision{}
	require.NoError(t, json.Unmarshal([]byte(old), &back))
	assert.Equal(t, "v1", back.Version)
	assert.Empty(t, back.Commit)
	assert.True(t, back.CommitTime.IsZero())
	b, err = json.Marshal(back)
	require.NoError(t, err)
	assert.JSONEq(t, old, string(b), "no metadata, no new keys")
}

// Through History: a revision replaced by the next keeps the time it went
// live, so its lead time is not stretched to its replacement.
func TestHistoryLeadTimeSurvivesReplacement(t *testing.T) {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	h, err := NewHistory(10)
	require.NoError(t, err)
	for i, v := range []string{"v1", "v2", "v3"} {
		start := base.Add(time.Duration(i) * 12 * time.Hour)
		require.NoError(t, h.Add(Revision{Version: v, StartedAt: start, CommitTime: start.Add(-20 * time.Minute)}))
		require.NoError(t, h.End(v, OutcomeSucceeded, "", start.Add(10*time.Minute)))
	}
	r, _ := h.Get("v1")
	assert.Equal(t, OutcomeReplaced, r.Outcome)
	assert.Equal(t, base.Add(10*time.Minute), r.LiveAt)
	s := h.Stats(base.Add(48*time.Hour), 0)
	assert.Equal(t, 3, s.LeadTimes)
	assert.Equal(t, 30*time.Minute, s.MedianLeadTime)
	assert.Equal(t, 30*time.Minute, s.LongestLeadTime)

	// Add of an already-succeeded revision (RollbackTo) is live at its end.
	require.NoError(t, h.Add(Revision{Version: "v1", Outcome: OutcomeSucceeded, StartedAt: base.Add(40 * time.Hour), EndedAt: base.Add(40 * time.Hour)}))
	r, _ = h.Get("v1")
	assert.Equal(t, base.Add(40*time.Hour), r.LiveAt)
}
