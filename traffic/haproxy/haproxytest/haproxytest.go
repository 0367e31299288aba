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
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
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

	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
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
	p := &Process{Dir: dir, Socket: filepath.Join(dir, "admin.sock"), out: &lockedBuffer{}, done: make(chan struct{})}
	p.Config = fmt.Sprintf("global\n    stats socket %s mode 600 level admin\n    stats timeout 30s\n\n%s\n%s\n",
		p.Socket, Defaults, sections)
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(p.Config), 0o600); err != nil {
		t.Fatalf("haproxytest: %v", err)
	}
	// -db: stay in the foreground, no daemon, no master process.
	p.cmd = exec.Command(bin, "-f", cfg, "-db")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("haproxytest: starting %s: %v", bin, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("haproxytest: haproxy exited at start (%v):\n%s\nconfiguration:\n%s", p.cmd.ProcessState, p.Output(), p.Config)
		default:
		}
		if c, err := net.DialTimeout("unix", p.Socket, time.Second); err == nil {
			_ = c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxytest: runtime API socket %s not up after 10s; output:\n%s", p.Socket, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Output returns what HAProxy has written to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// stop ends HAProxy: SIGTERM (hard stop), then SIGKILL after 5 s.
func (p *Process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
