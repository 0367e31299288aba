package analysis

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hgRelErr is the largest relative error of bucket i's value against the
// durations it holds.
func hgRelErr(i int) float64 {
	lo, hi, v := float64(hgLower(i)+1), float64(hgUpper[i]), float64(hgValue[i])
	return max((v-lo)/lo, (hi-v)/hi)
}

func TestHistogramBuckets(t *testing.T) {
	require.Equal(t, 27*36+2, hgBuckets)
	assert.Equal(t, int64(1024), hgUpper[0], "underflow holds <= 2^10 ns")
	assert.Equal(t, int64(1)<<37, hgUpper[hgBuckets-2], "last bucket ends at 2^37 ns")
	worst := 0.0
	for i := 1; i < hgBuckets-1; i++ {
		lo, hi := hgLower(i)+1, hgUpper[i]
		require.Less(t, hgLower(i), hi, "bucket %d is empty", i)
		require.GreaterOrEqual(t, hgValue[i], lo, "bucket %d value below its range", i)
		require.LessOrEqual(t, hgValue[i], hi, "bucket %d value above its range", i)
		// Every duration at the edges lands in the bucket the tables say.
		require.Equal(t, i, hgIndex(time.Duration(lo)), "smallest of bucket %d", i)
		require.Equal(t, i, hgIndex(time.Duration(hi)), "largest of bucket %d", i)
		require.Equal(t, i+1, hgIndex(time.Duration(hi+1)), "past bucket %d", i)
		worst = max(worst, hgRelErr(i))
	}
	assert.Less(t, worst, 0.01, "worst relative error of a bucket's value")
	t.Logf("worst relative error %.4f%%", worst*100)
	// The octave edges are exact powers of two: the Collector relies on it.
	for k := 0; k <= hgOctaves; k++ {
		assert.Equal(t, int64(1)<<(hgMinExp+k), hgUpper[k*hgPerOctave], "octave edge %d", k)
	}
}

func TestHistogramIndexOutsideRange(t *testing.T) {
	for _, d := range []time.Duration{math.MinInt64, -1, 0, 1, MinLatency} {
		assert.Equal(t, 0, hgIndex(d), "%v", d)
	}
	assert.Equal(t, 1, hgIndex(MinLatency+1))
	assert.Equal(t, hgBuckets-2, hgIndex(MaxLatency))
	for _, d := range []time.Duration{MaxLatency + 1, time.Hour, math.MaxInt64} {
		assert.Equal(t, hgBuckets-1, hgIndex(d), "%v", d)
	}
}

// FuzzHistogramIndex checks, for any duration, that the bucket it lands in
// holds it and stands for a value within 1 % of it.
func FuzzHistogramIndex(f *testing.F) {
	for _, d := range []int64{0, 1, 1023, 1024, 1025, 1500, 2047, 2048, 1e6, 1<<37 - 1, 1 << 37, 1<<37 + 1, math.MaxInt64, math.MinInt64} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d int64) {
		i := hgIndex(time.Duration(d))
		if i < 0 || i >= hgBuckets {
			t.Fatalf("hgIndex(%d) = %d out of range", d, i)
		}
		if !((i == 0 || hgLower(i) < d) && d <= hgUpper[i]) {
			t.Fatalf("hgIndex(%d) = %d holding (%d, %d]", d, i, hgLower(i), hgUpper[i])
		}
		if i > 0 && i < hgBuckets-1 {
			if e := math.Abs(float64(hgValue[i])-float64(d)) / float64(d); e >= 0.01 {
				t.Fatalf("value %d of bucket %d is %.4f%% from %d", hgValue[i], i, e*100, d)
			}
		}
	})
}

