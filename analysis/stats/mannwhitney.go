package stats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// ErrAllTied is returned by MannWhitney when every observation of both
// samples has the same value: the statistic has no variance and no
// interval can be computed (R's wilcox.test stops with "cannot compute
// confidence interval when all observations are tied"). Callers comparing a
// canary with a baseline usually treat it as "identical".
var ErrAllTied = errors.New("stats: all observations are tied")

// MannWhitneyResult is the outcome of a two-sample Mann-Whitney U (Wilcoxon
// rank-sum) test of x against y with the Hodges–Lehmann estimate of the
// location shift x − y and its confidence interval.
type MannWhitneyResult struct {
	// N and M are the sizes of x and y.
	N, M int
	// U is the Mann-Whitney statistic of x, R's "W": the number of pairs
	// (xᵢ, yⱼ) with xᵢ > yⱼ plus half the number of tied pairs. Under the
	// null hypothesis its mean is N·M/2.
	U float64
	// Z is the normal score of U with tie and continuity correction.
	Z float64
	// PValue is the two-sided p-value of the normal approximation.
	PValue float64
	// Estimate is the Hodges–Lehmann estimate of the shift x − y: the
	// median of the N·M pairwise differences xᵢ − yⱼ.
	Estimate float64
	// Lower and Upper bound the confidence interval of the shift at level
	// Confidence.
	Lower, Upper float64
	Confidence   float64
}

// MannWhitney tests x against y as R's
//
//	wilcox.test(x, y, conf.int = TRUE, conf.level = confidence,
//	            exact = FALSE, correct = TRUE)
//
// computes it (R's src/library/stats/R/wilcox.test.R): the normal
// approximation of the rank-sum statistic with tie correction of the
// variance and a continuity correction of ½ toward the mean, a two-sided
// p-value, and a confidence interval made of the two shifts d at which the
// corrected statistic of (x − d, y) crosses ∓z₁₋α/₂.
//
// R finds those crossings with uniroot at an absolute tolerance of 1e-4,
// which is coarse for data measured in small units (latencies in seconds)
// and can even return an interval whose ends are out of order. The shifted
// statistic is a step function that only changes at the pairwise
// differences xᵢ − yⱼ, so MannWhitney instead locates each crossing exactly:
// it works out how many differences must lie above d for the statistic to
// cross, and selects that order statistic of the differences. The result is
// the limit of R's answer as its tolerance goes to zero; it is invariant to
// the scale of the data (multiplying both samples by c multiplies the
// estimate and interval by c) and the interval is always ordered. R's
// estimate is any root of the uncorrected statistic; where that root is an
// interval (an even number of differences) this returns its midpoint, the
// Hodges–Lehmann median of the differences.
//
// The cost is O((N+M)·log(N+M)) for the test and expected
// O((N+M)·log(N·M)) for the estimate and each bound: the N·M differences
// are never materialized. 10,000 against 10,000 samples take milliseconds.
//
// Two deliberate differences from R: when each sample is constant (all
// differences equal) R stops with an error, while MannWhitney returns that
// difference as estimate and both bounds; and the end-point checks of the
// interval use exact ties where R's floating-point evaluation of
// x − (min(x) − max(y)) may miss them.
//
// x and y must be non-empty and finite; confidence must lie in (0, 1).
func MannWhitney(x, y []float64, confidence float64) (MannWhitneyResult, error) {
	var errs []error
	if len(x) == 0 {
		errs = append(errs, errors.New("stats: mann-whitney: x is empty"))
	}
	if len(y) == 0 {
		errs = append(errs, errors.New("stats: mann-whitney: y is empty"))
	}
	if err := checkFinite("x", x); err != nil {
		errs = append(errs, err)
	}
	if err := checkFinite("y", y); err != nil {
		errs = append(errs, err)
	}
	if !(confidence > 0 && confidence < 1) {
		errs = append(errs, fmt.Errorf("stats: mann-whitney: confidence %v is not in (0, 1)", confidence))
	}
	if len(errs) > 0 {
		return MannWhitneyResult{}, errors.Join(errs...)
	}
	xs := slices.Clone(x)
	ys := slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	n, m := float64(len(xs)), float64(len(ys))
	nm := n * m

	u := rankSumU(xs, ys)
	tiesAll := tieSumMerged(xs, ys)
	sigma := wilcoxSigma(n, m, tiesAll)
	if sigma == 0 {
		return MannWhitneyResult{}, ErrAllTied
	}
	dz := u - nm/2
	z := (dz - 0.5*sign(dz)) / sigma
	p := 2 * NormalCDF(-math.Abs(z))
	if p > 1 {
		p = 1
	}

	d := diffs{x: xs, y: ys}
	res := MannWhitneyResult{
		N: len(xs), M: len(ys),
		U: u, Z: z, PValue: p,
		Confidence: confidence,
	}

	muMin := xs[0] - ys[len(ys)-1]
	muMax := xs[len(xs)-1] - ys[0]
	if muMin == muMax {
		// Each sample is constant: every difference is the same number.
		res.Estimate, res.Lower, res.Upper = muMin, muMin, muMin
		return res, nil
	}

	// Within-sample ties only: for d strictly between two pairwise
	// differences no shifted x equals a y, so the variance is constant there.
	sigma0 := wilcoxSigma(n, m, tieSum(xs)+tieSum(ys))
	sel := newSelector(&d)

	zq := NormalQuantile(1 - (1-confidence)/2)
	res.Lower = ciRoot(&d, sel, sigma0, zq, true, muMin, muMax)
	res.Upper = ciRoot(&d, sel, sigma0, -zq, true, muMin, muMax)
	res.Estimate = ciRoot(&d, sel, sigma0, 0, false, muMin, muMax)
	return res, nil
}

