package stats

import (
	"errors"
	"fmt"
	"math"
)

// Anytime-valid building blocks. Each statistic here is an e-process: a
// nonnegative process E_t with E_0 = 1 that is a supermartingale while the
// null hypothesis holds. By Ville's inequality (J. Ville, Étude critique de
// la notion de collectif, 1939), P(∃t: E_t ≥ 1/α) ≤ α, so a test that
// rejects the first time E_t ≥ 1/α — checked after every observation, every
// batch, or whenever anybody looks — has type-I error at most α, and
// min(1, 1/max_{s≤t} E_s) is an always-valid p-value.

// Side says on which side of a boundary the alternative lies.
type Side int

const (
	// Greater: the null is p ≤ boundary, the alternative p > boundary.
	Greater Side = iota
	// Less: the null is p ≥ boundary, the alternative p < boundary.
	Less
)

func (s Side) String() string {
	switch s {
	case Greater:
		return "greater"
	case Less:
		return "less"
	}
	return fmt.Sprintf("Side(%d)", int(s))
}

// maxMixture bounds the number of mixture components (see
// NewBernoulliMixture for the grid).
const maxMixture = 64

// BernoulliMixture is an e-process for a one-sided hypothesis about the
// success probability p of independent Bernoulli trials, computed from the
// cumulative counts alone.
//
// It is a mixture of likelihood ratios (Wald's SPRT statistics, mixed as in
// H. Robbins, "Statistical methods related to the law of the iterated
// logarithm", Ann. Math. Statist. 41(5), 1970; see also Howard, Ramdas,
// McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic
// confidence sequences", Ann. Statist. 49(2), 2021, for mixtures over
// Bernoulli observations):
//
//	E_t = Σ_k w_k · (θ_k/p₀)^S · ((1−θ_k)/(1−p₀))^F,
//
// S successes and F failures so far, with equal weights w_k on a grid of
// alternatives θ_k on the alternative's side of p₀. Each term is a
// nonnegative supermartingale under every p in the composite null: for
// Greater and θ ≥ p₀ ≥ p, one trial multiplies it by
// p·θ/p₀ + (1−p)(1−θ)/(1−p₀) ≤ 1 (linear in p, equal to 1 at p = p₀), and
// symmetrically for Less. So their mixture is one too, and Ville's
// inequality applies.
//
// The grid is spaced 0.25 apart in log-odds for the first 20 steps away
// from p₀ (odds ratios up to e⁵ ≈ 148, where the sample sizes that matter
// are decided) and 1.0 apart beyond, out to p = 1 − 10⁻⁶ (Greater) or 10⁻⁷
// (Less); Less also includes θ = 0, which makes a run of all failures
// decisive quickly. A discrete grid, unlike a conjugate Beta mixture,
// makes every evaluation a fixed ≤ 64 exponentials whatever the counts:
// LogE costs well under a microsecond and never allocates.
//
// The zero value is not usable; build one with NewBernoulliMixture.
type BernoulliMixture struct {
	boundary float64
	side     Side
	n        int
	a, b     [maxMixture]float64 // log(θ/p₀), log((1−θ)/(1−p₀)) per component
	zero     bool                // the last component is θ = 0 (Less only)
	logW     float64             // log of each component's weight, −log K
}

