package release

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ramp-go/ramp/rollback"
)

// ErrLabel is wrapped by CheckLabel's errors: the label is empty, moving
// or of no accepted form.
var ErrLabel = errors.New("release: bad version label")

// ErrMovingLabel is wrapped (with ErrLabel) when a label names a tag that
// moves from build to build, such as latest.
var ErrMovingLabel = errors.New("release: moving tag")

// movingTags name whatever was built last, never one build.
var movingTags = map[string]bool{
	"latest": true, "stable": true, "main": true, "master": true, "head": true,
	"trunk": true, "develop": true, "dev": true, "edge": true, "nightly": true,
	"current": true, "next": true, "canary": true, "release": true,
	"prod": true, "production": true, "staging": true,
}

// semverRE is the regular expression that semver.org suggests for
// Semantic Versioning 2.0.0 (https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string),
// with an optional leading "v" as git tags usually carry.
var semverRE = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// shaRE is an abbreviated or full git commit id: 7 to 40 hex digits
// (SHA-1), or 64 (SHA-256 repositories).
var shaRE = regexp.MustCompile(`^(?:[0-9a-f]{7,40}|[0-9a-f]{64})$`)

// digestRE is an OCI content digest as image registries report them
// (OCI image spec, descriptor.md "Digests": algorithm ":" encoded; the
// registered algorithms sha256 and sha512 are lowercase hex).
var digestRE = regexp.MustCompile(`^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$`)

// CheckLabel accepts a version label that names one build: a semantic
// version (v1.2.3, 1.2.3-rc.1+build.5), a git commit id (7 to 40 hex
// digits, or 64), or a label matching pattern in full (nil: no other
// form). Empty or blank labels and moving tags (latest, stable, main,
// master, head, …, in any case) are refused even when pattern matches
// them. Errors name field and wrap ErrLabel.
func CheckLabel(field, label string, pattern *regexp.Regexp) error {
	const oneBuild = "name one build (a semantic version such as v1.2.3, or a git SHA)"
	switch {
	case strings.TrimSpace(label) == "":
		return &labelError{field: field, msg: "empty; " + oneBuild}
	case label != strings.TrimSpace(label):
		return &labelError{field: field, msg: fmt.Sprintf("%q has leading or trailing white space", label)}
	case movingTags[strings.ToLower(label)]:
		return &labelError{field: field, moving: true, msg: fmt.Sprintf("%q is a moving tag: it names whatever was built last; %s", label, oneBuild)}
	case semverRE.MatchString(label), shaRE.MatchString(label):
		return nil
	case pattern != nil && fullMatch(pattern, label):
		return nil
	}
	want := "a semantic version such as v1.2.3 or a git SHA of 7 to 40 hex digits"
	if pattern != nil {
		want += fmt.Sprintf(", or a label matching %s", pattern)
	}
	return &labelError{field: field, msg: fmt.Sprintf("%q is not %s", label, want)}
}

// labelError is CheckLabel's error: errors.Is matches ErrLabel, and
// ErrMovingLabel for a moving tag.
type labelError struct {
	field, msg string
	moving     bool
}

func (e *labelError) Error() string { return e.field + ": " + e.msg }

func (e *labelError) Is(target error) bool {
	return target == ErrLabel || (e.moving && target == ErrMovingLabel)
}

func fullMatch(re *regexp.Regexp, s string) bool {
	loc := re.FindStringIndex(s)
	return loc != nil && loc[0] == 0 && loc[1] == len(s)
}

// Identity is what a release is: its version label and the facts that
// pin it to one build. It is fixed when the release enters its first
// environment; every later environment must get the same.
type Identity struct {
	// Label is the version label (see CheckLabel). Required.
	Label string `json:"label"`
	// Digest is the image digest ("sha256:<64 hex>"); optional, but once
	// recorded every environment must get the same.
	Digest string `json:"digest,omitempty"`
	// Commit is the git commit id the build came from.
	Commit string `json:"commit,omitempty"`
	// CommitTime is when that commit was made; the lead time for changes
	// runs from it.
	CommitTime time.Time `json:"commit_time,omitzero"`
	// BuildTime is when the build was made.
	BuildTime time.Time `json:"build_time,omitzero"`
	// NotesURL links to the release notes (http or https).
	NotesURL string `json:"notes_url,omitempty"`
}

// Validate checks every field of id and reports every problem at once,
// each naming its field. pattern is the host's extra label form (see
// CheckLabel).
func (id Identity) Validate(pattern *regexp.Regexp) error {
	var errs []error
	if err := CheckLabel("label", id.Label, pattern); err != nil {
		errs = append(errs, err)
	}
	if id.Digest != "" && !digestRE.MatchString(id.Digest) {
		errs = append(errs, fmt.Errorf("digest: %q is not a content digest (want sha256:<64 lowercase hex> or sha512:<128>)", id.Digest))
	}
	if id.Commit != "" && !shaRE.MatchString(id.Commit) {
		errs = append(errs, fmt.Errorf("commit: %q is not a git commit id (7 to 40 lowercase hex digits, or 64)", id.Commit))
	}
	if !id.CommitTime.IsZero() && !id.BuildTime.IsZero() && id.BuildTime.Before(id.CommitTime) {
		errs = append(errs, fmt.Errorf("build_time: %s is before commit_time %s", id.BuildTime.Format(time.RFC3339), id.CommitTime.Format(time.RFC3339)))
	}
	if id.NotesURL != "" {
		if u, err := url.Parse(id.NotesURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("notes_url: %q is not an http(s) URL", id.NotesURL))
		}
	}
	return errors.Join(errs...)
}

// ErrIdentity is wrapped when a release arrives with an identity other
// than the one it was fixed with.
var ErrIdentity = errors.New("release: identity differs from the one recorded")

// pin checks that arriving agrees with the recorded identity id. The
// identity was fixed in the first environment: a later one may leave
// fields out (they are taken from the record), but may neither change one
// (a different digest under the same label is a different build) nor add
// one the earlier environments never saw.
func (id Identity) pin(arriving Identity) error {
	var errs []error
	check := func(field, have, got string) {
		switch {
		case got == "" || got == have:
		case have == "":
			errs = append(errs, fmt.Errorf("%s: %q, but %s entered its first environment without one (%w)", field, got, id.Label, ErrIdentity))
		default:
			errs = append(errs, fmt.Errorf("%s: %q, but %s was recorded with %q (%w)", field, got, id.Label, have, ErrIdentity))
		}
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	check("digest", id.Digest, arriving.Digest)
	check("commit", id.Commit, arriving.Commit)
	check("notes_url", id.NotesURL, arriving.NotesURL)
	check("commit_time", stamp(id.CommitTime), stamp(arriving.CommitTime))
	check("build_time", stamp(id.BuildTime), stamp(arriving.BuildTime))
	return errors.Join(errs...)
}

// Revision returns a rollback.Revision of this release carrying its
// metadata, for a rollout's history: previous is the version it replaces,
// started when its rollout began.
func (id Identity) Revision(previous string, started time.Time) rollback.Revision {
	return rollback.Revision{
		Version: id.Label, Previous: previous, Outcome: rollback.OutcomeLive, StartedAt: started,
		Commit: id.Commit, CommitTime: id.CommitTime, BuildTime: id.BuildTime, Digest: id.Digest, NotesURL: id.NotesURL,
	}
}
