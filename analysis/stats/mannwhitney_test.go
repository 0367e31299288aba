package stats

import (
	"bufio"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMannWhitneyKayentaOracle(t *testing.T) {
	// Kayenta's published test vector (kayenta-mannwhitney,
	// MannWhitneySuite "returns expected values"): experiment [10,20,30,40]
	// against control [1,2,3,4] at confidence 0.95 gives the interval
	// [6, 39] and the estimate 22.5. W and the p-value are R 4.2.2's.
	r, err := MannWhitney([]float64{10, 20, 30, 40}, []float64{1, 2, 3, 4}, 0.95)
	require.NoError(t, err)
	assert.InDelta(t, 6, r.Lower, 1e-9)
	assert.InDelta(t, 39, r.Upper, 1e-9)
	assert.InDelta(t, 22.5, r.Estimate, 1e-9)
	assert.Equal(t, 16.0, r.U)
	assert.InDelta(t, 0.030382821976577493, r.PValue, 1e-12)
	assert.Equal(t, 4, r.N)
	assert.Equal(t, 4, r.M)
	assert.Equal(t, 0.95, r.Confidence)
}

// rCase is one case of testdata/wilcox_r.txt, produced by wilcox_r.R.
type rCase struct {
	name                    string
	conf                    float64
	x, y                    []float64
	w, p, est, lower, upper float64
}

func readRCases(t *testing.T) []rCase {
	t.Helper()
	f, err := os.Open("testdata/wilcox_r.txt")
	require.NoError(t, err)
	defer f.Close()
	var cases []rCase
	nums := func(fields []string) []float64 {
		out := make([]float64, len(fields))
		for i, s := range fields {
			v, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err)
			out[i] = v
		}
		return out
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "case":
			cases = append(cases, rCase{name: fields[1], conf: nums(fields[2:3])[0]})
		case "x":
			cases[len(cases)-1].x = nums(fields[1:])
		case "y":
			cases[len(cases)-1].y = nums(fields[1:])
		case "want":
			v := nums(fields[1:])
			c := &cases[len(cases)-1]
			c.w, c.p, c.est, c.lower, c.upper = v[0], v[1], v[2], v[3], v[4]
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, cases)
	return cases
}

func TestMannWhitneyMatchesR(t *testing.T) {
	// R locates the interval and estimate with uniroot(tol = 1e-4), so its
	// roots are within about 1e-4 of the exact ones computed here; W and
	// the p-value involve no root finding and agree to rounding.
	const rTol = 2e-4
	for _, c := range readRCases(t) {
		t.Run(c.name, func(t *testing.T) {
			r, err := MannWhitney(c.x, c.y, c.conf)
			require.NoError(t, err)
			assert.Equal(t, c.w, r.U, "W")
			assert.InDelta(t, c.p, r.PValue, 1e-12, "p-value")
			assert.InDelta(t, c.lower, r.Lower, rTol, "lower")
			assert.InDelta(t, c.upper, r.Upper, rTol, "upper")
			// R's estimate is some root of the uncorrected statistic, which
			// vanishes on the whole step between the two middle differences;
			// ours is that step's midpoint, the Hodges–Lehmann median.
			lo, hi := middleDiffs(c.x, c.y)
			assert.InDelta(t, (lo+hi)/2, r.Estimate, 1e-12, "estimate is the HL median")
			assert.GreaterOrEqual(t, c.est, lo-rTol, "R's estimate lies on the same step")
			assert.LessOrEqual(t, c.est, hi+rTol, "R's estimate lies on the same step")
			assert.LessOrEqual(t, r.Lower, r.Estimate)
			assert.LessOrEqual(t, r.Estimate, r.Upper)
		})
	}
}

// middleDiffs returns the two middle pairwise differences (equal when
// their number is odd), by brute force.
func middleDiffs(x, y []float64) (float64, float64) {
	d := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			d = append(d, a-b)
		}
	}
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2], d[n/2]
	}
	return d[n/2-1], d[n/2]
}