// NewBernoulliMixture returns the mixture e-process against the null
// "p ≤ boundary" (side Greater) or "p ≥ boundary" (side Less). boundary
// must lie in (0, 1).
func NewBernoulliMixture(boundary float64, side Side) (BernoulliMixture, error) {
	var m BernoulliMixture
	if !(boundary > 0 && boundary < 1) {
		return m, fmt.Errorf("stats: bernoulli mixture: boundary %v is not in (0, 1)", boundary)
	}
	if side != Greater && side != Less {
		return m, fmt.Errorf("stats: bernoulli mixture: side %v is not Greater or Less", side)
	}
	m.boundary, m.side = boundary, side
	l0 := logit(boundary)
	add := func(theta float64) {
		m.a[m.n] = math.Log(theta / boundary)
		m.b[m.n] = math.Log1p(-theta) - math.Log1p(-boundary)
		m.n++
	}
	step := func(k int) float64 { // distance in log-odds of the k-th point
		if k <= 20 {
			return 0.25 * float64(k)
		}
		return 5 + float64(k-20)
	}
	if side == Greater {
		limit := logit(1 - 1e-6)
		for k := 1; m.n < maxMixture; k++ {
			l := l0 + step(k)
			if l > limit {
				break
			}
			add(expit(l))
		}
	} else {
		limit := logit(1e-7)
		for k := 1; m.n < maxMixture-1; k++ {
			l := l0 - step(k)
			if l < limit {
				break
			}
			add(expit(l))
		}
		m.a[m.n] = math.Inf(-1)
		m.b[m.n] = -math.Log1p(-boundary)
		m.n++
		m.zero = true
	}
	m.logW = -math.Log(float64(m.n))
	return m, nil
}

// Boundary returns the null's boundary p₀.
func (m *BernoulliMixture) Boundary() float64 { return m.boundary }

// Side returns the alternative's side.
func (m *BernoulliMixture) Side() Side { return m.side }

// Components returns the number of alternatives in the mixture.
func (m *BernoulliMixture) Components() int { return m.n }

// LogE returns log E_t after hits successes in total trials. It returns
// NaN when the counts are impossible (negative, or hits > total) and 0 for
// the zero value.
func (m *BernoulliMixture) LogE(hits, total int64) float64 {
	if hits < 0 || total < hits {
		return math.NaN()
	}
	if m.n == 0 {
		return 0
	}
	s, f := float64(hits), float64(total-hits)
	// log-sum-exp over the components. Terms more than 37 nats below the
	// largest change the sum by less than 2⁻⁵³ of it and are skipped,
	// which usually leaves only a handful of exponentials to compute.
	var terms [maxMixture]float64
	best := math.Inf(-1)
	for k := range m.n {
		terms[k] = m.term(k, s, f)
		best = math.Max(best, terms[k])
	}
	if math.IsInf(best, -1) {
		return best
	}
	var sum float64
	for _, v := range terms[:m.n] {
		if d := v - best; d > -37 {
			sum += math.Exp(d)
		}
	}
	return best + math.Log(sum) + m.logW
}

func (m *BernoulliMixture) term(k int, s, f float64) float64 {
	if m.zero && k == m.n-1 {
		if s > 0 {
			return math.Inf(-1)
		}
		return f * m.b[k]
	}
	return s*m.a[k] + f*m.b[k]
}

func logit(p float64) float64 { return math.Log(p / (1 - p)) }
func expit(l float64) float64 { return 1 / (1 + math.Exp(-l)) }

// BernoulliBounds returns the time-uniform confidence interval for p that
// the mixture e-processes define: the boundaries p₀ that neither the
// Greater nor the Less mixture rejects at level alpha after hits successes
// in total trials. Each side has error at most alpha, uniformly over time,
// so [lower, upper] covers p at all times with probability ≥ 1 − 2·alpha.
// With no trials it returns [0, 1].
//
// It builds mixtures for about 50 candidate boundaries per side, so it is
// meant for reports (tens of microseconds), not for per-request paths.
func BernoulliBounds(hits, total int64, alpha float64) (lower, upper float64, err error) {
	switch {
	case hits < 0 || total < hits:
		return 0, 1, fmt.Errorf("stats: bernoulli bounds: %d successes in %d trials is impossible", hits, total)
	case !(alpha > 0 && alpha < 1):
		return 0, 1, fmt.Errorf("stats: bernoulli bounds: alpha %v is not in (0, 1)", alpha)
	case total == 0:
		return 0, 1, nil
	}
	thr := math.Log(1 / alpha)
	phat := float64(hits) / float64(total)
	rejects := func(p0 float64, side Side) bool {
		m, err := NewBernoulliMixture(p0, side)
		return err == nil && m.LogE(hits, total) >= thr
	}
	// Lower: the largest p₀ below p̂ that the Greater test rejects; the
	// rejection region is (approximately) an interval (0, lower].
	const edge = 1e-12
	clamp := func(p float64) float64 { return math.Min(math.Max(p, edge), 1-edge) }
	lower = bisectBoundary(edge, clamp(phat), func(p float64) bool { return rejects(p, Greater) })
	upper = bisectBoundary(clamp(phat), 1-edge, func(p float64) bool { return !rejects(p, Less) })
	return lower, upper, nil
}

