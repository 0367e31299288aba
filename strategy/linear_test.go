package strategy

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func percents(steps []Step) []float64 {
	out := make([]float64, len(steps))
	for i, s := range steps {
		out[i] = s.Percent
	}
	return out
}

func TestLinearNext(t *testing.T) {
	tests := []struct {
		name     string
		linear   Linear
		percents []float64
		hold     time.Duration // of every step but the last
		last     time.Duration
	}{
		{"0 to 100 by 10 over an hour",
			Linear{To: 100, Over: time.Hour, Increment: 10},
			[]float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 6 * time.Minute, 6 * time.Minute},
		{"last increment capped at To",
			Linear{To: 100, Over: 40 * time.Minute, Increment: 30},
			[]float64{30, 60, 90, 100}, 10 * time.Minute, 10 * time.Minute},
		{"from a share, by count",
			Linear{From: 10, To: 50, Over: 20 * time.Minute, Steps: 4},
			[]float64{20, 30, 40, 50}, 5 * time.Minute, 5 * time.Minute},
		{"uneven shares round to 0.01, half up",
			Linear{To: 100, Over: 3 * time.Minute, Steps: 3},
			[]float64{33.33, 66.67, 100}, time.Minute, time.Minute},
		{"fine shares",
			Linear{From: 0.5, To: 1, Over: time.Second, Steps: 4},
			[]float64{0.63, 0.75, 0.88, 1}, 250 * time.Millisecond, 250 * time.Millisecond},
		{"last step takes the remainder",
			Linear{To: 30, Over: 10, Steps: 3},
			[]float64{10, 20, 30}, 3, 4},
		{"one step per 0.01",
			Linear{From: 1, To: 1.05, Over: 5 * time.Second, Increment: 0.01},
			[]float64{1.01, 1.02, 1.03, 1.04, 1.05}, time.Second, time.Second},
		{"ramp ending below 100",
			Linear{To: 25, Over: time.Hour, Increment: 12.5},
			[]float64{12.5, 25}, 30 * time.Minute, 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.linear.Validate())
			steps := run(t, tt.linear)
			assert.Equal(t, tt.percents, percents(steps))
			assert.Equal(t, len(steps), tt.linear.Len())
			var total time.Duration
			for i, s := range steps {
				want := tt.hold
				if i == len(steps)-1 {
					want = tt.last
				}
				assert.Equal(t, want, s.Hold, "step %d", i)
				assert.Empty(t, checkPercent(s.Percent), "step %d", i)
				total += s.Hold
			}
			assert.Equal(t, tt.linear.Over, total, "holds add up to Over")
			assert.Equal(t, "linear 1/"+strconv.Itoa(len(steps)), steps[0].Name)
		})
	}
}

// Every valid ramp rises strictly and ends at To, whatever the count.
func TestLinearRisesToTo(t *testing.T) {
	for from := 0; from < 10000; from += 997 {
		for _, to := range []int{from + 1, from + 3, from + 250, 10000} {
			if to > 10000 || to <= from {
				continue
			}
			for _, n := range []int{1, 2, 3, 7, to - from} {
				if n > to-from {
					continue
				}
				l := Linear{From: float64(from) / 100, To: float64(to) / 100, Over: time.Hour, Steps: n}
				require.NoError(t, l.Validate())
				steps := run(t, l)
				require.Len(t, steps, n)
				prev := l.From
				for _, s := range steps {
					require.Greater(t, s.Percent, prev, "%+v", l)
					prev = s.Percent
				}
				require.Equal(t, l.To, prev)
			}
		}
	}
}

func TestLinearValidate(t *testing.T) {
	tests := []struct {
		name   string
		linear Linear
		want   []string
	}{
		{"valid by increment", Linear{To: 100, Over: time.Hour, Increment: 10}, nil},
		{"valid by steps", Linear{From: 5, To: 5.01, Over: time.Nanosecond, Steps: 1}, nil},
		{"zero", Linear{}, []string{
			"to: 0 is not above from (0): a linear ramp rises",
			"over: 0s must be positive",
			"increment, steps: neither is set: set one",
		}},
		{"bad shares",
			Linear{From: -1, To: 100.001, Over: -time.Minute, Increment: 5, Analysis: &Analysis{}},
			[]string{
				"from: -1 is negative",
				"to: 100.001 is over 100",
				"over: -1m0s must be positive",
				"analysis: analysis policy: interval: 0s must be positive",
			}},
		{"falling", Linear{From: 50, To: 10, Over: time.Hour, Steps: 2},
			[]string{"to: 10 is not above from (50): a linear ramp rises"}},
		{"both set", Linear{To: 100, Over: time.Hour, Increment: 10, Steps: 10},
			[]string{"increment, steps: both are set (10 and 10): set one"}},
		{"bad increment", Linear{To: 100, Over: time.Hour, Increment: 0.005},
			[]string{"increment: 0.005 is finer than the 0.01 resolution"}},
		{"negative increment", Linear{To: 100, Over: time.Hour, Increment: -1},
			[]string{"increment: -1 is negative"}},
		{"NaN increment", Linear{To: 100, Over: time.Hour, Increment: math.NaN()},
			[]string{"increment: NaN is not a number"}},
		{"negative steps", Linear{To: 100, Over: time.Hour, Steps: -2},
			[]string{"steps: -2 is negative"}},
		{"more steps than shares", Linear{From: 1, To: 1.5, Over: time.Hour, Steps: 51},
			[]string{"steps: 51 is more than the 50 distinct shares between from (1) and to (1.5)"}},
		{"over too short", Linear{To: 100, Over: 5 * time.Nanosecond, Increment: 10},
			[]string{"over: 5ns is too short for 10 steps (each would hold 0, which means until promoted)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.linear.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				require.NotZero(t, tt.linear.Len())
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, messages(err))
			assert.Zero(t, tt.linear.Len(), "an invalid ramp has no steps of its own")
		})
	}
}
