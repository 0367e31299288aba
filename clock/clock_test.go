package clock

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fired(t Timer) bool {
	select {
	case <-t.C():
		return true
	default:
		return false
	}
}

func TestFakeFiresInOrderAtDeadlines(t *testing.T) {
	f := NewFake(t0)
	a := f.NewTimer(3 * time.Second)
	b := f.NewTimer(time.Second)
	require.Equal(t, 2, f.Waiters())
	f.Advance(999 * time.Millisecond)
	assert.False(t, fired(a) || fired(b), "nothing is due yet")
	f.Advance(time.Millisecond)
	assert.True(t, fired(b))
	assert.False(t, fired(a))
	assert.Equal(t, t0.Add(time.Second), f.Now())
	f.Advance(time.Hour)
	select {
	case at := <-a.C():
		assert.Equal(t, t0.Add(3*time.Second), at, "a timer delivers its deadline, not the time advanced to")
	default:
		t.Fatal("a did not fire")
	}
	assert.Equal(t, 0, f.Waiters())
}

func TestFakeStopAndImmediate(t *testing.T) {
	f := NewFake(t0)
	a := f.NewTimer(time.Second)
	assert.True(t, a.Stop())
	assert.False(t, a.Stop(), "stopping twice reports inactive")
	f.Advance(time.Minute)
	assert.False(t, fired(a))
	assert.True(t, fired(f.NewTimer(0)), "a timer for now fires at once")
	assert.True(t, fired(f.NewTimer(-time.Second)))
}

func TestFakeChanged(t *testing.T) {
	f := NewFake(t0)
	ch := f.Changed()
	select {
	case <-ch:
		t.Fatal("closed before any timer")
	default:
	}
	f.NewTimer(time.Second)
	select {
	case <-ch:
	default:
		t.Fatal("not closed when a timer was made")
	}
}

func TestRealAndOr(t *testing.T) {
	assert.Equal(t, Real{}, Or(nil))
	f := NewFake(t0)
	assert.Equal(t, Clock(f), Or(f))
	tm := Real{}.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("real timer did not fire")
	}
	assert.WithinDuration(t, time.Now(), Real{}.Now(), time.Second)
}

func TestBlockUntilWaitsForArmedTimers(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := f.BlockUntil(ctx, 1); err == nil {
		t.Fatal("BlockUntil returned with no timer armed")
	}
	go f.NewTimer(time.Second)
	if err := f.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if f.Waiters() != 1 {
		t.Fatalf("waiters = %d, want 1", f.Waiters())
	}
}