// RankSumZ returns the Mann-Whitney statistic U of x − shift against y and
// its normal score with tie and continuity correction: the statistic and
// score of R's wilcox.test(x, y, mu = shift, exact = FALSE, correct =
// TRUE). A score above z₁₋α/₂ rejects "the shift is shift" in favour of a
// larger one at two-sided level α. It is the test that the confidence
// interval of MannWhitney inverts, evaluated at one point: at a shift
// equal to a pairwise difference, where an interval's end can sit exactly,
// the test (with its ties) still decides on which side the data lie.
func RankSumZ(x, y []float64, shift float64) (u, z float64, err error) {
	var errs []error
	if len(x) == 0 {
		errs = append(errs, errors.New("stats: rank sum: x is empty"))
	}
	if len(y) == 0 {
		errs = append(errs, errors.New("stats: rank sum: y is empty"))
	}
	if err := checkFinite("x", x); err != nil {
		errs = append(errs, err)
	}
	if err := checkFinite("y", y); err != nil {
		errs = append(errs, err)
	}
	if math.IsNaN(shift) || math.IsInf(shift, 0) {
		errs = append(errs, fmt.Errorf("stats: rank sum: shift %v is not finite", shift))
	}
	if len(errs) > 0 {
		return 0, 0, errors.Join(errs...)
	}
	xs := make([]float64, len(x))
	for i, v := range x {
		xs[i] = v - shift
	}
	ys := slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	n, m := float64(len(xs)), float64(len(ys))
	u = rankSumU(xs, ys)
	sigma := wilcoxSigma(n, m, tieSumMerged(xs, ys))
	if sigma == 0 {
		return u, 0, ErrAllTied
	}
	dz := u - n*m/2
	return u, (dz - 0.5*sign(dz)) / sigma, nil
}

