package release_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/release"
)

func TestCheckLabel(t *testing.T) {
	host := regexp.MustCompile(`build-\d+`)
	for _, tc := range []struct {
		label   string
		pattern *regexp.Regexp
		ok      bool
		moving  bool
		want    string
	}{
		{"v1.2.3", nil, true, false, ""},
		{"1.2.3", nil, true, false, ""},
		{"v1.2.3-rc.1+build.5", nil, true, false, ""},
		{"v1.2", nil, false, false, `"v1.2" is not a semantic version`},
		{"v01.2.3", nil, false, false, "is not"},
		{"0123abc", nil, true, false, ""},
		{"0123456789abcdef0123456789abcdef01234567", nil, true, false, ""},
		{strings.Repeat("ab", 32), nil, true, false, ""},
		{"0123ABC", nil, false, false, "is not"},
		{"012345", nil, false, false, "is not"},
		{"build-42", host, true, false, ""},
		{"build-42", nil, false, false, "is not"},
		{"xbuild-42", host, false, false, "or a label matching build-\\d+"},
		{"build-42x", host, false, false, "is not"},
		{"latest", nil, false, true, `"latest" is a moving tag`},
		{"LATEST", nil, false, true, "moving tag"},
		{"stable", regexp.MustCompile(`.*`), false, true, "moving tag"},
		{"main", nil, false, true, "moving tag"},
		{"master", nil, false, true, "moving tag"},
		{"HEAD", nil, false, true, "moving tag"},
		{"", nil, false, false, "empty"},
		{"   ", nil, false, false, "empty"},
		{"\t", regexp.MustCompile(`.*`), false, false, "empty"},
		{" v1.2.3", nil, false, false, "white space"},
	} {
		err := release.CheckLabel("canary-version", tc.label, tc.pattern)
		if tc.ok {
			assert.NoError(t, err, tc.label)
			continue
		}
		require.Error(t, err, tc.label)
		assert.ErrorIs(t, err, release.ErrLabel)
		assert.Equal(t, tc.moving, errorsIs(err, release.ErrMovingLabel), tc.label)
		assert.True(t, strings.HasPrefix(err.Error(), "canary-version: "), err.Error())
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestIdentityValidate(t *testing.T) {
	good := release.Identity{Label: "v1.0.0", Digest: "sha256:" + strings.Repeat("a", 64), Commit: "abcdef1",
		CommitTime: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), BuildTime: time.Date(2026, 12, 1, 8, 5, 0, 0, time.UTC),
		NotesURL: "https://example.com/notes/v1.0.0"}
	require.NoError(t, good.Validate(nil))

	bad := release.Identity{Label: "latest", Digest: "sha256:abc", Commit: "not-a-sha",
		CommitTime: good.BuildTime, BuildTime: good.CommitTime, NotesURL: "ftp://x"}
	err := bad.Validate(nil)
	require.Error(t, err)
	for _, want := range []string{"label: ", `digest: "sha256:abc"`, `commit: "not-a-sha"`, "build_time: 2026-12-01T08:00:00Z is before commit_time", `notes_url: "ftp://x"`} {
		assert.Contains(t, err.Error(), want)
	}

	r := good.Revision("v0.9.0", good.BuildTime.Add(time.Hour))
	assert.Equal(t, "v1.0.0", r.Version)
	assert.Equal(t, "v0.9.0", r.Previous)
	assert.Equal(t, good.Digest, r.Digest)
	assert.Equal(t, good.Commit, r.Commit)
	assert.Equal(t, good.CommitTime, r.CommitTime)
	assert.Equal(t, good.BuildTime, r.BuildTime)
	assert.Equal(t, good.NotesURL, r.NotesURL)
}
