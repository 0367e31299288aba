// Package integration helps tests that start real servers (Prometheus,
// HAProxy) on loopback. On a laptop without the server binary such a test
// skips; when RAMP_REQUIRE_SERVERS is set (as .ci/run does) a missing
// binary fails the test instead.
//
// StartProcess runs a server with its output captured and stops it when
// the test ends (SIGTERM, then SIGKILL), logging the output of a failed
// test; Process.WaitReady polls until the server is ready or fails fast
// when it exits. StartPrometheus builds on both for a scraping Prometheus.
package integration

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the environment variable that turns a missing server
// binary from a skip into a failure.
const RequireEnv = "RAMP_REQUIRE_SERVERS"

// Binary returns the path of the named server binary. When it is missing
// the test is skipped, or failed when RequireEnv is set.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name
		}
	}
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s not found and %s is set: install it (apt-get install -y %s)", name, RequireEnv, name)
	}
	t.Skipf("%s not found; set %s to make this a failure", name, RequireEnv)
	return ""
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