// HodgesLehmann returns the median of the pairwise differences xᵢ − yⱼ
// without materializing them (expected O((N+M)·log(N·M)) time).
func HodgesLehmann(x, y []float64) (float64, error) {
	var errs []error
	if len(x) == 0 {
		errs = append(errs, errors.New("stats: hodges-lehmann: x is empty"))
	}
	if len(y) == 0 {
		errs = append(errs, errors.New("stats: hodges-lehmann: y is empty"))
	}
	if err := checkFinite("x", x); err != nil {
		errs = append(errs, err)
	}
	if err := checkFinite("y", y); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	xs := slices.Clone(x)
	ys := slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	d := diffs{x: xs, y: ys}
	sel := newSelector(&d)
	total := int64(len(xs)) * int64(len(ys))
	if total%2 == 1 {
		return sel.kth(total/2 + 1), nil
	}
	return (sel.kth(total/2) + sel.kth(total/2+1)) / 2, nil
}

func checkFinite(name string, v []float64) error {
	for i, f := range v {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("stats: %s[%d] is %v: samples must be finite", name, i, f)
		}
	}
	return nil
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// wilcoxSigma is the standard deviation of U under the null hypothesis with
// the tie correction of R's wilcox.test:
// √(nm/12 · ((n+m+1) − Σ(t³−t)/((n+m)(n+m−1)))).
func wilcoxSigma(n, m, ties float64) float64 {
	nn := n + m
	v := n * m / 12 * ((nn + 1) - ties/(nn*(nn-1)))
	if v <= 0 || nn < 2 {
		return 0
	}
	return math.Sqrt(v)
}

// rankSumU counts pairs x > y plus half the ties, from sorted samples.
func rankSumU(xs, ys []float64) float64 {
	var less, eq int64
	lo, hi := 0, 0 // ys[:lo] < v, ys[:hi] <= v
	var u float64
	for i, v := range xs {
		if i == 0 || v != xs[i-1] {
			for lo < len(ys) && ys[lo] < v {
				lo++
			}
			if hi < lo {
				hi = lo
			}
			for hi < len(ys) && ys[hi] <= v {
				hi++
			}
			less, eq = int64(lo), int64(hi-lo)
		}
		u += float64(less) + 0.5*float64(eq)
	}
	return u
}

// tieSum returns Σ(t³−t) over the groups of equal values of a sorted slice.
func tieSum(s []float64) float64 {
	var sum float64
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j] == s[i] {
			j++
		}
		t := float64(j - i)
		sum += t*t*t - t
		i = j
	}
	return sum
}

// tieSumMerged returns Σ(t³−t) over the tie groups of the union of two
// sorted slices.
func tieSumMerged(a, b []float64) float64 {
	var sum float64
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var v float64
		switch {
		case j >= len(b) || (i < len(a) && a[i] <= b[j]):
			v = a[i]
		default:
			v = b[j]
		}
		var t float64
		for i < len(a) && a[i] == v {
			i++
			t++
		}
		for j < len(b) && b[j] == v {
			j++
			t++
		}
		sum += t*t*t - t
	}
	return sum
}

