package analysis

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis/stats"
)

// The simulations below prove the sequential tests' guarantees with fixed
// seeds. They draw counts per batch of 100 requests (binomial draws, not
// one draw per request) so that thousands of runs take well under a second
// even under the race detector.

// binomial draws Binomial(n, p) by inversion: O(n·p) steps, exact.
func binomial(r *rand.Rand, n int64, p float64) int64 {
	if n <= 0 || p <= 0 {
		return 0
	}
	if p >= 1 {
		return n
	}
	if p == 0.5 { // a fair coin per request: count the set bits
		var k int64
		for ; n >= 64; n -= 64 {
			k += int64(bits.OnesCount64(r.Uint64()))
		}
		if n > 0 {
			k += int64(bits.OnesCount64(r.Uint64() & (1<<uint(n) - 1)))
		}
		return k
	}
	if p > 0.5 {
		return n - binomial(r, n, 1-p)
	}
	u := r.Float64()
	q := 1 - p
	pmf := math.Pow(q, float64(n))
	cdf := pmf
	var k int64
	for u > cdf && k < n {
		pmf *= float64(n-k) / float64(k+1) * p / q
		k++
		cdf += pmf
	}
	return k
}

const (
	simRuns    = 1000
	simBatch   = 100
	simHorizon = 20_000
	simAlpha   = 0.01
	// simSlack is the simulation slack on α: with 1,000 runs the standard
	// error of a rate of 1% is 0.3%.
	simSlack = 0.015
)

// twoPropZ is the pooled two-proportion z statistic of "canary worse",
// the fixed-sample test a naive guard would re-run at every look.
func twoPropZ(ce, cn, be, bn int64) float64 {
	if cn == 0 || bn == 0 || ce+be == 0 {
		return 0
	}
	p1, p2 := float64(ce)/float64(cn), float64(be)/float64(bn)
	p := float64(ce+be) / float64(cn+bn)
	se := math.Sqrt(p * (1 - p) * (1/float64(cn) + 1/float64(bn)))
	if se == 0 {
		return 0
	}
	return (p1 - p2) / se
}

// oneSampleZ is the z statistic of "rate > limit" for a fixed-sample test.
func oneSampleZ(e, n int64, limit float64) float64 {
	if n == 0 {
		return 0
	}
	return (float64(e)/float64(n) - limit) / math.Sqrt(limit*(1-limit)/float64(n))
}

func TestSimErrorRateLimitAA(t *testing.T) {
	// A canary exactly at the limit — the hardest healthy canary — checked
	// after every 100 requests up to 20,000, 1,000 times: the sequential
	// test fails at most α of them; the fixed-sample z-test re-run at the
	// same looks fails many more.
	const limit = 0.01
	test := SequentialErrorRate{Limit: limit, Alpha: simAlpha}
	zCrit := stats.NormalQuantile(1 - simAlpha)
	rng := rand.New(rand.NewPCG(2024, 1))
	var seqFails, naiveFails, naiveFinal int
	for range simRuns {
		m, err := test.NewMonitor()
		require.NoError(t, err)
		var n, e int64
		seqFailed, naiveFailed := false, false
		for n < simHorizon {
			n += simBatch
			e += binomial(rng, simBatch, limit)
			r, err := m.Update(n, e)
			require.NoError(t, err)
			seqFailed = seqFailed || r.Verdict == Fail
			naiveFailed = naiveFailed || oneSampleZ(e, n, limit) > zCrit
		}
		if seqFailed {
			seqFails++
		}
		if naiveFailed {
			naiveFails++
		}
		if oneSampleZ(e, n, limit) > zCrit {
			naiveFinal++
		}
	}
	seqRate := float64(seqFails) / simRuns
	naiveRate := float64(naiveFails) / simRuns
	t.Logf("error rate vs limit 1%%, A/A at the limit, %d runs, looks every %d up to %d: sequential false fails %d (%.1f%%); naive z-test re-run at every look %d (%.1f%%), same test once at the end %d (%.1f%%)",
		simRuns, simBatch, simHorizon, seqFails, 100*seqRate, naiveFails, 100*naiveRate, naiveFinal, 100*float64(naiveFinal)/simRuns)
	assert.LessOrEqual(t, seqRate, simSlack)
	assert.Greater(t, naiveRate, 3*simAlpha, "re-running a fixed-sample test inflates false fails")
}

