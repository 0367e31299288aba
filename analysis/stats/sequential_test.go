package stats

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMultinomialLogBFLindonMalek(t *testing.T) {
	// Lindon & Malek (NeurIPS 2022): counts (10, 30), null shares (½, ½),
	// Dirichlet prior 100 × shares → log BF = 1.274879, p = 0.279465.
	lbf, err := MultinomialLogBF([]float64{10, 30}, []float64{0.5, 0.5}, []float64{50, 50})
	require.NoError(t, err)
	assert.InDelta(t, 1.274879, lbf, 5e-7)
	assert.InDelta(t, 0.279465, math.Min(1, math.Exp(-lbf)), 5e-7)

	assert.InDelta(t, lbf, TwoArmLogBF(10, 30, 0.5, 100), 1e-12)
	// The two arms are symmetric.
	assert.InDelta(t, lbf, TwoArmLogBF(30, 10, 0.5, 100), 1e-12)
	// No observations: BF = 1.
	assert.Equal(t, 0.0, TwoArmLogBF(0, 0, 0.1, 2))

	// Three categories, against the formula evaluated term by term:
	// Γ(2)Γ(3)Γ(4)/Γ(9) over Γ(1)³/Γ(3), divided by 0.2·0.3²·0.5³.
	lbf, err = MultinomialLogBF([]float64{1, 2, 3}, []float64{0.2, 0.3, 0.5}, []float64{1, 1, 1})
	want := math.Log(1.0*2*6/40320) - math.Log(1.0/2) - math.Log(0.2*0.09*0.125)
	assert.InDelta(t, want, lbf, 1e-12)
	require.NoError(t, err)
}

func TestTwoArmLogBFIsMartingale(t *testing.T) {
	// Under the null, E[BF_{t+1} | BF_t] = BF_t: one more observation lands
	// in arm a with probability share.
	for _, tc := range []struct {
		a, b        int64
		share, conc float64
	}{{0, 0, 0.5, 2}, {3, 7, 0.1, 1}, {40, 2, 0.3, 100}, {0, 500, 0.05, 10}} {
		now := math.Exp(TwoArmLogBF(tc.a, tc.b, tc.share, tc.conc))
		next := tc.share*math.Exp(TwoArmLogBF(tc.a+1, tc.b, tc.share, tc.conc)) +
			(1-tc.share)*math.Exp(TwoArmLogBF(tc.a, tc.b+1, tc.share, tc.conc))
		assert.InEpsilon(t, now, next, 1e-9, "%+v", tc)
	}
}

