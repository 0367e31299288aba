package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/fleet"
	"github.com/ramp-go/ramp/fleet/internal/etcdtest"
	"github.com/ramp-go/ramp/internal/integration"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fleetlock")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "fleetlock")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fleetlock: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Two deploy pipelines on one service: the second fails at once with the
// lock-held status, naming the first; once the first dies (SIGKILL), the
// lock is free within the TTL.
func TestSecondDeployFailsNamingTheFirst(t *testing.T) {
	etcd := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := exec.Command(binary, "-etcd", etcd.Endpoint, "-service", "shop", "-version", "v2.1.0", "-ttl", "2s", "--", "sleep", "60")
	first.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its sleep dies with it below
	p := integration.StartProcess(t, first)
	l, err := fleet.NewLock(etcd.Client(t), "shop", fleet.LockOptions{})
	require.NoError(t, err)
	p.WaitReady(t, 20*time.Second, func() bool { _, ok, _ := l.Holder(ctx); return ok })

	start := time.Now()
	out, err := exec.Command(binary, "-etcd", etcd.Endpoint, "-service", "shop", "-version", "v2.2.0", "--", "true").CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "second run: %v\n%s", err, out)
	assert.Equal(t, exitHeld, exit.ExitCode())
	assert.Less(t, time.Since(start), 5*time.Second, "fails fast")
	host, _ := os.Hostname()
	assert.Contains(t, string(out), fmt.Sprintf(`lock "shop" is held by %s pid %s releasing v2.1.0 since `, host, strconv.Itoa(first.Process.Pid)))

	// The command's status is fleetlock's; the lock is released after it.
	other := exec.Command(binary, "-etcd", etcd.Endpoint, "-service", "cart", "--", "sh", "-c", "exit 3")
	err = other.Run()
	require.True(t, errors.As(err, &exit))
	assert.Equal(t, 3, exit.ExitCode())
	_, held, err := l.Holder(ctx)
	require.NoError(t, err)
	assert.True(t, held, "shop is still held by the first")

	require.NoError(t, syscall.Kill(-first.Process.Pid, syscall.SIGKILL)) // fleetlock and its command
	<-p.Exited()
	var last error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if last = exec.Command(binary, "-etcd", etcd.Endpoint, "-service", "shop", "--", "true").Run(); last == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, last, "the lock did not die with its holder")
	_, held, err = l.Holder(ctx)
	require.NoError(t, err)
	assert.False(t, held, "released after the command")
}