// ciRoot returns the shift d at which R's wdiff(d, zq) changes sign:
//
//	wdiff(d) = (dz − CORRECTION)/SIGMA − zq,  dz = U(x − d, y) − nm/2,
//	CORRECTION = sign(dz)/2 when correct, else 0.
//
// wdiff is non-increasing in d and constant between consecutive pairwise
// differences, where U(x − d, y) = #{differences > d} =: c and SIGMA =
// sigma0. With g(c) the value there, wdiff > 0 exactly when c ≥ K, K the
// least c with g(c) > 0, i.e. when d is below the K-th largest difference,
// which is therefore the root (or, when g(K−1) = 0 and wdiff vanishes on a
// whole step, the midpoint of that step). As R does, the end points
// min(x)−max(y) and max(x)−min(y) are returned when wdiff does not change
// sign inside them; there the exact statistic (with the cross ties that
// appear at the end points) is used.
func ciRoot(d *diffs, sel *selector, sigma0, zq float64, correct bool, muMin, muMax float64) float64 {
	n, m := float64(len(d.x)), float64(len(d.y))
	nm := n * m
	g := func(c float64) float64 {
		dz := c - nm/2
		if correct {
			dz -= 0.5 * sign(dz)
		}
		return dz/sigma0 - zq
	}
	if correct {
		if endPointW(d, true, zq) <= 0 {
			return muMin
		}
		if endPointW(d, false, zq) >= 0 {
			return muMax
		}
	}
	total := int64(len(d.x)) * int64(len(d.y))
	// Least c in [0, total] with g(c) > 0; total+1 when there is none.
	lo, hi := int64(0), total+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if g(float64(mid)) > 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	k := lo
	switch {
	case k > total:
		return muMin // wdiff ≤ 0 everywhere inside: the crossing is at the left end
	case k == 0:
		return muMax
	}
	root := sel.kth(total - k + 1)
	if g(float64(k-1)) == 0 {
		next := muMax
		if total-k+2 <= total {
			next = sel.kth(total - k + 2)
		}
		root = root + (next-root)/2
	}
	return math.Min(math.Max(root, muMin), muMax)
}

// endPointW evaluates R's corrected wdiff exactly at d = min(x)−max(y)
// (left) or d = max(x)−min(y) (right), where the a extreme x values tie with
// the b extreme y values.
func endPointW(d *diffs, left bool, zq float64) float64 {
	xs, ys := d.x, d.y
	n, m := float64(len(xs)), float64(len(ys))
	var a, b float64
	if left {
		a = float64(countEqual(xs, xs[0]))
		b = float64(countEqual(ys, ys[len(ys)-1]))
	} else {
		a = float64(countEqual(xs, xs[len(xs)-1]))
		b = float64(countEqual(ys, ys[0]))
	}
	var u float64
	if left {
		u = n*m - a*b/2 // every pair counts except the tied ones, which count ½
	} else {
		u = a * b / 2
	}
	ties := tieSum(xs) + tieSum(ys) - (a*a*a - a) - (b*b*b - b) + ((a+b)*(a+b)*(a+b) - (a + b))
	sigma := wilcoxSigma(n, m, ties)
	dz := u - n*m/2
	dz -= 0.5 * sign(dz)
	if sigma == 0 {
		return math.Inf(int(sign(dz)))
	}
	return dz/sigma - zq
}

func countEqual(s []float64, v float64) int {
	c := 0
	for _, f := range s {
		if f == v {
			c++
		}
	}
	return c
}

// diffs is the implicit N×M matrix of pairwise differences xᵢ − yⱼ of two
// sorted samples. Row i, column c holds x[i] − y[M−1−c], so rows and
// columns are both non-decreasing (floating-point subtraction is monotone
// in each argument, so the computed values keep that order too).
type diffs struct {
	x, y []float64
}

func (d *diffs) at(i, c int) float64 { return d.x[i] - d.y[len(d.y)-1-c] }

// selector finds order statistics of a diffs matrix without materializing
// it, by sampling selection over per-row candidate ranges (in the spirit of
// Johnson & Mizoguchi, "Selecting the Kth element in X+Y and
// X1+X2+…+Xm", SIAM J. Comput. 7(2), 1978, and Floyd & Rivest's SELECT,
// CACM 18(3), 1975). Each round samples candidates, takes two sample order
// statistics that bracket the wanted rank with high probability, counts
// the differences below each in O(N+M) with two monotone pointers, and
// keeps only the columns between them: about a tenth of the candidates
// survive a round, so a 10⁴×10⁴ matrix needs five or six rounds. A round
// that fails to shrink the candidates falls back to a single random pivot,
// which always makes progress. The sampling source is seeded, so results
// and running times are reproducible.
type selector struct {
	d          *diffs
	lo, hi     []int // candidate columns of row i: [lo[i], hi[i])
	a, b       []int
	cum        []int64 // cum[i] = candidates in rows < i
	sample     []float64
	scratch    []float64
	rng        *rand.Rand
	collectMax int64
}

