package ramp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/release"
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