// bisectBoundary finds, on a log-odds scale, the point in [lo, hi] where
// inside switches from true (at lo) to false (at hi). It returns lo when
// inside(lo) is false and hi when inside(hi) is true.
func bisectBoundary(lo, hi float64, inside func(float64) bool) float64 {
	if !inside(lo) {
		return lo
	}
	if inside(hi) {
		return hi
	}
	a, b := logit(lo), logit(hi)
	for range 48 {
		mid := (a + b) / 2
		if inside(expit(mid)) {
			a = mid
		} else {
			b = mid
		}
	}
	return expit(a)
}

// MultinomialLogBF returns the log Bayes factor of Lindon & Malek,
// "Anytime-valid inference for multinomial count data", NeurIPS 2022: for
// counts x over d categories, the null "each observation falls in category
// i with probability θ₀ᵢ" against a Dirichlet(α) prior on the
// probabilities,
//
//	BF = [B(α + x) / B(α)] / Πᵢ θ₀ᵢ^xᵢ,   B(a) = Πᵢ Γ(aᵢ) / Γ(Σᵢ aᵢ).
//
// Under the null, BF is a nonnegative martingale in the number of
// observations, so min(1, 1/max BF) is an always-valid p-value (their
// sequential p-value, p_t = min(p_{t−1}, 1/BF_t), p₀ = 1). Their example:
// counts (10, 30), θ₀ = (½, ½), α = 100·θ₀ gives log BF = 1.274879 and
// p = 0.279465.
func MultinomialLogBF(counts, null, alpha []float64) (float64, error) {
	var errs []error
	if len(counts) < 2 {
		errs = append(errs, fmt.Errorf("stats: multinomial bayes factor: %d categories, need at least 2", len(counts)))
	}
	if len(null) != len(counts) || len(alpha) != len(counts) {
		errs = append(errs, fmt.Errorf("stats: multinomial bayes factor: %d counts, %d null probabilities and %d prior parameters differ in length",
			len(counts), len(null), len(alpha)))
	}
	if len(errs) > 0 {
		return math.NaN(), errors.Join(errs...)
	}
	var sum float64
	for i := range counts {
		if !(counts[i] >= 0) || math.IsInf(counts[i], 0) {
			errs = append(errs, fmt.Errorf("stats: multinomial bayes factor: counts[%d] = %v is not a finite non-negative number", i, counts[i]))
		}
		if !(null[i] > 0 && null[i] < 1) {
			errs = append(errs, fmt.Errorf("stats: multinomial bayes factor: null[%d] = %v is not in (0, 1)", i, null[i]))
		}
		if !(alpha[i] > 0) || math.IsInf(alpha[i], 0) {
			errs = append(errs, fmt.Errorf("stats: multinomial bayes factor: alpha[%d] = %v is not a finite positive number", i, alpha[i]))
		}
		sum += null[i]
	}
	if math.Abs(sum-1) > 1e-9 {
		errs = append(errs, fmt.Errorf("stats: multinomial bayes factor: null probabilities sum to %v, not 1", sum))
	}
	if len(errs) > 0 {
		return math.NaN(), errors.Join(errs...)
	}
	var lbf, a0, ax float64
	for i := range counts {
		lbf += lgamma(alpha[i]+counts[i]) - lgamma(alpha[i]) - counts[i]*math.Log(null[i])
		a0 += alpha[i]
		ax += alpha[i] + counts[i]
	}
	return lbf - lgamma(ax) + lgamma(a0), nil
}

