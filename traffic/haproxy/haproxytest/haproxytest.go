// Package haproxytest starts a real HAProxy process for tests, the way
// net/http/httptest starts an HTTP server.
//
// Start writes a configuration with a runtime API socket at admin level
// and the caller's sections, runs haproxy in the foreground, waits until
// the socket answers and stops the process when the test ends. The binary
// is found by ramp's internal/integration package: without it the test is
// skipped, or failed when RAMP_REQUIRE_SERVERS is set (as ramp's CI does).
package haproxytest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ramp-go/ramp/internal/integration"
)

// Defaults is the defaults section Start writes before the caller's
// sections: HTTP mode and timeouts short enough for tests.
const Defaults = `defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
`

// Process is a running HAProxy.
type Process struct {
	// Socket is the path of the runtime API's Unix socket (level admin).
	Socket string
	// Dir is a private directory holding the configuration and the
	// socket; it is removed when the test ends.
	Dir string
	// Config is the configuration HAProxy was started with.
	Config string

	proc *integration.Process
}

// Start starts HAProxy with a global section that opens the runtime API
// socket, the Defaults section and sections (frontends, backends and so
// on, in HAProxy's configuration syntax), and waits up to 10 s for the
// socket to accept connections. A configuration HAProxy refuses fails the
// test with HAProxy's output. The process is stopped in t.Cleanup.
func Start(t testing.TB, sections string) *Process {
	t.Helper()
	bin := integration.Binary(t, "haproxy")
	// Not t.TempDir: a Unix socket path must stay under 108 bytes, and
	// test names make TempDir paths long.
	dir, err := os.MkdirTemp("", "haproxytest")
	if err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &Process{Dir: dir, Socket: filepath.Join(dir, "admin.sock")}
	p.Config = fmt.Sprintf("global\n    stats socket %s mode 600 level admin\n    stats timeout 30s\n\n%s\n%s\n",
		p.Socket, Defaults, sections)
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(p.Config), 0o600); err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	// -db: stay in the foreground, no daemon, no master process.
	p.proc = integration.StartProcess(t, exec.Command(bin, "-f", cfg, "-db"))
	p.proc.StopTimeout = 5 * time.Second // SIGTERM is HAProxy's hard stop
	ready := false
	defer func() {
		if !ready { // WaitReady failed the test
			t.Logf("haproxytest: configuration:\n%s", p.Config)
		}
	}()
	p.proc.WaitReady(t, 10*time.Second, func() bool {
		c, err := net.DialTimeout("unix", p.Socket, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
	ready = true
	return p
}

// Output returns what HAProxy has written to stdout and stderr so far.
func (p *Process) Output() string { return p.proc.Output() }
