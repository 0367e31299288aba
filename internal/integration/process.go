package integration

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a server process started by StartProcess. It is stopped when
// the test that started it ends.
type Process struct {
	// StopTimeout is how long cleanup waits after SIGTERM before it kills
	// the process. StartProcess sets it to 10 s; a test may change it
	// before it ends.
	StopTimeout time.Duration

	name string
	cmd  *exec.Cmd
	out  SyncBuffer
	done chan struct{}
	err  error // cmd.Wait's result, set before done is closed
}

// StartProcess starts cmd with its stdout and stderr captured (it replaces
// any writers set on cmd), and registers a cleanup that sends SIGTERM,
// kills the process if it is still running after StopTimeout, and logs its
// output when the test has failed. A process that cannot start fails the
// test.
func StartProcess(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{StopTimeout: 10 * time.Second, name: filepath.Base(cmd.Path), cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	// A child the process leaves behind may hold the output pipe open:
	// do not let it keep Wait, and so the cleanup, waiting.
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = time.Second
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.Output())
		}
	})
	return p
}

// Output returns what the process has written to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err returns how the process ended (exec.Cmd.Wait's error: nil for exit
// status 0) once Exited is closed, and nil while it runs.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// WaitReady polls probe until it reports true, and fails the test when the
// process exits first or probe is still false after timeout. The process's
// output is logged by the cleanup StartProcess registered.
func (p *Process) WaitReady(t testing.TB, timeout time.Duration, probe func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v", p.name, p.err)
		default:
		}
		if probe() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v", p.name, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *Process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(p.StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// SyncBuffer is a bytes.Buffer safe to write and read at once: a
// process's output copiers, or a program under test writing while the
// test reads. The zero value is empty and ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