// TwoArmLogBF is MultinomialLogBF for two categories with null
// probabilities (share, 1 − share) and the prior concentration·(share,
// 1 − share) centred on the null. It allocates nothing, for per-update
// use, and returns NaN for impossible arguments (negative counts, share
// outside (0, 1), concentration not a finite positive number).
func TwoArmLogBF(a, b int64, share, concentration float64) float64 {
	if a < 0 || b < 0 || !(share > 0 && share < 1) || !(concentration > 0) || math.IsInf(concentration, 1) {
		return math.NaN()
	}
	x, y := float64(a), float64(b)
	pa, pb := concentration*share, concentration*(1-share)
	return lgamma(pa+x) - lgamma(pa) + lgamma(pb+y) - lgamma(pb) -
		lgamma(concentration+x+y) + lgamma(concentration) -
		x*math.Log(share) - y*math.Log1p(-share)
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// DKWRadius returns the half-width ε of the time-uniform confidence band
// for a distribution function after n independent observations, at level
// alpha: with probability at least 1 − alpha, for every n ≥ 1 at once and
// every x, |F̂ₙ(x) − F(x)| ≤ ε(n), where
//
//	ε(n) = 0.85 · √((log log(e·n) + 0.8 · log(1612/alpha)) / n).
//
// This is the time-uniform Dvoretzky–Kiefer–Wolfowitz inequality of Howard
// & Ramdas, "Sequential estimation of quantiles with applications to
// A/B-testing and best-arm identification", Bernoulli 28(3), 2022. It
// returns +Inf for n ≤ 0 and NaN for alpha outside (0, 1).
func DKWRadius(n int64, alpha float64) float64 {
	if !(alpha > 0 && alpha < 1) {
		return math.NaN()
	}
	if n <= 0 {
		return math.Inf(1)
	}
	t := float64(n)
	return 0.85 * math.Sqrt((math.Log(math.Log(math.E*t))+0.8*math.Log(1612/alpha))/t)
}

// DKWAlpha inverts DKWRadius: the level alpha at which the band after n
// observations has half-width eps (capped at 1). It is the always-valid
// p-value of an observed distance eps between F̂ₙ and a hypothesized F.
func DKWAlpha(n int64, eps float64) float64 {
	if n <= 0 || !(eps > 0) {
		return 1
	}
	t := float64(n)
	r := eps / 0.85
	lg := (r*r*t - math.Log(math.Log(math.E*t))) / 0.8 // = log(1612/alpha)
	return math.Min(1, 1612*math.Exp(-lg))
}

// TwoProportionSampleSize returns the number of observations per group a
// fixed-sample test of two proportions needs to detect p1 against p2 with
// the given power at level alpha, by the usual normal-approximation
// formula without continuity correction (J. L. Fleiss, B. Levin & M. C.
// Paik, Statistical Methods for Rates and Proportions, 3rd ed., Wiley 2003,
// ch. 4):
//
//	n = (z_a·√(2·p̄·q̄) + z_β·√(p1·q1 + p2·q2))² / (p1 − p2)²,
//
// p̄ = (p1+p2)/2, q = 1 − p, z_a = Φ⁻¹(1 − alpha) one-sided or
// Φ⁻¹(1 − alpha/2) two-sided, z_β = Φ⁻¹(power). The result is not rounded.
func TwoProportionSampleSize(p1, p2, alpha, power float64, oneSided bool) (float64, error) {
	var errs []error
	for _, v := range []struct {
		name string
		v    float64
	}{{"p1", p1}, {"p2", p2}, {"alpha", alpha}, {"power", power}} {
		if !(v.v > 0 && v.v < 1) {
			errs = append(errs, fmt.Errorf("stats: two-proportion sample size: %s %v is not in (0, 1)", v.name, v.v))
		}
	}
	if p1 == p2 {
		errs = append(errs, fmt.Errorf("stats: two-proportion sample size: p1 and p2 are both %v", p1))
	}
	if len(errs) > 0 {
		return math.NaN(), errors.Join(errs...)
	}
	a := alpha
	if !oneSided {
		a = alpha / 2
	}
	za := NormalQuantile(1 - a)
	zb := NormalQuantile(power)
	pbar := (p1 + p2) / 2
	num := za*math.Sqrt(2*pbar*(1-pbar)) + zb*math.Sqrt(p1*(1-p1)+p2*(1-p2))
	return num * num / ((p1 - p2) * (p1 - p2)), nil
}
