// Package etcdtest starts a real etcd server (Debian's etcd-server, binary
// "etcd") on loopback ports with a temporary data directory for tests, and
// stops it when the test ends. Without the binary the test is skipped, or
// failed when RAMP_REQUIRE_SERVERS is set (see internal/integration).
package etcdtest

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ramp-go/ramp/internal/integration"
)

// freeAddr finds a free loopback address; a test replaces it to make a
// port collide.
var freeAddr = integration.FreeAddr

// Server is one etcd member started by Start.
type Server struct {
	// Endpoint is the client URL, http://127.0.0.1:PORT.
	Endpoint string

	t        testing.TB
	bin, dir string
	client   string // host:port
	peer     string
	mu       sync.Mutex
	proc     *integration.Process
	cmd      *exec.Cmd
}

// Start runs etcd on two free loopback ports and waits until it answers.
// Its heartbeat (10 ms) and election timeout (100 ms) are short so that
// leases as short as one second are allowed.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: integration.Binary(t, "etcd"), dir: t.TempDir()}
	// A port found free here can be taken by another test's server before
	// etcd binds it (test packages run in parallel): then etcd exits at
	// once, and it is started again on other ports.
	for attempt := 1; ; attempt++ {
		s.client, s.peer = freeAddr(t), freeAddr(t)
		s.Endpoint = "http://" + s.client
		if s.start() {
			return s
		}
		if attempt == 5 {
			t.Fatalf("etcd: the ports were taken before etcd bound them, 5 times")
		}
		t.Logf("etcd: a port was taken before etcd bound it; trying others")
	}
}

// Restart starts the server again (after Kill or Pause) on the same ports
// and data, and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	if !s.start() {
		s.t.Fatalf("etcd: its ports %s and %s were taken while it was down", s.client, s.peer)
	}
}

// start runs etcd and waits until it answers. It reports false when etcd
// exited because a port was already in use; any other failure fails the
// test.
func (s *Server) start() bool {
	s.t.Helper()
	cmd := exec.Command(s.bin,
		"--name", "ramp-test",
		"--data-dir", s.dir,
		"--listen-client-urls", "http://"+s.client,
		"--advertise-client-urls", "http://"+s.client,
		"--listen-peer-urls", "http://"+s.peer,
		"--initial-advertise-peer-urls", "http://"+s.peer,
		"--initial-cluster", "ramp-test=http://"+s.peer,
		"--heartbeat-interval", "10",
		"--election-timeout", "100",
		"--logger", "zap",
		"--log-level", "warn",
	)
	p := integration.StartProcess(s.t, cmd)
	p.StopTimeout = 5 * time.Second
	s.mu.Lock()
	s.proc, s.cmd = p, cmd
	s.mu.Unlock()
	cli := s.Client(s.t)
	defer cli.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.Exited():
			if strings.Contains(p.Output(), "address already in use") {
				return false
			}
			s.t.Fatalf("etcd exited before it was ready:\n%s", p.Output())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return true
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("etcd not ready after 20s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL) and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	p, cmd := s.proc, s.cmd
	s.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-p.Exited()
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint},
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}
