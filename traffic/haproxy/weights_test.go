package haproxy

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// share is the canary's share, in percent, that weights w give.
func share(w []int) float64 { return 100 * float64(w[0]) / float64(w[0]+w[1]) }

func TestWeightsTwoServers(t *testing.T) {
	tests := []struct {
		canary  float64
		want    []int   // canary, stable
		maxErr  float64 // percentage points
		current float64 // what Percents reports for the canary
	}{
		{0, []int{0, 256}, 0, 0},
		{0.01, []int{1, 256}, 0.38, 0.39}, // raised to the smallest share above zero, 1/257
		{0.2, []int{1, 256}, 0.19, 0.39},
		{0.5, []int{1, 199}, 0, 0.5},
		{1, []int{2, 198}, 0, 1},
		{10, []int{28, 252}, 0, 10},
		{12.25, []int{31, 222}, 0.0031, 12.25},
		{33.33, []int{128, 256}, 0.0034, 33.33},
		{50, []int{256, 256}, 0, 50},
		{99.99, []int{256, 1}, 0.38, 99.61}, // lowered to the largest share below 100, 256/257
		{100, []int{256, 0}, 0, 100},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.canary), func(t *testing.T) {
			w, err := Weights([]float64{tt.canary, 100 - tt.canary})
			require.NoError(t, err)
			assert.Equal(t, tt.want, w)
			assert.InDelta(t, tt.canary, share(w), tt.maxErr+1e-9)
			got := Percents(w)
			assert.Equal(t, tt.current, got[0])
			assert.InDelta(t, 100-tt.current, got[1], 1e-9)
		})
	}
}

// TestWeightsErrorBound measures the resolution documented on Weights over
// every share on ramp's 0.01% grid, and checks the rules it promises.
func TestWeightsErrorBound(t *testing.T) {
	var worst, worstAt, worstTail float64
	for h := 0; h <= 10000; h++ {
		p := float64(h) / 100
		w, err := Weights([]float64{p, 100 - p})
		require.NoError(t, err)
		for _, x := range w {
			require.True(t, 0 <= x && x <= MaxWeight, "%v: weight %d", p, x)
		}
		require.Equal(t, p == 0, w[0] == 0, "%v: zero share iff zero weight: %v", p, w)
		require.Equal(t, p == 100, w[1] == 0, "%v: zero share iff zero weight: %v", p, w)
		e := math.Abs(share(w) - p)
		if p >= 0.39 && p <= 99.61 {
			if e > worst {
				worst, worstAt = e, p
			}
		} else {
			worstTail = max(worstTail, e)
		}
		// Brute force: no pair of weights keeping the zero rules is closer.
		if h%499 == 0 || h == 1 || h == 4995 {
			best := math.Inf(1)
			for c := 0; c <= MaxWeight; c++ {
				for s := 0; s <= MaxWeight; s++ {
					if c+s == 0 || (c == 0) != (p == 0) || (s == 0) != (p == 100) {
						continue
					}
					best = min(best, math.Abs(100*float64(c)/float64(c+s)-p))
				}
			}
			require.InDelta(t, best, e, 1e-9, "%v: %v is not the best weighting", p, w)
		}
	}
	t.Logf("worst error in [0.39, 99.61]: %.4f points at %.2f%%; outside: %.4f", worst, worstAt, worstTail)
	assert.LessOrEqual(t, worst, 0.048, "the bound documented on Weights")
	assert.LessOrEqual(t, worstTail, 0.38, "the tail bound documented on Weights")
}

func TestWeightsManyServers(t *testing.T) {
	w, err := Weights([]float64{50, 30, 20})
	require.NoError(t, err)
	assert.Equal(t, []int{255, 153, 102}, w) // exact, with the largest weights

	w, err = Weights([]float64{0, 100, 0})
	require.NoError(t, err)
	assert.Equal(t, []int{0, 256, 0}, w)

	w, err = Weights([]float64{33.34, 33.33, 33.33})
	require.NoError(t, err)
	assert.Equal(t, []int{256, 256, 256}, w)
	assert.Equal(t, []float64{33.34, 33.33, 33.33}, Percents(w))

	w, err = Weights([]float64{0.01, 0.01, 99.98})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 1, 256}, w)

	// Only proportions matter.
	w, err = Weights([]float64{1, 9})
	require.NoError(t, err)
	assert.Equal(t, []int{28, 252}, w)
	w, err = Weights([]float64{7})
	require.NoError(t, err)
	assert.Equal(t, []int{256}, w)
}

func TestWeightsRefusesBadShares(t *testing.T) {
	tests := []struct {
		in   []float64
		says []string
	}{
		{nil, []string{"add up to zero"}},
		{[]float64{0, 0}, []string{"add up to zero"}},
		{[]float64{-1, 101}, []string{"shares[0]: -1 is negative"}},
		{[]float64{math.NaN(), math.Inf(1)}, []string{"shares[0]: NaN is not a number", "shares[1]: +Inf is not a number"}},
	}
	for _, tt := range tests {
		_, err := Weights(tt.in)
		require.Error(t, err, "%v", tt.in)
		for _, s := range tt.says {
			assert.ErrorContains(t, err, s)
		}
	}
}

func TestPercents(t *testing.T) {
	tests := []struct {
		in   []int
		want []float64
	}{
		{[]int{28, 252}, []float64{10, 90}},
		{[]int{1, 2}, []float64{33.33, 66.67}},
		{[]int{1, 1, 1}, []float64{33.34, 33.33, 33.33}}, // ties go to the earlier server
		{[]int{1, 256}, []float64{0.39, 99.61}},
		{[]int{0, 0}, []float64{0, 0}},
		{[]int{0, 5}, []float64{0, 100}},
		{[]int{}, []float64{}},
		{[]int{-3, 1}, []float64{0, 100}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Percents(tt.in), "%v", tt.in)
	}
	// Every weighting of two servers gives shares that add up to 100 and
	// are within 0.01 of the exact ones.
	for c := 0; c <= MaxWeight; c += 3 {
		for s := 1; s <= MaxWeight; s += 5 {
			p := Percents([]int{c, s})
			assert.InDelta(t, 100, p[0]+p[1], 1e-9)
			assert.InDelta(t, share([]int{c, s}), p[0], 0.01)
		}
	}
}