// wdiffBrute is R's wdiff written directly from wilcox.test.R: rank the
// shifted sample with the other, average ties, and standardize.
func wdiffBrute(x, y []float64, d, zq float64, correct bool) float64 {
	type obs struct {
		v   float64
		isX bool
	}
	all := make([]obs, 0, len(x)+len(y))
	for _, v := range x {
		all = append(all, obs{v - d, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(a, b obs) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	n, m := float64(len(x)), float64(len(y))
	var rankX, ties float64
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		avg := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			if all[k].isX {
				rankX += avg
			}
		}
		tt := float64(j - i)
		ties += tt*tt*tt - tt
		i = j
	}
	dz := rankX - n*(n+1)/2 - n*m/2
	corr := 0.0
	if correct {
		corr = 0.5 * sign(dz)
	}
	sigma := math.Sqrt(n * m / 12 * ((n + m + 1) - ties/((n+m)*(n+m-1))))
	return (dz-corr)/sigma - zq
}

// rootBrute is R's root() with the tolerance driven to zero by bisection.
func rootBrute(x, y []float64, zq float64) float64 {
	muMin := slices.Min(x) - slices.Max(y)
	muMax := slices.Max(x) - slices.Min(y)
	if wdiffBrute(x, y, muMin, zq, true) <= 0 {
		return muMin
	}
	if wdiffBrute(x, y, muMax, zq, true) >= 0 {
		return muMax
	}
	lo, hi := muMin, muMax
	for range 64 {
		mid := lo + (hi-lo)/2
		if mid == lo || mid == hi {
			break
		}
		f := wdiffBrute(x, y, mid, zq, true)
		switch {
		case f > 0:
			lo = mid
		case f < 0:
			hi = mid
		default:
			return mid
		}
	}
	return lo + (hi-lo)/2
}

func TestMannWhitneyMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	// Dyadic values (k/8) keep every subtraction exact, so ties at the end
	// points are seen by the brute force as well; ties are frequent.
	dyadic := func(n, lo, hi int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(lo+rng.IntN(hi-lo+1)) / 8
		}
		return v
	}
	continuous := func(n int, mu, s float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = mu + s*rng.NormFloat64()
		}
		return v
	}
	for trial := range 80 {
		var x, y []float64
		switch trial % 4 {
		case 0:
			x, y = dyadic(1+rng.IntN(6), 0, 12), dyadic(1+rng.IntN(6), 0, 12)
		case 1:
			x, y = dyadic(5+rng.IntN(40), 0, 30), dyadic(5+rng.IntN(40), 3, 33)
		case 2:
			x, y = continuous(20+rng.IntN(60), 1, 1), continuous(20+rng.IntN(60), 0.7, 1.5)
		default:
			x, y = dyadic(30+rng.IntN(30), 0, 4), dyadic(30+rng.IntN(30), 0, 5)
		}
		conf := []float64{0.8, 0.9, 0.95, 0.98, 0.99}[trial%5]
		r, err := MannWhitney(x, y, conf)
		if err != nil {
			require.ErrorIs(t, err, ErrAllTied, "trial %d", trial)
			continue
		}
		zq := NormalQuantile(1 - (1-conf)/2)
		scale := 1e-9 * (slices.Max(x) - slices.Min(y) + slices.Max(y) - slices.Min(x) + 1)
		assert.InDelta(t, rootBrute(x, y, zq), r.Lower, scale, "trial %d lower (x=%v y=%v)", trial, x, y)
		assert.InDelta(t, rootBrute(x, y, -zq), r.Upper, scale, "trial %d upper", trial)
		lo, hi := middleDiffs(x, y)
		assert.InDelta(t, (lo+hi)/2, r.Estimate, scale, "trial %d estimate", trial)
		assert.LessOrEqual(t, r.Lower, r.Upper, "trial %d ordered", trial)
		// The test statistic against the brute-force ranks, at no shift
		// and at shifts on and between pairwise differences.
		wantZ := wdiffBrute(x, y, 0, 0, true)
		assert.InDelta(t, wantZ, r.Z, 1e-9, "trial %d z", trial)
		for _, d := range []float64{r.Lower, r.Estimate, r.Upper, (r.Lower + r.Estimate) / 2} {
			_, z, err := RankSumZ(x, y, d)
			if errors.Is(err, ErrAllTied) { // one value each side, shifted onto each other
				assert.True(t, math.IsNaN(wdiffBrute(x, y, d, 0, true)))
				continue
			}
			require.NoError(t, err)
			assert.InDelta(t, wdiffBrute(x, y, d, 0, true), z, 1e-9, "trial %d z at shift %v", trial, d)
		}
	}
}

func TestMannWhitneyScaleInvariance(t *testing.T) {
	// Latencies in seconds are tiny numbers; the interval must scale with
	// the data and stay ordered (R's fixed 1e-4 tolerance breaks both).
	rng := rand.New(rand.NewPCG(3, 5))
	x := make([]float64, 300)
	y := make([]float64, 250)
	for i := range x {
		x[i] = math.Exp(math.Log(50) + 0.5*rng.NormFloat64())
	}
	for i := range y {
		y[i] = math.Exp(math.Log(45) + 0.5*rng.NormFloat64())
	}
	base, err := MannWhitney(x, y, 0.98)
	require.NoError(t, err)
	for _, c := range []float64{1e-6, 1e-3, 1e3, 1e9} {
		xs := make([]float64, len(x))
		ys := make([]float64, len(y))
		for i := range x {
			xs[i] = x[i] * c
		}
		for i := range y {
			ys[i] = y[i] * c
		}
		r, err := MannWhitney(xs, ys, 0.98)
		require.NoError(t, err)
		assert.InEpsilon(t, base.Lower*c, r.Lower, 1e-9, "×%g lower", c)
		assert.InEpsilon(t, base.Upper*c, r.Upper, 1e-9, "×%g upper", c)
		assert.InEpsilon(t, base.Estimate*c, r.Estimate, 1e-9, "×%g estimate", c)
		assert.Equal(t, base.U, r.U)
		assert.InDelta(t, base.PValue, r.PValue, 1e-12)
		assert.Less(t, r.Lower, r.Estimate, "×%g ordered", c)
		assert.Less(t, r.Estimate, r.Upper, "×%g ordered", c)
	}

	// The oracle itself, scaled by 1e-6.
	r, err := MannWhitney([]float64{10e-6, 20e-6, 30e-6, 40e-6}, []float64{1e-6, 2e-6, 3e-6, 4e-6}, 0.95)
	require.NoError(t, err)
	assert.InEpsilon(t, 6e-6, r.Lower, 1e-9)
	assert.InEpsilon(t, 39e-6, r.Upper, 1e-9)
	assert.InEpsilon(t, 22.5e-6, r.Estimate, 1e-9)
}