func TestHgRank(t *testing.T) {
	for _, c := range []struct {
		q    float64
		n    int64
		want int64
	}{
		{0, 10, 1},
		{-1, 10, 1},
		{1e-9, 10, 1},
		{0.5, 1, 1},
		{0.5, 3, 2},
		{0.5, 4, 2},
		{0.99, 100, 99}, // 0.99*100 is 99.00000000000001 in floating point
		{0.999, 1000, 999},
		{0.9, 10, 9},
		{0.91, 10, 10},
		{1, 10, 10},
		{2, 10, 10},
	} {
		assert.Equal(t, c.want, hgRank(c.q, c.n), "rank of q=%v among %d", c.q, c.n)
	}
}

// hgOf builds a histogram from durations.
func hgOf(ds ...time.Duration) *Histogram {
	h := new(Histogram)
	for _, d := range ds {
		h.counts[hgIndex(d)]++
		h.n++
	}
	return h
}

// hgExactQuantile is the nearest-rank quantile of sorted: the k-th smallest
// with k = ceil(q·n), computed in integers for q = num/den.
func hgExactQuantile(sorted []time.Duration, num, den int64) time.Duration {
	n := int64(len(sorted))
	k := max((num*n+den-1)/den, 1)
	return sorted[k-1]
}

func TestHistogramQuantileAccuracy(t *testing.T) {
	// Log-normal latencies: exp(N(mu, sigma)) nanoseconds, seeded.
	cases := []struct {
		name      string
		median    time.Duration
		sigma     float64
		n         int
		seed      uint64
		wantClamp bool // some samples fall outside the histogram's range
	}{
		{"fast service", 300 * time.Microsecond, 0.6, 100_000, 1, false},
		{"typical API", 40 * time.Millisecond, 1.0, 100_000, 2, false},
		{"slow tail", 900 * time.Millisecond, 1.1, 50_000, 3, false},
		{"wide", 2 * time.Millisecond, 2.5, 200_000, 4, true},
		{"tiny sample", 10 * time.Millisecond, 0.8, 7, 5, false},
	}
	qs := [][2]int64{{0, 1}, {1, 1000}, {1, 100}, {1, 10}, {1, 4}, {1, 2}, {3, 4}, {9, 10}, {95, 100}, {99, 100}, {999, 1000}, {9999, 10000}, {1, 1}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(c.seed, 42))
			mu := math.Log(float64(c.median))
			samples := make([]time.Duration, c.n)
			for i := range samples {
				samples[i] = time.Duration(math.Exp(mu + c.sigma*rng.NormFloat64()))
			}
			h := hgOf(samples...)
			slices.Sort(samples)
			require.Equal(t, int64(c.n), h.Count())
			clamped := 0
			for _, q := range qs {
				qf := float64(q[0]) / float64(q[1])
				exact := hgExactQuantile(samples, q[0], q[1])
				got := h.Quantile(qf)
				switch {
				case exact <= MinLatency:
					assert.Equal(t, MinLatency, got, "q=%v below range", qf)
					clamped++
				case exact > MaxLatency:
					assert.Equal(t, MaxLatency+1, got, "q=%v above range", qf)
					clamped++
				default:
					rel := math.Abs(float64(got-exact)) / float64(exact)
					assert.Less(t, rel, 0.01, "q=%v: got %v, exact %v (%.3f%%)", qf, got, exact, rel*100)
				}
				// Quantile and CountAtMost agree.
				assert.GreaterOrEqual(t, h.CountAtMost(got), hgRank(qf, h.Count()), "CountAtMost(Quantile(%v))", qf)
			}
			assert.Equal(t, c.wantClamp, clamped > 0, "clamped quantiles")
		})
	}
}