func TestSimErrorRateLimitPower(t *testing.T) {
	// The same test on a canary at three times the limit (3%), and on a
	// healthy one at half of it (0.5%): requests until it fails, and until
	// it passes.
	const limit = 0.01
	test := SequentialErrorRate{Limit: limit, Alpha: simAlpha}
	for _, tc := range []struct {
		name string
		rate float64
		want Verdict
		seed uint64
	}{{"3x the limit", 3 * limit, Fail, 31}, {"half the limit", limit / 2, Pass, 32}} {
		rng := rand.New(rand.NewPCG(tc.seed, 5))
		var stops []float64
		wrong := 0
		for range simRuns {
			m, err := test.NewMonitor()
			require.NoError(t, err)
			var n, e int64
			for n < 200_000 {
				n += simBatch
				e += binomial(rng, simBatch, tc.rate)
				r, err := m.Update(n, e)
				require.NoError(t, err)
				if r.Verdict == tc.want {
					stops = append(stops, float64(n))
					break
				}
				if r.Verdict != NoData {
					wrong++
					break
				}
			}
		}
		slices.Sort(stops)
		require.NotEmpty(t, stops)
		t.Logf("error rate vs limit 1%%, canary at %s (%.1f%%), %d runs: %s %d; requests to %s: median %.0f, p90 %.0f; wrong verdicts %d",
			tc.name, 100*tc.rate, simRuns, tc.want, len(stops), tc.want, stops[len(stops)/2], stops[len(stops)*9/10], wrong)
		assert.Equal(t, simRuns, len(stops), tc.name)
		assert.Zero(t, wrong, tc.name)
	}
}

// ratioAA runs the canary-vs-baseline test on healthy canaries with the
// given canary share of traffic and error rate.
func ratioAA(t *testing.T, rng *rand.Rand, share, rate float64, test SequentialErrorRatio) (seqFails, naiveFails int) {
	t.Helper()
	zCrit := stats.NormalQuantile(1 - simAlpha)
	for range simRuns {
		m, err := test.NewMonitor()
		require.NoError(t, err)
		var cn, ce, bn, be int64
		seqFailed, naiveFailed := false, false
		for cn+bn < simHorizon {
			c := binomial(rng, simBatch, share)
			cn += c
			bn += simBatch - c
			ce += binomial(rng, c, rate)
			be += binomial(rng, simBatch-c, rate)
			r, err := m.Update(cn, ce, bn, be)
			require.NoError(t, err)
			seqFailed = seqFailed || r.Verdict == Fail
			naiveFailed = naiveFailed || twoPropZ(ce, cn, be, bn) > zCrit
		}
		if seqFailed {
			seqFails++
		}
		if naiveFailed {
			naiveFails++
		}
	}
	return seqFails, naiveFails
}

func TestSimErrorRatioAA(t *testing.T) {
	// Canary and baseline both at 0.5% errors. The canary's share of
	// traffic is estimated from the request counts, as the Analyzer does.
	for _, tc := range []struct {
		name  string
		share float64
		seed  uint64
	}{{"50/50", 0.5, 7}, {"10/90", 0.1, 8}} {
		rng := rand.New(rand.NewPCG(tc.seed, 2))
		seqFails, naiveFails := ratioAA(t, rng, tc.share, 0.005, SequentialErrorRatio{Alpha: simAlpha})
		seqRate := float64(seqFails) / simRuns
		naiveRate := float64(naiveFails) / simRuns
		t.Logf("error ratio, A/A at 0.5%% errors, split %s, %d runs, looks every %d requests up to %d: sequential false fails %d (%.1f%%); naive two-proportion z-test re-run at every look %d (%.1f%%)",
			tc.name, simRuns, simBatch, simHorizon, seqFails, 100*seqRate, naiveFails, 100*naiveRate)
		assert.LessOrEqual(t, seqRate, simSlack, tc.name)
		assert.Greater(t, naiveRate, 3*simAlpha, "%s: re-running a fixed-sample test inflates false fails", tc.name)
	}
}