func TestMannWhitneyDegenerate(t *testing.T) {
	_, err := MannWhitney([]float64{3, 3, 3}, []float64{3, 3}, 0.95)
	require.ErrorIs(t, err, ErrAllTied)

	// Each sample constant, the two different: the shift is known exactly.
	r, err := MannWhitney([]float64{5, 5, 5, 5}, []float64{3, 3, 3}, 0.95)
	require.NoError(t, err)
	assert.Equal(t, 2.0, r.Estimate)
	assert.Equal(t, 2.0, r.Lower)
	assert.Equal(t, 2.0, r.Upper)
	assert.Equal(t, 12.0, r.U)
}

func TestMannWhitneyBadInput(t *testing.T) {
	tests := []struct {
		name    string
		x, y    []float64
		conf    float64
		wantErr []string
	}{
		{"empty x", nil, []float64{1}, 0.95, []string{"x is empty"}},
		{"empty both", nil, nil, 0.95, []string{"x is empty", "y is empty"}},
		{"nan", []float64{1, math.NaN()}, []float64{1}, 0.95, []string{"x[1] is NaN"}},
		{"inf", []float64{1}, []float64{math.Inf(-1)}, 0.95, []string{"y[0] is -Inf"}},
		{"confidence 1", []float64{1}, []float64{2}, 1, []string{"confidence 1 is not in (0, 1)"}},
		{"confidence 0 and empty", []float64{1}, nil, 0, []string{"y is empty", "confidence 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MannWhitney(tt.x, tt.y, tt.conf)
			require.Error(t, err)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, _, err := RankSumZ([]float64{1}, nil, math.Inf(1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "y is empty")
	assert.Contains(t, err.Error(), "shift +Inf is not finite")
	_, _, err = RankSumZ([]float64{2, 2}, []float64{1}, 1)
	require.ErrorIs(t, err, ErrAllTied)

	_, err = HodgesLehmann(nil, []float64{math.NaN()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x is empty")
	assert.Contains(t, err.Error(), "y[0] is NaN")
}

func TestHodgesLehmann(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 30 {
		n, m := 1+rng.IntN(150), 1+rng.IntN(150)
		x := make([]float64, n)
		y := make([]float64, m)
		for i := range x {
			x[i] = math.Round(rng.NormFloat64()*20) / 4
		}
		for i := range y {
			y[i] = rng.ExpFloat64()
		}
		got, err := HodgesLehmann(x, y)
		require.NoError(t, err)
		lo, hi := middleDiffs(x, y)
		assert.Equal(t, lo+(hi-lo)/2, got, "trial %d", trial)
	}
}

func TestSelectorOrderStatistics(t *testing.T) {
	// Order statistics of matrices large enough for the sampling rounds,
	// with heavy ties and with none, against sorting the materialized
	// differences.
	rng := rand.New(rand.NewPCG(9, 9))
	for _, ties := range []bool{true, false} {
		x := make([]float64, 200)
		y := make([]float64, 150)
		for i := range x {
			x[i] = rng.NormFloat64()
			if ties {
				x[i] = float64(rng.IntN(9))
			}
		}
		for i := range y {
			y[i] = rng.NormFloat64()
			if ties {
				y[i] = float64(rng.IntN(7))
			}
		}
		slices.Sort(x)
		slices.Sort(y)
		all := make([]float64, 0, len(x)*len(y))
		for _, a := range x {
			for _, b := range y {
				all = append(all, a-b)
			}
		}
		slices.Sort(all)
		d := diffs{x: x, y: y}
		s := newSelector(&d)
		ks := []int64{1, 2, int64(len(all)) - 1, int64(len(all))}
		for range 100 {
			ks = append(ks, 1+rng.Int64N(int64(len(all))))
		}
		for _, k := range ks {
			require.Equal(t, all[k-1], s.kth(k), "ties=%v k=%d", ties, k)
		}
	}
}

func BenchmarkMannWhitney10kVs10k(b *testing.B) {
	rng := rand.New(rand.NewPCG(42, 42))
	x := make([]float64, 10_000)
	y := make([]float64, 10_000)
	for i := range x {
		x[i] = math.Exp(-3 + 0.5*rng.NormFloat64())
		y[i] = math.Exp(-3.05 + 0.5*rng.NormFloat64())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r, err := MannWhitney(x, y, 0.98)
		if err != nil || !(r.Lower <= r.Upper) {
			b.Fatal(err, r)
		}
	}
}
