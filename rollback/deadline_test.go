package rollback

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
)

func TestDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       Deadline
		advance time.Duration // when it must fire (not a nanosecond before)
		want    string
	}{
		{"within", Deadline{Within: 30 * time.Minute}, 30 * time.Minute,
			"deadline: rollout of v2 not finished within 30m0s (watched since 2025-03-01T12:00:00Z)"},
		{"by", Deadline{By: t0.Add(2 * time.Hour)}, 2 * time.Hour,
			"deadline: rollout of v2 not finished by 2025-03-01T14:00:00Z"},
		{"by before within", Deadline{Within: 3 * time.Hour, By: t0.Add(time.Hour)}, time.Hour,
			"deadline: rollout of v2 not finished by 2025-03-01T13:00:00Z"},
		{"within before by", Deadline{Within: time.Hour, By: t0.Add(3 * time.Hour)}, time.Hour,
			"deadline: rollout of v2 not finished within 1h0m0s (watched since 2025-03-01T12:00:00Z)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			tc.d.Clock = clk
			f := newFires()
			stop := watch(t, tc.d, target, f)
			waiters(t, clk, 1)
			clk.Advance(tc.advance - time.Nanosecond)
			select {
			case r := <-f.ch:
				t.Fatalf("fired early: %q", r)
			default:
			}
			clk.Advance(time.Nanosecond)
			assert.Equal(t, tc.want, f.next(t))
			require.NoError(t, stop())
			assert.Len(t, f.all(), 1)
		})
	}
}

func TestDeadlinePastFiresAtOnce(t *testing.T) {
	clk := clock.NewFake(t0)
	f := newFires()
	watch(t, Deadline{By: t0.Add(-time.Minute), Clock: clk}, target, f)
	assert.Equal(t, "deadline: rollout of v2 not finished by 2025-03-01T11:59:00Z", f.next(t))
}

func TestDeadlineCancelled(t *testing.T) {
	clk := clock.NewFake(t0)
	f := newFires()
	stop := watch(t, Deadline{Within: time.Minute, Clock: clk}, target, f)
	waiters(t, clk, 1)
	require.NoError(t, stop())
	assert.Equal(t, 0, clk.Waiters(), "timer stopped")
	clk.Advance(time.Hour)
	assert.Empty(t, f.all())
}

func TestDeadlineValidate(t *testing.T) {
	err := Deadline{}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "within and by are both unset")
	err = Deadline{Within: -time.Second}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "within: -1s is negative")
	require.Error(t, Deadline{}.Watch(context.Background(), target, func(string) {}))
	require.NoError(t, Deadline{Within: time.Second}.Validate())
}