// PowerFigures are the detection figures of the canary-vs-baseline test
// for a canary with three times the baseline's 0.5% error rate, 50/50
// traffic, one-sided α = 1%.
type PowerFigures struct {
	Runs                      int
	Detected                  int     // runs failed within the horizon
	Horizon                   int64   // total requests per run at most
	Median, P90, Mean         float64 // total requests (both arms) until the fail
	FixedMedianPower, Fixed90 float64 // fixed-sample total requests for power 0.5 and 0.9
	Fixed80                   float64 // … and for the conventional power 0.8
	PowerAtFixed80            float64 // the sequential test's power within Fixed80 requests
}

func errorRatioPower(t testing.TB, runs int, seed uint64) PowerFigures {
	const (
		base    = 0.005
		canary  = 0.015
		horizon = 200_000
	)
	test := SequentialErrorRatio{Alpha: simAlpha}
	rng := rand.New(rand.NewPCG(seed, 3))
	var stops []float64
	for range runs {
		m, err := test.NewMonitor()
		if err != nil {
			t.Fatal(err)
		}
		var cn, ce, bn, be int64
		for cn+bn < horizon {
			c := binomial(rng, simBatch, 0.5)
			cn += c
			bn += simBatch - c
			ce += binomial(rng, c, canary)
			be += binomial(rng, simBatch-c, base)
			r, err := m.Update(cn, ce, bn, be)
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict == Fail {
				stops = append(stops, float64(cn+bn))
				break
			}
		}
	}
	slices.Sort(stops)
	f := PowerFigures{Runs: runs, Detected: len(stops), Horizon: horizon}
	quant := func(q float64) float64 {
		// The q-quantile of the stopping time over all runs; runs that
		// never stopped count as +Inf.
		k := int(math.Ceil(q*float64(runs))) - 1
		if k >= len(stops) {
			return math.Inf(1)
		}
		return stops[k]
	}
	f.Median, f.P90 = quant(0.5), quant(0.9)
	var sum float64
	for _, s := range stops {
		sum += s
	}
	f.Mean = sum / float64(len(stops))
	// The fixed-sample one-sided two-proportion test, sized by the usual
	// formula (stats.TwoProportionSampleSize): n per arm, twice that in all.
	for _, p := range []struct {
		power float64
		dst   *float64
	}{{0.5, &f.FixedMedianPower}, {0.8, &f.Fixed80}, {0.9, &f.Fixed90}} {
		n, err := stats.TwoProportionSampleSize(canary, base, simAlpha, p.power, true)
		if err != nil {
			t.Fatal(err)
		}
		*p.dst = 2 * math.Ceil(n)
	}
	within := 0
	for _, s := range stops {
		if s <= f.Fixed80 {
			within++
		}
	}
	f.PowerAtFixed80 = float64(within) / float64(runs)
	return f
}

func TestSimErrorRatioPower(t *testing.T) {
	f := errorRatioPower(t, simRuns, 11)
	t.Logf("error ratio, canary 1.5%% vs baseline 0.5%% errors, 50/50 traffic, α=1%%, %d runs: detected %d within %d requests; requests to fail: median %.0f, p90 %.0f, mean %.0f. Fixed-sample one-sided two-proportion test at the same α needs %.0f requests for power 0.5 (the median's), %.0f for power 0.8, %.0f for power 0.9 (the p90's); the sequential test fails %.1f%% of bad canaries within the power-0.8 fixed sample",
		f.Runs, f.Detected, f.Horizon, f.Median, f.P90, f.Mean, f.FixedMedianPower, f.Fixed80, f.Fixed90, 100*f.PowerAtFixed80)
	assert.Equal(t, f.Runs, f.Detected, "every bad canary is caught within the horizon")
	assert.Less(t, f.Median, 3*f.FixedMedianPower, "the price of anytime validity stays moderate")
}

