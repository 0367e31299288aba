package rollback

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fires records the reasons a trigger fires with.
type fires struct {
	mu      sync.Mutex
	reasons []string
	ch      chan string
}

func newFires() *fires { return &fires{ch: make(chan string, 1024)} }

func (f *fires) fire(reason string) {
	f.mu.Lock()
	f.reasons = append(f.reasons, reason)
	f.mu.Unlock()
	f.ch <- reason
}

func (f *fires) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reasons...)
}

// next waits (in real time, bounded) for the next fire.
func (f *fires) next(t *testing.T) string {
	t.Helper()
	select {
	case r := <-f.ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("trigger did not fire")
		return ""
	}
}

// waitFor polls cond until it holds. It is a synchronisation point with
// goroutines under test, not a sleep standing in for logic time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
}

// watch runs tr.Watch in a goroutine; stop cancels it and returns its error.
func watch(t *testing.T, tr Trigger, tg Target, f *fires) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Watch(ctx, tg, f.fire) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Watch did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waiters waits until the fake clock has n pending timers.
func waiters(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	waitFor(t, "timers armed", func() bool { return clk.Waiters() == n })
}

var target = Target{Stable: "v1", Canary: "v2"}

func TestWaitForHelper(t *testing.T) {
	n := 0
	waitFor(t, "counter", func() bool { n++; return n == 3 })
	require.Equal(t, 3, n)
}
