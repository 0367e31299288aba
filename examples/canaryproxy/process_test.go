package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/internal/integration"
)

// child is canaryproxy running as a process of its own.
type child struct {
	cmd            *exec.Cmd
	proxy, admin   string // base URLs
	stdout, stderr *syncBuffer
	exited         chan struct{}
}

var servingLine = regexp.MustCompile(`msg=serving proxy=(\S+) admin=(\S+)`)

// startChild runs prefix... canaryproxy args... (prefix: e.g. prlimit
// with its flags) on loopback ports and waits until it serves. It is
// stopped with SIGTERM at the end of the test.
func startChild(t *testing.T, prefix []string, args ...string) *child {
	t.Helper()
	argv := append(append(append([]string{}, prefix...), integration.GoBuild(t, "."), "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0"), args...)
	c := &child{cmd: exec.Command(argv[0], argv[1:]...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), tokenEnv+"=") // only what args say
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	c.cmd.Stdout, c.cmd.Stderr = pw, c.stderr
	require.NoError(t, c.cmd.Start())
	pw.Close()
	addrs := make(chan []string, 1)
	go func() {
		// Read to the end whatever the lines' length: a pipe left full
		// would block the child's logging.
		br := bufio.NewReader(pr)
		for {
			line, err := br.ReadString('\n')
			c.stdout.Write([]byte(line))
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case addrs <- m[1:]:
				default:
				}
			}
			if err != nil {
				break
			}
		}
		pr.Close()
	}()
	go func() {
		c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
			t.Error("canaryproxy still running 15s after SIGTERM")
		}
		if t.Failed() {
			t.Logf("canaryproxy stdout:\n%s\nstderr:\n%s", c.stdout, c.stderr)
		}
	})
	select {
	case a := <-addrs:
		c.proxy, c.admin = "http://"+a[0], "http://"+a[1]
	case <-c.exited:
		t.Fatalf("canaryproxy exited before serving: %v\nstderr:\n%s", c.cmd.ProcessState, c.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("canaryproxy not serving after 20s\nstderr:\n%s", c.stderr)
	}
	return c
}
