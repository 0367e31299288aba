package window_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/window"
)

func TestWaitSleepsUntilTheWindowOpens(t *testing.T) {
	b := berlin(t)
	cal, err := window.New(window.Config{Allow: []window.Rule{{Name: "office", Location: b, Days: weekdays, From: window.At(9, 0), To: window.At(18, 0)}}})
	require.NoError(t, err)
	fc := clock.NewFake(at(b, "2026-12-04 18:30")) // Friday evening
	done := make(chan window.Decision, 1)
	go func() {
		d, err := window.Wait(context.Background(), cal, fc, 0)
		assert.NoError(t, err)
		done <- d
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, fc.BlockUntil(ctx, 1))
	fc.Advance(at(b, "2026-12-07 08:59").Sub(fc.Now()))
	select {
	case <-done:
		t.Fatal("Wait returned before Monday 09:00")
	case <-time.After(10 * time.Millisecond):
	}
	fc.Advance(time.Minute)
	select {
	case d := <-done:
		assert.True(t, d.Open)
		assert.Equal(t, at(b, "2026-12-07 09:00"), fc.Now().In(b))
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return at 09:00")
	}
}

func TestWaitPollsAStoppedLineAndGivesUpWithCtx(t *testing.T) {
	cal, err := window.New(window.Config{Stop: &window.Stop{Who: "alice", Why: "incident"}})
	require.NoError(t, err)
	fc := clock.NewFake(utc("2026-12-01 10:00"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := window.Wait(ctx, cal, fc, 5*time.Minute); done <- err }()
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	require.NoError(t, fc.BlockUntil(bctx, 1))
	fc.Advance(5 * time.Minute) // polls again: still stopped
	require.NoError(t, fc.BlockUntil(bctx, 1))
	cal.ResumeLine()
	fc.Advance(5 * time.Minute)
	require.NoError(t, <-done, "open after the switch is lifted")

	require.NoError(t, cal.StopLine(window.Stop{Who: "bob", Why: "again"}))
	go func() { _, err := window.Wait(ctx, cal, fc, 0); done <- err }()
	require.NoError(t, fc.BlockUntil(bctx, 1))
	cancel()
	err = <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "stopped by bob: again")
}