func BenchmarkSimErrorRatioPower(b *testing.B) {
	// Reports the figures of TestSimErrorRatioPower as benchmark metrics so
	// they can be quoted from `go test -bench SimErrorRatioPower`.
	var f PowerFigures
	for range b.N {
		f = errorRatioPower(b, simRuns, 11)
	}
	b.ReportMetric(f.Median, "median-requests-to-fail")
	b.ReportMetric(f.P90, "p90-requests-to-fail")
	b.ReportMetric(f.FixedMedianPower, "fixed-n-power50")
	b.ReportMetric(f.Fixed80, "fixed-n-power80")
	b.ReportMetric(f.Fixed90, "fixed-n-power90")
}

// ---------------------------------------------------------------------------
// Latency.

// simHist is a latency histogram for simulations: 1% log-spaced buckets
// from 10 µs to 100 s, with exact prefix counts refreshed on demand.
type simHist struct {
	counts []int64
	prefix []int64 // prefix[i] = samples in buckets < i; valid when !dirty
	n      int64
	dirty  bool
}

const (
	simHistMin   = 10 * time.Microsecond
	simHistRatio = 1.01
)

var simHistBuckets = int(math.Ceil(math.Log(float64(100*time.Second)/float64(simHistMin))/math.Log(simHistRatio))) + 1

func newSimHist() *simHist {
	return &simHist{counts: make([]int64, simHistBuckets), prefix: make([]int64, simHistBuckets+1)}
}

// simEdges[i] is bucket i's upper edge; bucket i holds (edge i-1, edge i].
var simEdges = func() []time.Duration {
	e := make([]time.Duration, simHistBuckets)
	for i := range e {
		e[i] = time.Duration(float64(simHistMin) * math.Pow(simHistRatio, float64(i)))
	}
	return e
}()

func simBucket(d time.Duration) int {
	i, _ := slices.BinarySearch(simEdges, d)
	return min(i, simHistBuckets-1)
}

func simUpper(i int) time.Duration { return simEdges[i] }

func (h *simHist) add(d time.Duration) {
	h.counts[simBucket(d)]++
	h.n++
	h.dirty = true
}

func (h *simHist) refresh() {
	if !h.dirty {
		return
	}
	for i, c := range h.counts {
		h.prefix[i+1] = h.prefix[i] + c
	}
	h.dirty = false
}

func (h *simHist) Count() int64 { return h.n }

func (h *simHist) CountAtMost(d time.Duration) int64 {
	h.refresh()
	i := simBucket(d)
	if d >= simUpper(i) {
		return h.prefix[i+1]
	}
	return h.prefix[i]
}

func (h *simHist) Quantile(q float64) time.Duration {
	h.refresh()
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	i, _ := slices.BinarySearch(h.prefix[1:], rank)
	return simUpper(i)
}

// simDist draws latencies straight into simHist buckets with Vose's alias
// method (M. D. Vose, "A linear algorithm for generating random numbers
// with a given distribution", IEEE TSE 17(9), 1991): one uniform bucket and
// one coin per draw.
type simDist struct {
	prob  []float64
	alias []int
}

