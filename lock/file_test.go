//go:build unix

package lock_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/lock"
)

// The helper process: when LOCK_TEST_HOLD names a lock file, the test
// binary takes the lock, says "locked" and waits to be killed.
func TestMain(m *testing.M) {
	if path := os.Getenv("LOCK_TEST_HOLD"); path != "" {
		l := lock.NewFile(path, "shop")
		if err := l.TryAcquire(context.Background(), lock.Holder{Host: "child", Version: "v2.0.0", Purpose: "rollout of shop"}); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute) // killed long before
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func holder(host string) lock.Holder {
	return lock.Holder{Host: host, PID: 4242, Version: "v1.2.3", Purpose: "rollout of shop", Since: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

func TestFileSecondAcquireFailsFastNamingHolder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shop.lock")
	a, b := lock.NewFile(path, "shop"), lock.NewFile(path, "shop")
	require.NoError(t, a.TryAcquire(ctx, holder("build-1")))

	start := time.Now()
	err := b.TryAcquire(ctx, holder("build-2"))
	require.ErrorIs(t, err, lock.ErrHeld)
	assert.Less(t, time.Since(start), time.Second, "TryAcquire must not wait")
	var held *lock.HeldError
	require.ErrorAs(t, err, &held)
	assert.Equal(t, "shop", held.Name)
	assert.Equal(t, holder("build-1").Host, held.Holder.Host)
	assert.Equal(t, 4242, held.Holder.PID)
	assert.True(t, held.Holder.Since.Equal(holder("build-1").Since))
	assert.Contains(t, err.Error(), `lock "shop" is held by build-1 pid 4242 releasing v1.2.3 (rollout of shop) since 2026-12-01T09:00:00Z`)

	h, ok, err := b.Holder(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "build-1", h.Host)

	require.NoError(t, a.Release(ctx))
	_, ok, err = b.Holder(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, b.TryAcquire(ctx, holder("build-2")))
	h, ok, err = a.Holder(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "build-2", h.Host)
	require.NoError(t, b.Release(ctx))
}

func TestFileReleaseAndReacquireErrors(t *testing.T) {
	ctx := context.Background()
	l := lock.NewFile(filepath.Join(t.TempDir(), "x.lock"), "")
	require.ErrorIs(t, l.Release(ctx), lock.ErrNotHeld)
	require.NoError(t, l.TryAcquire(ctx, lock.Holder{}))
	h, ok, err := l.Holder(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, os.Getpid(), h.PID, "a zero PID is this process")
	assert.False(t, h.Since.IsZero())

	err = l.TryAcquire(ctx, lock.Holder{})
	require.Error(t, err)
	assert.NotErrorIs(t, err, lock.ErrHeld, "re-taking one's own lock is a misuse, not a conflict")
	require.NoError(t, l.Release(ctx))
	require.ErrorIs(t, l.Release(ctx), lock.ErrNotHeld)

	var zero lock.File
	require.ErrorContains(t, zero.TryAcquire(ctx, lock.Holder{}), "path: empty")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, l.TryAcquire(canceled, lock.Holder{}), context.Canceled)
}

func TestFileStaleContentsDoNotBlock(t *testing.T) {
	// A holder that died leaves its line in the file; the lock is free.
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shop.lock")
	require.NoError(t, os.WriteFile(path, []byte(`{"host":"dead","pid":1}`+"\n"), 0o644))
	l := lock.NewFile(path, "shop")
	_, ok, err := l.Holder(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, l.TryAcquire(ctx, holder("alive-but-short")))
	require.NoError(t, l.Release(ctx))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Empty(t, b, "release clears the holder")
}

func TestFileLongerEarlierHolderIsCut(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shop.lock")
	long := holder("a-very-long-host-name-that-leaves-a-long-line-behind.example.com")
	long.Purpose = "a long purpose to make the line longer than the next one"
	require.NoError(t, os.WriteFile(path, []byte(`{"host":"`+long.Host+`","purpose":"`+long.Purpose+`"}`+"\n"), 0o644))
	a, b := lock.NewFile(path, "shop"), lock.NewFile(path, "shop")
	require.NoError(t, a.TryAcquire(ctx, holder("h")))
	var held *lock.HeldError
	require.ErrorAs(t, b.TryAcquire(ctx, holder("other")), &held)
	assert.Equal(t, "h", held.Holder.Host)
	assert.Equal(t, "rollout of shop", held.Holder.Purpose, "nothing of the longer line is left")
	require.NoError(t, a.Release(ctx))
}

// Exactly one of many racing acquirers wins; the others name the winner.
func TestFileRace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shop.lock")
	for round := range 20 {
		const n = 8
		locks := make([]*lock.File, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			locks[i] = lock.NewFile(path, "shop")
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = locks[i].TryAcquire(ctx, lock.Holder{Host: fmt.Sprintf("h%d", i), PID: i + 1})
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "round %d: two holders", round)
				winner = i
			}
		}
		require.NotEqual(t, -1, winner, "round %d: nobody won: %v", round, errors.Join(errs...))
		for i, err := range errs {
			if i == winner {
				continue
			}
			var held *lock.HeldError
			require.ErrorAs(t, err, &held)
			// The loser reads the winner's line, or nothing if it looked
			// between the winner's flock and its write.
			if held.Holder.Host != "" {
				assert.Equal(t, fmt.Sprintf("h%d", winner), held.Holder.Host)
			}
		}
		// Holder and Release racing with new acquirers.
		wg.Add(2)
		go func() { defer wg.Done(); _, _, _ = locks[(winner+1)%n].Holder(ctx) }()
		go func() { defer wg.Done(); require.NoError(t, locks[winner].Release(ctx)) }()
		wg.Wait()
	}
}

// A holder killed by SIGKILL never ran its Release; the kernel frees the
// lock and the next caller takes it.
func TestFileSIGKILLedHolderDoesNotBlock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shop.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCK_TEST_HOLD="+path)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	l := lock.NewFile(path, "shop")
	var held *lock.HeldError
	require.ErrorAs(t, l.TryAcquire(ctx, holder("next")), &held)
	assert.Equal(t, "child", held.Holder.Host)
	assert.Equal(t, cmd.Process.Pid, held.Holder.PID)
	assert.Equal(t, "v2.0.0", held.Holder.Version)

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

	_, ok, err := l.Holder(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "a dead holder holds nothing")
	require.NoError(t, l.TryAcquire(ctx, holder("next")))
	require.NoError(t, l.Release(ctx))
}

// Holder probes racing with acquire and release never make a free lock
// look held.
func TestFileHolderProbesDoNotBlockAcquire(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shop.lock")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := lock.NewFile(path, "shop")
			for {
				select {
				case <-stop:
					return
				default:
					_, _, _ = p.Holder(ctx)
				}
			}
		}()
	}
	l := lock.NewFile(path, "shop")
	for i := range 300 {
		require.NoError(t, l.TryAcquire(ctx, holder("h")), "round %d", i)
		require.NoError(t, l.Release(ctx))
	}
	close(stop)
	wg.Wait()
}