func TestMultinomialLogBFBadInput(t *testing.T) {
	tests := []struct {
		name                string
		counts, null, prior []float64
		want                []string
	}{
		{"one category", []float64{1}, []float64{1}, []float64{1}, []string{"1 categories"}},
		{"lengths", []float64{1, 2}, []float64{0.5, 0.5}, []float64{1}, []string{"differ in length"}},
		{"negative count", []float64{-1, 2}, []float64{0.5, 0.5}, []float64{1, 1}, []string{"counts[0] = -1"}},
		{"null sum", []float64{1, 2}, []float64{0.5, 0.6}, []float64{1, 1}, []string{"sum to 1.1"}},
		{"bad prior and null", []float64{1, 2}, []float64{0, 1}, []float64{0, 1}, []string{"null[0] = 0", "null[1] = 1", "alpha[0] = 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := MultinomialLogBF(tt.counts, tt.null, tt.prior)
			require.Error(t, err)
			assert.True(t, math.IsNaN(v))
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestBernoulliMixtureSupermartingale(t *testing.T) {
	// One trial multiplies the e-value by at most 1 in expectation for any
	// p in the null, and by exactly 1 at the boundary. Checked exactly, over
	// the whole distribution of ten trials.
	for _, p0 := range []float64{0.001, 0.01, 0.2, 0.6} {
		for _, side := range []Side{Greater, Less} {
			m, err := NewBernoulliMixture(p0, side)
			require.NoError(t, err)
			assert.LessOrEqual(t, m.Components(), maxMixture)
			assert.Greater(t, m.Components(), 4)
			assert.Equal(t, 0.0, m.LogE(0, 0), "E_0 = 1")
			nulls := []float64{p0, p0 / 2}
			if side == Less {
				nulls = []float64{p0, (1 + p0) / 2}
			}
			for _, p := range nulls {
				const n = 10
				var mean float64
				for s := int64(0); s <= n; s++ {
					mean += binomPMF(n, s, p) * math.Exp(m.LogE(s, n))
				}
				if p == p0 {
					assert.InDelta(t, 1, mean, 1e-9, "p0=%v side=%v: martingale at the boundary", p0, side)
				} else {
					assert.Less(t, mean, 1.0, "p0=%v side=%v p=%v: supermartingale inside the null", p0, side, p)
				}
			}
		}
	}
}

func binomPMF(n, k int64, p float64) float64 {
	lc := lgamma(float64(n+1)) - lgamma(float64(k+1)) - lgamma(float64(n-k+1))
	return math.Exp(lc + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}

func TestBernoulliMixtureEvidence(t *testing.T) {
	g, err := NewBernoulliMixture(0.01, Greater)
	require.NoError(t, err)
	l, err := NewBernoulliMixture(0.01, Less)
	require.NoError(t, err)
	// 5% errors in 2,000 trials is overwhelming evidence against p ≤ 1%.
	assert.Greater(t, g.LogE(100, 2000), math.Log(1e6))
	// …and none at all against p ≥ 1%.
	assert.Less(t, l.LogE(100, 2000), 0.0)
	// No failures in 2,000 trials: strong evidence that p < 1%.
	assert.Greater(t, l.LogE(0, 2000), math.Log(100))
	// More hits never lower the Greater evidence, nor raise the Less one.
	for s := int64(0); s < 60; s++ {
		assert.GreaterOrEqual(t, g.LogE(s+1, 2000), g.LogE(s, 2000))
		assert.LessOrEqual(t, l.LogE(s+1, 2000), l.LogE(s, 2000))
	}
	assert.True(t, math.IsNaN(g.LogE(3, 2)))
	assert.True(t, math.IsNaN(g.LogE(-1, 2)))
	var zero BernoulliMixture
	assert.Equal(t, 0.0, zero.LogE(1, 2))
	assert.Equal(t, 0.01, g.Boundary())
	assert.Equal(t, Less, l.Side())
}

func TestBernoulliMixtureBadInput(t *testing.T) {
	for _, p := range []float64{0, 1, -0.5, math.NaN()} {
		_, err := NewBernoulliMixture(p, Greater)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "boundary")
	}
	_, err := NewBernoulliMixture(0.5, Side(7))
	require.ErrorContains(t, err, "side Side(7)")
}

func TestBernoulliBounds(t *testing.T) {
	lo, hi, err := BernoulliBounds(30, 1000, 0.01)
	require.NoError(t, err)
	assert.Less(t, lo, 0.03)
	assert.Greater(t, hi, 0.03)
	assert.Greater(t, lo, 0.01)
	assert.Less(t, hi, 0.06)
	// The bounds agree with the tests that define them.
	g, _ := NewBernoulliMixture(lo*0.99, Greater)
	assert.GreaterOrEqual(t, g.LogE(30, 1000), math.Log(100))
	l, _ := NewBernoulliMixture(hi*1.01, Less)
	assert.GreaterOrEqual(t, l.LogE(30, 1000), math.Log(100))

	// More data, narrower interval.
	lo2, hi2, err := BernoulliBounds(300, 10000, 0.01)
	require.NoError(t, err)
	assert.Less(t, hi2-lo2, hi-lo)

	lo, hi, err = BernoulliBounds(0, 0, 0.01)
	require.NoError(t, err)
	assert.Equal(t, [2]float64{0, 1}, [2]float64{lo, hi})
	lo, hi, err = BernoulliBounds(50, 50, 0.01)
	require.NoError(t, err)
	assert.Greater(t, lo, 0.8)
	assert.InDelta(t, 1, hi, 1e-9)

	_, _, err = BernoulliBounds(5, 4, 0.01)
	require.ErrorContains(t, err, "5 successes in 4 trials")
	_, _, err = BernoulliBounds(1, 4, 1.5)
	require.ErrorContains(t, err, "alpha 1.5")
}

func TestDKWRadius(t *testing.T) {
	// 0.85·√((log log(e·n) + 0.8·log(1612/α))/n), evaluated independently.
	assert.InDelta(t, 0.029341283272801062, DKWRadius(10000, 0.01), 1e-15)
	assert.InDelta(t, 0.29285587781103833, DKWRadius(100, 0.005), 1e-15)
	assert.True(t, math.IsInf(DKWRadius(0, 0.01), 1))
	assert.True(t, math.IsNaN(DKWRadius(10, 0)))
	// Shrinks with n, grows as alpha shrinks.
	assert.Less(t, DKWRadius(20000, 0.01), DKWRadius(10000, 0.01))
	assert.Greater(t, DKWRadius(10000, 0.001), DKWRadius(10000, 0.01))
	// DKWAlpha inverts it.
	for _, n := range []int64{10, 1000, 1e6} {
		for _, a := range []float64{0.5, 0.01, 1e-6} {
			assert.InEpsilon(t, a, DKWAlpha(n, DKWRadius(n, a)), 1e-9, "n=%d a=%v", n, a)
		}
	}
	assert.Equal(t, 1.0, DKWAlpha(0, 0.1))
	assert.Equal(t, 1.0, DKWAlpha(100, 0.0001))
}

func TestTwoProportionSampleSize(t *testing.T) {
	// R 4.2.2: power.prop.test(p1=.015, p2=.005, sig.level=.01, power=.8,
	// alternative="one.sided")$n and the two-sided default at .05/.9.
	n, err := TwoProportionSampleSize(0.015, 0.005, 0.01, 0.8, true)
	require.NoError(t, err)
	assert.InDelta(t, 1985.79986282299, n, 1e-6)
	n, err = TwoProportionSampleSize(0.015, 0.005, 0.05, 0.9, false)
	require.NoError(t, err)
	assert.InDelta(t, 2078.39188792689, n, 1e-6)

	_, err = TwoProportionSampleSize(0.1, 0.1, 0, 1, true)
	require.Error(t, err)
	for _, w := range []string{"alpha 0", "power 1", "both 0.1"} {
		assert.Contains(t, err.Error(), w)
	}
}

func BenchmarkBernoulliMixtureLogE(b *testing.B) {
	m, err := NewBernoulliMixture(0.01, Greater)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sink float64
	for i := range b.N {
		sink += m.LogE(int64(i%200), 20000)
	}
	_ = sink
}

func BenchmarkTwoArmLogBF(b *testing.B) {
	b.ReportAllocs()
	b.ResetTimer()
	var sink float64
	for i := range b.N {
		sink += TwoArmLogBF(int64(i%100), 50, 0.1, 2)
	}
	_ = sink
}

func TestTwoArmLogBFBadInput(t *testing.T) {
	for _, c := range []struct {
		a, b        int64
		share, conc float64
	}{{-1, 0, 0.5, 2}, {0, -1, 0.5, 2}, {1, 1, 0, 2}, {1, 1, 1, 2}, {1, 1, 0.5, 0}, {1, 1, 0.5, math.Inf(1)}, {1, 1, math.NaN(), 2}} {
		assert.True(t, math.IsNaN(TwoArmLogBF(c.a, c.b, c.share, c.conc)), "%+v", c)
	}
}
