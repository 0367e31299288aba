// Package browsertest tests canaryproxy's status page (package admin's
// page) in a real headless Chromium driven over the DevTools protocol with
// chromedp, during a real rollout through a canaryproxy process.
//
// It is a module of its own so that chromedp, and the Go version it needs,
// stay out of the core module's go.mod; the repository's go.work lists it
// (the root's "go test ./..." does not reach it). Run it from this
// directory, as .ci/run does:
//
//	go test -race ./...
//
// It needs Debian's chromium (or $RAMP_CHROMIUM naming a Chrome binary);
// without one it skips, unless RAMP_REQUIRE_SERVERS=1 (CI), where that
// fails. On failure it saves a screenshot and the page's HTML under
// $RAMP_ARTIFACTS, else $TMPDIR/ramp-artifacts, and logs the paths.
package browsertest