func TestHistogramCountAtMost(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	samples := make([]time.Duration, 20_000)
	for i := range samples {
		samples[i] = time.Duration(math.Exp(math.Log(5e6) + rng.NormFloat64()))
	}
	h := hgOf(samples...)
	slices.Sort(samples)
	countLE := func(d time.Duration) int64 {
		i, found := slices.BinarySearch(samples, d+1)
		_ = found
		return int64(i)
	}
	// Exact at every bucket edge.
	for i := 0; i < hgBuckets-1; i++ {
		d := time.Duration(hgUpper[i])
		require.Equal(t, countLE(d), h.CountAtMost(d), "edge %v", d)
	}
	// Elsewhere, exact for some duration within 1 % of d.
	for range 2000 {
		d := time.Duration(math.Exp(math.Log(5e6) + 2*rng.NormFloat64()))
		got := h.CountAtMost(d)
		assert.GreaterOrEqual(t, got, countLE(time.Duration(float64(d)*0.99)), "%v", d)
		assert.LessOrEqual(t, got, countLE(time.Duration(float64(d)*1.01)), "%v", d)
	}
	assert.Equal(t, int64(len(samples)), h.CountAtMost(math.MaxInt64))
	assert.Zero(t, h.CountAtMost(-time.Second))
}

func TestHistogramEdgeCases(t *testing.T) {
	var nilH *Histogram
	empty := new(Histogram)
	for _, h := range []*Histogram{nilH, empty} {
		assert.Zero(t, h.Count())
		assert.Zero(t, h.Quantile(0.5))
		assert.Zero(t, h.CountAtMost(time.Hour))
		for range h.Buckets() {
			t.Fatal("an empty histogram has no buckets")
		}
	}
	h := hgOf(time.Millisecond, 2*time.Millisecond, 3*time.Millisecond)
	assert.Zero(t, h.Quantile(math.NaN()), "NaN quantile")
	assert.InEpsilon(t, float64(time.Millisecond), float64(h.Quantile(-1)), 0.01, "q < 0 is the minimum")
	assert.InEpsilon(t, float64(3*time.Millisecond), float64(h.Quantile(7)), 0.01, "q > 1 is the maximum")

	// Outside the range: counted, standing for the range's ends.
	out := hgOf(0, -time.Second, 10, 200*time.Second, time.Hour)
	assert.Equal(t, int64(5), out.Count())
	assert.Equal(t, MinLatency, out.Quantile(0))
	assert.Equal(t, MaxLatency+1, out.Quantile(1), "more than MaxLatency")
	assert.Equal(t, int64(3), out.CountAtMost(MinLatency))
	assert.Equal(t, int64(3), out.CountAtMost(time.Minute))
	assert.Equal(t, int64(5), out.CountAtMost(math.MaxInt64))
}

func TestHistogramBucketsIter(t *testing.T) {
	ds := []time.Duration{5 * time.Millisecond, 5 * time.Millisecond, time.Microsecond / 2, 3 * time.Second, time.Hour, 40 * time.Millisecond}
	h := hgOf(ds...)
	var got []Bucket
	var total int64
	for b := range h.Buckets() {
		got = append(got, b)
		total += b.Count
		assert.Less(t, b.Lower, b.Upper)
		assert.True(t, b.Lower < b.Value && b.Value <= b.Upper, "value %v in (%v, %v]", b.Value, b.Lower, b.Upper)
	}
	assert.Equal(t, h.Count(), total)
	require.Len(t, got, 5)
	assert.True(t, slices.IsSortedFunc(got, func(a, b Bucket) int { return int(a.Upper/time.Nanosecond) - int(b.Upper/time.Nanosecond) }))
	assert.Equal(t, time.Duration(math.MinInt64), got[0].Lower, "underflow bucket")
	assert.Equal(t, int64(2), got[1].Count, "the two 5ms durations share a bucket")
	assert.Equal(t, time.Duration(math.MaxInt64), got[4].Upper, "overflow bucket")
	n := 0
	for range h.Buckets() {
		n++
		break
	}
	assert.Equal(t, 1, n, "stops when the loop breaks")
}

func TestHistogramSumEstimate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	var exact float64
	ds := make([]time.Duration, 10_000)
	for i := range ds {
		ds[i] = time.Duration(math.Exp(math.Log(2e7) + rng.NormFloat64()))
		exact += float64(ds[i])
	}
	h := hgOf(ds...)
	assert.InEpsilon(t, exact, float64(h.sum()), 0.01)
}
