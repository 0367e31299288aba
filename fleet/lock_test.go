package fleet

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ramp-go/ramp/lock"
)

func TestLockSecondAttemptFailsFastNamingTheHolder(t *testing.T) {
	ctx := testCtx(t)
	_, cli := startEtcd(t)
	first, err := NewLock(cli, "shop", LockOptions{TTL: time.Second})
	require.NoError(t, err)
	second, _ := NewLock(cli, "shop", LockOptions{TTL: time.Second})
	since := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	require.NoError(t, first.TryAcquire(ctx, lock.Holder{Host: "ci-1", PID: 42, Version: "v2.1.0", Since: since}))

	start := time.Now()
	err = second.TryAcquire(ctx, lock.Holder{Host: "ci-2", PID: 7, Version: "v2.2.0"})
	assert.Less(t, time.Since(start), time.Second, "a held lock fails fast")
	require.ErrorIs(t, err, lock.ErrHeld)
	var held *lock.HeldError
	require.True(t, errors.As(err, &held))
	assert.Equal(t, "shop", held.Name)
	assert.Equal(t, "ci-1", held.Holder.Host)
	assert.Equal(t, 42, held.Holder.PID)
	assert.Equal(t, "v2.1.0", held.Holder.Version)
	assert.True(t, since.Equal(held.Holder.Since))
	assert.Contains(t, err.Error(), "ci-1 pid 42 releasing v2.1.0 since 2026-12-02T03:00:00Z")

	h, ok, err := second.Holder(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "ci-1", h.Host)
	require.ErrorIs(t, second.Release(ctx), lock.ErrNotHeld, "the loser cannot free the lock")
	require.Error(t, first.TryAcquire(ctx, lock.Holder{}), "taking a held lock again is not a re-entry")

	// Another service's lock is independent.
	other, _ := NewLock(cli, "cart", LockOptions{TTL: time.Second})
	require.NoError(t, other.TryAcquire(ctx, lock.Holder{}))
	oh, _, _ := other.Holder(ctx)
	host, _ := os.Hostname()
	assert.Equal(t, host, oh.Host, "defaults: this host")
	assert.Equal(t, os.Getpid(), oh.PID, "defaults: this process")

	require.NoError(t, first.Release(ctx))
	require.NoError(t, second.TryAcquire(ctx, lock.Holder{Host: "ci-2"}))
	require.ErrorIs(t, first.Release(ctx), lock.ErrNotHeld)
}

func TestLockDiesWithItsLease(t *testing.T) {
	ctx := testCtx(t)
	_, cli := startEtcd(t)
	sess := session(t, cli, 1)
	first, _ := NewLock(cli, "shop", LockOptions{Session: sess})
	require.NoError(t, first.TryAcquire(ctx, lock.Holder{Host: "ci-1"}))
	lost := first.Lost()
	require.NotNil(t, lost)

	// The holder stops answering: no more keep-alives, no revoke.
	sess.Orphan()
	next, _ := NewLock(cli, "shop", LockOptions{TTL: time.Second})
	require.ErrorIs(t, next.TryAcquire(ctx, lock.Holder{Host: "ci-2"}), lock.ErrHeld)
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = next.TryAcquire(ctx, lock.Holder{Host: "ci-2"}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, err, "the lock died with its holder's lease")
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("Lost not closed after the lease ended")
	}
	require.ErrorIs(t, first.Release(ctx), lock.ErrNotHeld)
	h, _, _ := next.Holder(ctx)
	assert.Equal(t, "ci-2", h.Host, "the old holder's release freed nothing")
}

// A release that is retried after the lock was taken again on the same
// session must not free the newer lock (etcd issue #22082).
func TestLockRetriedReleaseKeepsNewerLock(t *testing.T) {
	ctx := testCtx(t)
	_, cli := startEtcd(t)
	sess := session(t, cli, 5)

	// The trap, with etcd's own Mutex: the late duplicate of the first
	// Unlock deletes the second lock of the same session.
	m := concurrency.NewMutex(sess, "/trap/")
	require.NoError(t, m.TryLock(ctx))
	oldKey := m.Key()
	require.NoError(t, m.Unlock(ctx))
	require.NoError(t, m.TryLock(ctx))
	_, err := cli.Delete(ctx, oldKey) // the retried Unlock lands
	require.NoError(t, err)
	other := concurrency.NewMutex(session(t, cli, 5), "/trap/")
	require.NoError(t, other.TryLock(ctx), "the trap: the newer lock was freed")

	l, _ := NewLock(cli, "shop", LockOptions{Session: sess})
	require.NoError(t, l.TryAcquire(ctx, lock.Holder{Host: "a", Version: "v1"}))
	firstRev := l.rev
	require.NoError(t, l.Release(ctx))
	require.NoError(t, l.TryAcquire(ctx, lock.Holder{Host: "a", Version: "v2"}))
	ok, err := l.deleteIfCreated(ctx, firstRev) // the first Release, retried late
	require.NoError(t, err)
	assert.False(t, ok)
	h, held, err := l.Holder(ctx)
	require.NoError(t, err)
	require.True(t, held, "the retried release freed the newer lock")
	assert.Equal(t, "v2", h.Version)
	require.NoError(t, l.Release(ctx))
}
