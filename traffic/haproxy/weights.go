package haproxy

import (
	"errors"
	"fmt"
	"math"
)

// Weights maps traffic shares (in percent, or any non-negative figures
// with a positive sum: only their proportions matter) onto HAProxy server
// weights, integers in [0, MaxWeight], so that each server's share of
// the weight total, w/Σw, is as close as it can be to its share.
//
// Two rules come first: a share of zero gets weight 0 (no traffic at all),
// and every share above zero gets a weight of at least 1 (some traffic).
// Among the weightings that keep them, Weights picks the one with the
// smallest largest error, then the smallest total error, then the largest
// weights. For two servers this is the best weighting there is: it tries
// every total the larger weight can have (1 to 256) with both neighbours
// of the other weight. For more servers each other weight is rounded at
// every total, which is within a hair of the best.
//
// Resolution, for the usual two servers (canary and stable): the shares
// HAProxy can give the canary are c/(c+s) with c, s in [0, 256]. The
// smallest above zero is 1/257 ≈ 0.389%, and the largest below 100% is
// 256/257 ≈ 99.611%. A share below 0.389% is therefore raised to 0.389%,
// and one above 99.611% (but below 100) is lowered to 99.611% — an error
// of at most 0.379 percentage points, at 0.01% and 99.99%. Between the
// two the achievable shares are dense: they are farthest apart, 1/1024,
// around 50%, and over every share on ramp's 0.01% grid from 0.39% to
// 99.61% the error is at most 0.048 percentage points (49.95% becomes
// 255:256, 49.902%; TestWeightsErrorBound measures it). Common shares
// such as 0.5, 1, 5, 10, 12.25, 20, 25, 40 and 50% are met to 0.01%:
// 10% is 28:252, 50% is 256:256.
func Weights(shares []float64) ([]int, error) {
	var errs []error
	var top float64
	for i, p := range shares {
		switch {
		case math.IsNaN(p) || math.IsInf(p, 0):
			errs = append(errs, fmt.Errorf("haproxy: shares[%d]: %v is not a number", i, p))
		case p < 0:
			errs = append(errs, fmt.Errorf("haproxy: shares[%d]: %v is negative", i, p))
		default:
			top = max(top, p)
		}
	}
	if len(errs) == 0 && top == 0 {
		errs = append(errs, fmt.Errorf("haproxy: shares: %v add up to zero: no server would get traffic", shares))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// rel is each share relative to the largest (which is 1): no overflow
	// for huge shares, and a tiny share stays recognisably above zero
	// through positive even when rel underflows.
	n := len(shares)
	rel := make([]float64, n)
	positive := make([]bool, n)
	target := make([]float64, n)
	var relSum float64
	for i, p := range shares {
		rel[i] = p / top
		positive[i] = p > 0
		relSum += rel[i]
	}
	big := 0
	for i := range rel {
		target[i] = rel[i] / relSum
		if rel[i] > rel[big] {
			big = i
		}
	}

	if n == 2 {
		return weightsOfTwo(rel, positive, target, big), nil
	}
	best := make([]int, n)
	cand := make([]int, n)
	bestMax, bestSum := math.Inf(1), math.Inf(1)
	consider := func() {
		mx, tot := score(cand, target)
		const eps = 1e-12
		if mx < bestMax-eps || (mx <= bestMax+eps && tot <= bestSum+eps) {
			bestMax, bestSum = mx, tot
			copy(best, cand)
		}
	}
	for m := 1; m <= MaxWeight; m++ {
		for i := range cand {
			cand[i] = scaled(rel[i], positive[i], m, math.Round)
		}
		consider()
	}
	return best, nil
}

// weightsOfTwo is Weights for two servers, of which big has the larger
// share: the larger weight takes every total m, the other both integers
// around its exact value (one of them is the best for that m, since the
// share is monotone in it). Both servers' errors are equal here, so the
// largest error alone decides, then the larger weights.
func weightsOfTwo(rel []float64, positive []bool, target []float64, big int) []int {
	o := 1 - big
	w := make([]int, 2)
	if !positive[o] {
		w[big] = MaxWeight
		return w
	}
	const eps = 1e-12
	bestErr, bestA, bestM := math.Inf(1), 0, 0
	for m := 1; m <= MaxWeight; m++ {
		lo := int(math.Floor(rel[o] * float64(m)))
		for a := max(lo, 1); a <= min(lo+1, m); a++ {
			e := math.Abs(float64(a)/float64(a+m) - target[o])
			if e <= bestErr+eps && (e < bestErr-eps || m >= bestM) {
				bestErr, bestA, bestM = min(e, bestErr), a, m
			}
		}
	}
	w[big], w[o] = bestM, bestA
	return w
}

// scaled is the weight of a server whose share is rel times the largest
// one's, when the largest has weight m, rounded by round: 0 for a zero
// share and at least 1 for any other.
func scaled(rel float64, positive bool, m int, round func(float64) float64) int {
	if !positive {
		return 0
	}
	w := int(round(rel * float64(m)))
	return min(max(w, 1), m)
}

// score is the largest and the total absolute error of w's shares.
func score(w []int, target []float64) (mx, tot float64) {
	var sum int
	for _, x := range w {
		sum += x
	}
	for i, x := range w {
		e := math.Abs(float64(x)/float64(sum) - target[i])
		mx = max(mx, e)
		tot += e
	}
	return mx, tot
}

// Percents maps server weights back to traffic shares in percent, to
// ramp's 0.01 resolution. Each share is w/Σw rounded by the largest
// remainder method: every share is its exact value rounded down or up to
// the next 0.01, and the shares add up to exactly 100. Ties go to the
// earlier server. When every weight is zero (or negative, which HAProxy
// never reports) every share is 0: HAProxy has no server to send
// requests to.
func Percents(weights []int) []float64 {
	out := make([]float64, len(weights))
	var sum int64
	for _, w := range weights {
		if w > 0 {
			sum += int64(w)
		}
	}
	if sum == 0 {
		return out
	}
	const units = 100 * 100 // hundredths of a percent
	hundredths := make([]int64, len(weights))
	rems := make([]int64, len(weights))
	left := int64(units)
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		hundredths[i] = int64(w) * units / sum
		rems[i] = int64(w) * units % sum
		left -= hundredths[i]
	}
	for ; left > 0; left-- {
		pick := -1
		for i, r := range rems {
			if r > 0 && (pick < 0 || r > rems[pick]) {
				pick = i
			}
		}
		hundredths[pick]++
		rems[pick] = 0
	}
	for i, h := range hundredths {
		out[i] = float64(h) / 100
	}
	return out
}