// newSimDist tabulates the distribution function cdf over the buckets.
func newSimDist(cdf func(time.Duration) float64) simDist {
	n := simHistBuckets
	w := make([]float64, n)
	prev := 0.0
	for i := range w {
		c := cdf(simUpper(i))
		if i == n-1 {
			c = 1
		}
		w[i] = (c - prev) * float64(n)
		prev = c
	}
	d := simDist{prob: make([]float64, n), alias: make([]int, n)}
	var small, large []int
	for i, v := range w {
		if v < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		d.prob[s], d.alias[s] = w[s], l
		w[l] -= 1 - w[s]
		if w[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range append(small, large...) {
		d.prob[i], d.alias[i] = 1, i
	}
	return d
}

func (d simDist) draw(r *rand.Rand) int {
	// One 64-bit draw: the high half picks the bucket (Lemire's
	// multiply-shift, bias < 2⁻²⁰ here), the low half tosses the coin.
	u := r.Uint64()
	i := int((u >> 32) * uint64(len(d.prob)) >> 32)
	if float64(u&(1<<32-1))*(1.0/(1<<32)) < d.prob[i] {
		return i
	}
	return d.alias[i]
}

// lognormalCDF is the distribution function of a log-normal latency with
// median med and log-sd sigma, slowed by the factor k.
func lognormalCDF(med time.Duration, sigma, k float64) func(time.Duration) float64 {
	return func(x time.Duration) float64 {
		return stats.NormalCDF(math.Log(float64(x)/(k*float64(med))) / sigma)
	}
}

// latencyRun feeds one run: per look, batch samples to each side, and
// returns the number of samples per side at the first fail (0 if none) and
// at the first pass.
func latencyRun(t testing.TB, rng *rand.Rand, test SequentialLatency, batch, horizon int,
	canary, baseline simDist) (failAt, passAt int) {
	m, err := test.NewMonitor()
	if err != nil {
		t.Fatal(err)
	}
	c, b := newSimHist(), newSimHist()
	for n := batch; n <= horizon; n += batch {
		for range batch {
			c.counts[canary.draw(rng)]++
			b.counts[baseline.draw(rng)]++
		}
		c.n += int64(batch)
		b.n += int64(batch)
		c.dirty, b.dirty = true, true
		r, err := m.Update(c, b)
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict == Pass && passAt == 0 {
			passAt = n
		}
		if r.Verdict == Fail {
			return n, passAt
		}
	}
	return 0, passAt
}

func TestSimLatency(t *testing.T) {
	const (
		runs    = 100
		batch   = 500
		horizon = 20_000
	)
	// Log-normal latencies, median 50 ms, log-sd 0.5.
	healthyCDF := lognormalCDF(50*time.Millisecond, 0.5, 1)
	healthy := newSimDist(healthyCDF)
	shifted := newSimDist(lognormalCDF(50*time.Millisecond, 0.5, 1.3))
	// One request in ten is five times slower.
	heavyTail := newSimDist(func(x time.Duration) float64 {
		return 0.9*healthyCDF(x) + 0.1*lognormalCDF(50*time.Millisecond, 0.5, 5)(x)
	})
	test := SequentialLatency{Alpha: simAlpha}
	cases := []struct {
		name   string
		canary simDist
		seed   uint64
	}{
		{"A/A", healthy, 21},
		{"+30% shift", shifted, 22},
		{"10% of requests 5x slower", heavyTail, 23},
	}
	for _, tc := range cases {
		rng := rand.New(rand.NewPCG(tc.seed, 4))
		var fails, passes int
		var failN []float64
		for range runs {
			failAt, passAt := latencyRun(t, rng, test, batch, horizon, tc.canary, healthy)
			if failAt > 0 {
				fails++
				failN = append(failN, float64(failAt))
			}
			if passAt > 0 {
				passes++
			}
		}
		slices.Sort(failN)
		median := math.NaN()
		if len(failN) > 0 {
			median = failN[len(failN)/2]
		}
		t.Logf("latency %s, %d runs, looks every %d samples per side up to %d: failed %d (%.1f%%), median samples per side to fail %.0f; passed %d",
			tc.name, runs, batch, horizon, fails, 100*float64(fails)/runs, median, passes)
		if tc.name == "A/A" {
			assert.LessOrEqual(t, float64(fails)/runs, simAlpha, "A/A false fails")
			assert.Greater(t, passes, runs/2, "healthy canaries mostly pass within the horizon")
		} else {
			assert.Equal(t, runs, fails, "%s is detected in every run", tc.name)
			assert.Zero(t, passes, "%s never passes", tc.name)
		}
	}
}
