package rollback

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestManualNotWatched(t *testing.T) {
	var m Manual
	require.ErrorIs(t, m.Fire("nobody listens"), ErrNotWatched)
}

func TestManualFiresWatchers(t *testing.T) {
	m := &Manual{Name: "ops-console"}
	f1, f2 := newFires(), newFires()
	stop1 := watch(t, m, target, f1)
	watch(t, m, Target{Stable: "a", Canary: "b"}, f2)
	waitFor(t, "two watchers", func() bool { return m.hub.count() == 2 })

	require.NoError(t, m.Fire("  latency page from on-call \n"))
	assert.Equal(t, "ops-console: latency page from on-call", f1.next(t))
	assert.Equal(t, "ops-console: latency page from on-call", f2.next(t))

	require.NoError(t, stop1())
	waitFor(t, "one watcher", func() bool { return m.hub.count() == 1 })
	require.NoError(t, m.Fire(""))
	assert.Equal(t, "ops-console: no reason given", f2.next(t))
	assert.Len(t, f1.all(), 1, "a stopped watcher gets nothing more")
}

func TestManualDefaultName(t *testing.T) {
	var m Manual
	f := newFires()
	watch(t, &m, target, f)
	waitFor(t, "watcher", func() bool { return m.hub.count() == 1 })
	require.NoError(t, m.Fire("x"))
	assert.Equal(t, "manual: x", f.next(t))
}

func TestManualBacklog(t *testing.T) {
	var m Manual
	block := make(chan struct{})
	var got []string
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Watch(ctx, target, func(r string) {
			<-block // a fire func that is slow to return
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
		})
	}()
	waitFor(t, "watcher", func() bool { return m.hub.count() == 1 })
	require.NoError(t, m.Fire("first"))
	// The watcher takes "first" and blocks in fire; queue maxPending more.
	waitFor(t, "first taken", func() bool { return m.hub.pending() == 0 })
	for i := range maxPending {
		require.NoError(t, m.Fire(fmt.Sprint("r", i)), "demand %d", i)
	}
	require.NoError(t, m.Fire("r7"), "the same reason as a queued one is merged, not refused")
	require.ErrorIs(t, m.Fire("one too many"), ErrBacklog)
	close(block)
	waitFor(t, "all delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == maxPending+1 })
	cancel()
	<-done
}

func TestCleanReason(t *testing.T) {
	long := strings.Repeat("é", maxReasonLen) // 2 bytes each
	for _, tc := range []struct{ in, want string }{
		{"", "def"},
		{"  \t\n ", "def"},
		{"a\nb\x00c", "a b c"},
		{"fine", "fine"},
	} {
		assert.Equal(t, tc.want, cleanReason(tc.in, "def"), "%q", tc.in)
	}
	got := cleanReason(long, "")
	assert.LessOrEqual(t, len(got), maxReasonLen+len("…"))
	assert.True(t, strings.HasSuffix(got, "é…"), "cut on a rune boundary")
}