// Sampling parameters: a sample of selSample candidates, bracketed by
// selSpread sample ranks on either side of the wanted one (three standard
// deviations of the binomial sample rank at most).
const (
	selSample = 1024
	selSpread = 48
)

func newSelector(d *diffs) *selector {
	n := len(d.x)
	return &selector{
		d:          d,
		lo:         make([]int, n),
		hi:         make([]int, n),
		a:          make([]int, n),
		b:          make([]int, n),
		cum:        make([]int64, n+1),
		rng:        rand.New(rand.NewPCG(0x5eed, 0x1e4)),
		collectMax: int64(len(d.x)+len(d.y))/8 + 2*selSample,
	}
}

// kth returns the k-th smallest difference, 1 ≤ k ≤ N·M.
func (s *selector) kth(k int64) float64 {
	d := s.d
	n, m := len(d.x), len(d.y)
	for i := range n {
		s.lo[i], s.hi[i] = 0, m
	}
	var below int64 // differences known to rank below the candidates
	for {
		s.cum[0] = 0
		for i := range n {
			s.cum[i+1] = s.cum[i] + int64(s.hi[i]-s.lo[i])
		}
		active := s.cum[n]
		want := k - below // rank of the answer among the candidates
		if active <= s.collectMax {
			s.scratch = s.scratch[:0]
			for i := range n {
				for c := s.lo[i]; c < s.hi[i]; c++ {
					s.scratch = append(s.scratch, d.at(i, c))
				}
			}
			slices.Sort(s.scratch)
			return s.scratch[want-1]
		}

		s.sample = s.sample[:0]
		for range selSample {
			s.sample = append(s.sample, s.candidate(s.rng.Int64N(active)))
		}
		slices.Sort(s.sample)
		at := float64(want-1) / float64(active) * selSample
		pLo := s.sample[max(0, int(at)-selSpread)]
		pHi := s.sample[min(selSample-1, int(at)+selSpread)]
		nLo := s.count(pLo, false, s.a) // candidates < pLo
		nHi := s.count(pHi, true, s.b)  // candidates ≤ pHi
		switch {
		case want <= nLo:
			copy(s.hi, s.a)
		case want > nHi:
			below += nHi
			copy(s.lo, s.b)
		case pLo == pHi:
			return pLo
		default:
			if nHi-nLo < active {
				below += nLo
				copy(s.lo, s.a)
				copy(s.hi, s.b)
				continue
			}
			// The bracket kept everything: pivot on one random candidate.
			p := s.candidate(s.rng.Int64N(active))
			nl := s.count(p, false, s.a)
			ne := s.count(p, true, s.b)
			switch {
			case want <= nl:
				copy(s.hi, s.a)
			case want <= ne:
				return p
			default:
				below += ne
				copy(s.lo, s.b)
			}
		}
	}
}

// candidate returns the r-th candidate in row-major order (s.cum must be
// current).
func (s *selector) candidate(r int64) float64 {
	i := sort.Search(len(s.d.x), func(i int) bool { return s.cum[i+1] > r })
	return s.d.at(i, s.lo[i]+int(r-s.cum[i]))
}

// count stores in out[i] the end of row i's candidates that are < p (or ≤ p
// when orEqual), clamped to the row's candidate range, and returns how many
// candidates that is in all. The unclamped positions are non-increasing in
// i, so one pointer sweeping left serves every row: O(N+M).
func (s *selector) count(p float64, orEqual bool, out []int) int64 {
	d := s.d
	c := len(d.y)
	var total int64
	for i := range d.x {
		for c > 0 {
			v := d.at(i, c-1)
			if v < p || (orEqual && v == p) {
				break
			}
			c--
		}
		e := min(max(c, s.lo[i]), s.hi[i])
		out[i] = e
		total += int64(e - s.lo[i])
	}
	return total
}
