package ramp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
)

// The release's metadata given in Config.Release lands in the revision
// the history adds when the rollout starts, and so in Status.History and
// in the four keys' lead time.
func TestReleaseMetadataInHistory(t *testing.T) {
	commitAt := t0.Add(-2 * time.Hour)
	id := release.Identity{
		Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: commitAt, BuildTime: commitAt.Add(10 * time.Minute),
		Digest: "sha256:" + strings.Repeat("a", 64), NotesURL: "https://example.com/notes/v2",
	}
	h := newHarness(t, steps(strategy.Step{Percent: 50, Hold: time.Minute}), func(c *Config) { c.Release = id })
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	require.NoError(t, h.wait())
	st := h.r.Status()
	require.Len(t, st.History, 1)
	rev := st.History[0]
	assert.Equal(t, id.Commit, rev.Commit)
	assert.True(t, rev.CommitTime.Equal(commitAt))
	assert.True(t, rev.BuildTime.Equal(id.BuildTime))
	assert.Equal(t, id.Digest, rev.Digest)
	assert.Equal(t, id.NotesURL, rev.NotesURL)
	k := release.KeysOf(st.History, h.clk.Now(), 30*24*time.Hour)
	assert.Equal(t, rev.LiveAt.Sub(commitAt), k.MedianLeadTime, "the lead time runs from the commit")
}

// Config.Release is validated field by field; its label, when given,
// must be the canary and name one build.
func TestReleaseMetadataValidated(t *testing.T) {
	for _, tc := range []struct {
		name   string
		canary string
		id     release.Identity
		want   []string
	}{
		{"bad digest and commit", "canary", release.Identity{Digest: "sha256:xyz", Commit: "HEAD"},
			[]string{`release: digest: "sha256:xyz" is not a content digest`, `release: commit: "HEAD" is not a git commit id`}},
		{"build before commit", "canary", release.Identity{CommitTime: time.Unix(2000, 0), BuildTime: time.Unix(1000, 0)},
			[]string{"release: build_time:"}},
		{"notes not http", "canary", release.Identity{NotesURL: "ftp://x/y"}, []string{`release: notes_url: "ftp://x/y"`}},
		{"label other than canary", "v2.0.0", release.Identity{Label: "v2.0.1"}, []string{`release: label: "v2.0.1" is not the canary "v2.0.0"`}},
		{"moving label", "canary", release.Identity{Label: "canary"}, []string{`release: label: "canary" is a moving tag`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Stable: "v1.0.0", Canary: tc.canary, Strategy: steps(strategy.Step{Percent: 50, Hold: time.Minute}), Router: newFakeRouter(), Release: tc.id}
			_, err := New(bg, cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	cfg := Config{Stable: "v1.0.0", Canary: "v2.0.0", Strategy: steps(strategy.Step{Percent: 50, Hold: time.Minute}), Router: newFakeRouter(),
		Release: release.Identity{Label: "v2.0.0", Commit: "0123456"}}
	_, err := New(bg, cfg)
	require.NoError(t, err, "a good identity is accepted")
}

// New asks every component that judges recorded windows whether it
// remembers the longest step it judges: a 10-minute step over a default
// Recorder (60 s) is refused, naming the step, through Thresholds as the
// analyzer and through a Guard as a trigger; a Recorder sized for it is
// accepted.
func TestSpanOfTheLongestStepIsChecked(t *testing.T) {
	pol := &strategy.Analysis{Policy: analysis.Policy{Interval: 10 * time.Second}}
	plan := steps(strategy.Step{Percent: 10, Hold: 30 * time.Second, Analysis: pol}, strategy.Step{Percent: 50, Hold: 10 * time.Minute, Analysis: pol})
	cfg := func(rec *analysis.Recorder, analyzer bool) Config {
		c := Config{Stable: "v1", Canary: "v2", Strategy: plan, Router: newFakeRouter()}
		if analyzer {
			th, err := analysis.NewThresholds(rec, analysis.ErrorRate(0.01))
			require.NoError(t, err)
			c.Analyzer = th
		} else {
			c.Analyzer = always(analysis.Pass, "ok")
			// A source of windows only: the guard cannot read totals.
			c.Triggers = []rollback.Trigger{&rollback.Guard{Source: windowsOnly{rec}, MaxErrorRate: 0.01}}
		}
		return c
	}
	short, err := analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
	require.NoError(t, err)
	for _, analyzer := range []bool{true, false} {
		_, err = New(bg, cfg(short, analyzer))
		require.ErrorIs(t, err, analysis.ErrSpanTooLong)
		require.ErrorIs(t, err, ErrInvalidConfig)
		assert.Contains(t, err.Error(), "cannot judge step 2 of 2 (steps[1]), held 10m0s")
		assert.Contains(t, err.Error(), "set RecorderOptions.Span to at least 10m0s")
	}
	long, err := analysis.NewRecorder(analysis.RecorderOptions{Span: 10 * time.Minute}, "v1", "v2")
	require.NoError(t, err)
	for _, analyzer := range []bool{true, false} {
		_, err = New(bg, cfg(long, analyzer))
		require.NoError(t, err, "a recorder that remembers the longest step")
	}
	// A Guard over the Recorder itself reads exact totals: any step fits.
	c := cfg(short, false)
	c.Triggers = []rollback.Trigger{&rollback.Guard{Source: short, MaxErrorRate: 0.01}}
	_, err = New(bg, c)
	require.NoError(t, err, "the guard reads totals since the watch began")
	// A step's own analyzer is asked with that step's hold only.
	own := steps(strategy.Step{Percent: 10, Hold: 30 * time.Second, Analysis: &strategy.Analysis{Policy: pol.Policy, Analyzer: cfg(short, true).Analyzer}},
		strategy.Step{Percent: 50, Hold: 10 * time.Minute})
	_, err = New(bg, Config{Stable: "v1", Canary: "v2", Strategy: own, Router: newFakeRouter()})
	require.NoError(t, err, "the 30 s step fits the default recorder")
}

// windowsOnly hides a Recorder's totals: a WindowSource that can say its
// span.
type windowsOnly struct{ rec *analysis.Recorder }

func (w windowsOnly) Window(b string, since, until time.Time) analysis.Window {
	return w.rec.Window(b, since, until)
}
func (w windowsOnly) CheckSpan(d time.Duration) error { return w.rec.CheckSpan(d) }
