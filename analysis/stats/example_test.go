package stats_test

import (
	"fmt"

	"github.com/ramp-go/ramp/analysis/stats"
)

// Kayenta's published Mann-Whitney vector (kayenta-mannwhitney,
// MannWhitneySuite "returns expected values"): experiment [10 20 30 40]
// against control [1 2 3 4] at confidence 0.95 gives the interval [6, 39]
// and the estimate 22.5. U (R's W = 16) and the p-value are R 4.2.2's
// wilcox.test(x, y, conf.int = TRUE, exact = FALSE).
func ExampleMannWhitney() {
	r, err := stats.MannWhitney([]float64{10, 20, 30, 40}, []float64{1, 2, 3, 4}, 0.95)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("U=%g p=%.6f estimate=%g CI=[%g, %g]\n", r.U, r.PValue, r.Estimate, r.Lower, r.Upper)
	// Output:
	// U=16 p=0.030383 estimate=22.5 CI=[6, 39]
}

// The same vector: the Hodges–Lehmann estimate, 22.5.
func ExampleHodgesLehmann() {
	est, err := stats.HodgesLehmann([]float64{10, 20, 30, 40}, []float64{1, 2, 3, 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(est)
	// Output:
	// 22.5
}

// The rank-sum test of no shift on Kayenta's vector: R's W = 16 and the
// two-sided p-value 0.030383 that R 4.2.2 prints for wilcox.test(x, y,
// exact = FALSE) are 2·P(Z > z).
func ExampleRankSumZ() {
	u, z, err := stats.RankSumZ([]float64{10, 20, 30, 40}, []float64{1, 2, 3, 4}, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("W=%g z=%.4f p=%.6f\n", u, z, 2*stats.NormalSurvival(z))
	// Output:
	// W=16 z=2.1651 p=0.030383
}

// R 4.2.2: qnorm(0.975) = 1.959963984540054, pnorm(1.96) =
// 0.9750021048517795.
func ExampleNormalQuantile() {
	fmt.Printf("%.15f %.16f\n", stats.NormalQuantile(0.975), stats.NormalCDF(1.96))
	// Output:
	// 1.959963984540054 0.9750021048517795
}

// Lindon & Malek, "Anytime-valid inference for multinomial count data"
// (NeurIPS 2022), their example: counts (10, 30), null probabilities
// (½, ½), prior 100·(½, ½) give log BF 1.274879 and the sequential p-value
// 0.279465.
func ExampleMultinomialLogBF() {
	lbf, err := stats.MultinomialLogBF([]float64{10, 30}, []float64{0.5, 0.5}, []float64{50, 50})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("log BF %.6f, p %.6f\n", lbf, min(1, 1/expOf(lbf)))
	fmt.Printf("two-arm: %.6f\n", stats.TwoArmLogBF(10, 30, 0.5, 100))
	// Output:
	// log BF 1.274879, p 0.279465
	// two-arm: 1.274879
}

// R 4.2.2: power.prop.test(p1 = .015, p2 = .005, sig.level = .01,
// power = .8, alternative = "one.sided") gives n = 1985.8 per group: a
// fixed test needs 3,972 requests in all to see a 3× error regression.
func ExampleTwoProportionSampleSize() {
	n, err := stats.TwoProportionSampleSize(0.015, 0.005, 0.01, 0.8, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.4f per group\n", n)
	// Output:
	// 1985.7999 per group
}

// The time-uniform DKW band of Howard & Ramdas (Bernoulli 2022, the
// bound ε(n) = 0.85·√((log log(e·n) + 0.8·log(1612/α))/n)): after 1,000
// observations at α = 5% every quantile of the empirical distribution is
// within 8.7 percentage points of the truth, at all times at once.
// DKWAlpha inverts it.
func ExampleDKWRadius() {
	eps := stats.DKWRadius(1000, 0.05)
	fmt.Printf("ε = %.4f, back to α = %.2f\n", eps, stats.DKWAlpha(1000, eps))
	// Output:
	// ε = 0.0866, back to α = 0.05
}

// The Bernoulli mixture e-process against "error rate ≤ 1%": 12 errors in
// 300 requests is evidence beyond Ville's threshold 1/α = 100 at α = 1%,
// and its time-uniform bounds exclude 1%. (No published vector exists for
// this grid; the tests check the supermartingale property by exact
// expectation and the bounds by simulation.)
func ExampleBernoulliMixture() {
	m, err := stats.NewBernoulliMixture(0.01, stats.Greater)
	if err != nil {
		fmt.Println(err)
		return
	}
	e := expOf(m.LogE(12, 300))
	lo, hi, _ := stats.BernoulliBounds(12, 300, 0.01)
	fmt.Printf("e-value %.0f ≥ 100: %v; bounds [%.4f, %.4f]\n", e, e >= 100, lo, hi)
	// Output:
	// e-value 214 ≥ 100: true; bounds [0.0109, 0.0964]
}
