package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/ramp-go/ramp/analysis/stats"
	"github.com/ramp-go/ramp/clock"
)

// Sequential tests are anytime-valid: they may be checked after every
// request, every few milliseconds, or whenever an analysis runs, for as
// long as the canary runs, and the chance that a canary which is no worse
// than allowed is ever failed stays at most Alpha. Re-running a
// fixed-sample test on a growing sample does not have that property: every
// look is another chance of a false alarm.
//
// Each test has a pure monitor for a continuous guard (Update on
// cumulative counts: cheap, allocation-free, not safe for concurrent use)
// and an Analyzer over a WindowSource. The Analyzer is stateless: it judges
// the window [q.Since, q.Until] afresh. The guarantee is about one growing
// stream, so give it a fixed Since (the start of the step), not a sliding
// window: sliding windows restart the evidence and each restart spends
// another Alpha.
//
// Verdicts: Fail as soon as the evidence says the canary is worse than
// allowed; Pass only once the evidence says it is no worse than the pass
// threshold; otherwise NoData. A monitor's Fail is final (the rollback has
// been earned), and Fail wins when both hold.

// DefaultAlpha is the error bound of a sequential test whose Alpha is 0.
const DefaultAlpha = 0.01

// SequentialResult is a monitor's state after an update.
type SequentialResult struct {
	Verdict Verdict
	// N and BaselineN count what the evidence rests on: the canary's
	// requests (error rate), errors (error ratio) or latency samples, and
	// the baseline's.
	N, BaselineN int64
	// Statistic measures the evidence that the canary is worse than
	// allowed: the log e-value (error rate; error ratio with
	// EffectMixture), the log Bayes factor (error ratio with
	// DirichletMixture, 0 while the canary's share of errors is within
	// bounds) or the
	// largest gap between the distribution functions in excess of margin
	// and bands (latency: positive fails).
	Statistic float64
	// PassStatistic is the same for the evidence that the canary is within
	// the pass threshold.
	PassStatistic float64
	// PValue is the always-valid p-value of "the canary is no worse than
	// allowed": the smallest Alpha at which the test would have failed by
	// now (the running minimum over the updates seen).
	PValue float64
}

func seqAlpha(a float64) float64 { return orDefault(a, DefaultAlpha) }

func seqValidAlpha(label string, a float64) error {
	if a != 0 && !(a > 0 && a < 1) {
		return fmt.Errorf("analysis: %s alpha: %v is not in (0, 1)", label, a)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Error rate against an absolute limit.

// SequentialErrorRate tests the canary's error rate (Window.Errors over
// Window.Requests) against an absolute limit, anytime-valid.
//
// The rules, exactly, after n requests with e errors:
//
//   - Fail when the mixture e-value against "rate ≤ Limit"
//     (stats.BernoulliMixture, side Greater) reaches 1/Alpha. If the
//     canary's true rate is ≤ Limit, the chance this ever happens is at
//     most Alpha (Ville's inequality).
//   - Pass when the mixture e-value against "rate ≥ PassLimit" (side Less)
//     reaches 1/Alpha: the time-uniform confidence sequence's upper bound
//     for the rate is then below PassLimit. If the true rate is ≥
//     PassLimit, the chance of ever passing is at most Alpha.
//   - Otherwise NoData; no requests is NoData.
//
// The measurement reports the rate, n, the log e-value as Statistic, the
// always-valid p-value min(1, 1/e), and as Lower and Upper the
// time-uniform confidence interval for the rate (each end at level Alpha,
// stats.BernoulliBounds).
type SequentialErrorRate struct {
	// Source gives the windows (Analyze only).
	Source WindowSource
	// Name names the measurement; empty means "5xx rate (sequential)".
	Name string
	// Limit is the largest acceptable error rate, in (0, 1): 0.01 is 1%.
	Limit float64
	// PassLimit is the rate the canary must be shown to be below to pass,
	// in (0, 1). Zero means Limit. A value above Limit is a margin: a
	// canary known to be under PassLimit passes even if it might exceed
	// Limit a little.
	PassLimit float64
	// Alpha bounds the chance of a false fail (and of a false pass). Zero
	// means DefaultAlpha.
	Alpha float64
	// DryRun measurements are reported but never decide.
	DryRun bool
	// Clock stamps Result.At. Nil means the real clock.
	Clock clock.Clock
}

func (s *SequentialErrorRate) name() string {
	if s.Name == "" {
		return "5xx rate (sequential)"
	}
	return s.Name
}

func (s *SequentialErrorRate) passLimit() float64 { return orDefault(s.PassLimit, s.Limit) }

// CheckSpan asks Source whether it covers a step of d, when Source can
// say (a *Recorder can: an error wrapping ErrSpanTooLong when d is
// longer than its Span); nil otherwise. The rollout engine asks before a
// rollout starts.
func (s *SequentialErrorRate) CheckSpan(d time.Duration) error { return checkSourceSpan(s.Source, d) }

// Validate reports every problem with the test's settings at once (a nil
// Source is only a problem for Analyze).
func (s *SequentialErrorRate) Validate() error {
	var errs []error
	if !(s.Limit > 0 && s.Limit < 1) {
		errs = append(errs, fmt.Errorf("analysis: sequential error rate limit: %v is not in (0, 1)", s.Limit))
	}
	if s.PassLimit != 0 && !(s.PassLimit > 0 && s.PassLimit < 1) {
		errs = append(errs, fmt.Errorf("analysis: sequential error rate pass limit: %v is not in (0, 1)", s.PassLimit))
	}
	if err := seqValidAlpha("sequential error rate", s.Alpha); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewMonitor returns a monitor of this test for a continuous guard.
func (s *SequentialErrorRate) NewMonitor() (*ErrorRateMonitor, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	m := &ErrorRateMonitor{thr: math.Log(1 / seqAlpha(s.Alpha))}
	var err error
	if m.fail, err = stats.NewBernoulliMixture(s.Limit, stats.Greater); err != nil {
		return nil, err
	}
	if m.pass, err = stats.NewBernoulliMixture(s.passLimit(), stats.Less); err != nil {
		return nil, err
	}
	m.Reset()
	return m, nil
}

// ErrorRateMonitor runs a SequentialErrorRate on cumulative counts. An
// Update costs two mixture evaluations (well under a microsecond each) and
// allocates nothing. It is not safe for concurrent use.
type ErrorRateMonitor struct {
	fail, pass       stats.BernoulliMixture
	thr              float64
	maxFail, maxPass float64
	requests, errs   int64
}

// Reset forgets every update: the next counts start a new stream.
func (m *ErrorRateMonitor) Reset() {
	m.maxFail, m.maxPass = math.Inf(-1), math.Inf(-1)
	m.requests, m.errs = 0, 0
}

// Update takes the canary's cumulative request and error counts since the
// stream began (they never go down) and returns the verdict so far. Bad
// counts return an error and leave the monitor as it was.
func (m *ErrorRateMonitor) Update(requests, errs int64) (SequentialResult, error) {
	if err := seqCounts("", requests, errs, m.requests, m.errs); err != nil {
		return SequentialResult{Verdict: Error, PValue: 1}, err
	}
	m.requests, m.errs = requests, errs
	lf := m.fail.LogE(errs, requests)
	lp := m.pass.LogE(errs, requests)
	m.maxFail = math.Max(m.maxFail, lf)
	m.maxPass = math.Max(m.maxPass, lp)
	return SequentialResult{
		Verdict:       seqVerdict(requests > 0, m.maxFail >= m.thr, m.maxPass >= m.thr),
		N:             requests,
		Statistic:     lf,
		PassStatistic: lp,
		PValue:        math.Min(1, math.Exp(-m.maxFail)),
	}, nil
}

func seqVerdict(any, fail, pass bool) Verdict {
	switch {
	case !any:
		return NoData
	case fail:
		return Fail
	case pass:
		return Pass
	}
	return NoData
}

func seqCounts(who string, requests, errs, prevRequests, prevErrs int64) error {
	switch {
	case requests < 0 || errs < 0 || errs > requests:
		return fmt.Errorf("analysis: sequential: %s%d errors in %d requests is impossible", who, errs, requests)
	case requests < prevRequests || errs < prevErrs:
		return fmt.Errorf("analysis: sequential: %scounts went down from %d/%d to %d/%d errors/requests: they must be cumulative (Reset to start over)",
			who, prevErrs, prevRequests, errs, requests)
	}
	return nil
}

// Analyze judges the canary's window [q.Since, q.Until].
func (s *SequentialErrorRate) Analyze(ctx context.Context, q Query) (Result, error) {
	res := Result{At: clock.Or(s.Clock).Now()}
	if err := seqCheck(ctx, "sequential error rate", s.Source, s.Validate(), q, false); err != nil {
		return seqError(res, err)
	}
	m, err := s.NewMonitor()
	if err != nil { // unreachable: validated above
		return seqError(res, err)
	}
	w := s.Source.Window(q.Canary, q.Since, q.Until)
	r, err := m.Update(w.Requests, w.Errors)
	if err != nil {
		return seqError(res, err)
	}
	meas := Measurement{
		Name: s.name(), Verdict: r.Verdict,
		Canary: thRatioOrNaN(w.Errors, w.Requests), Baseline: math.NaN(),
		CanaryN: w.Requests, Statistic: r.Statistic, PValue: r.PValue,
		Lower: math.NaN(), Upper: math.NaN(), Estimate: thRatioOrNaN(w.Errors, w.Requests),
		DryRun: s.DryRun,
	}
	alpha := seqAlpha(s.Alpha)
	baseText := ""
	if q.Baseline != "" {
		b := s.Source.Window(q.Baseline, q.Since, q.Until)
		meas.Baseline, meas.BaselineN = thRatioOrNaN(b.Errors, b.Requests), b.Requests
		baseText = fmt.Sprintf("; baseline %s (n=%s)", seqPct(meas.Baseline), seqCount(b.Requests))
	}
	if w.Requests > 0 {
		meas.Lower, meas.Upper, _ = stats.BernoulliBounds(w.Errors, w.Requests, alpha)
	}
	rate := fmt.Sprintf("canary 5xx rate %s (n=%s, %s errors)", seqPct(meas.Canary), seqCount(w.Requests), seqCount(w.Errors))
	band := fmt.Sprintf("anytime %s bounds [%s, %s]", cmpPercent(1-alpha), seqPct(meas.Lower), seqPct(meas.Upper))
	switch r.Verdict {
	case Fail:
		meas.Reason = fmt.Sprintf("%s: %s > limit %s: %s, e-value %s >= %s (p=%s)%s",
			meas.Name, rate, seqPct(s.Limit), band, seqExp(r.Statistic), cmpNum(1/alpha), cmpP(r.PValue), baseText)
	case Pass:
		meas.Reason = fmt.Sprintf("%s: %s < %s: %s%s", meas.Name, rate, seqPct(s.passLimit()), band, baseText)
	default:
		if w.Requests == 0 {
			meas.Reason = fmt.Sprintf("%s: no data: no canary requests yet%s", meas.Name, baseText)
		} else {
			meas.Reason = fmt.Sprintf("%s: no data yet: %s, %s: not yet above limit %s nor below %s (p=%s)%s",
				meas.Name, rate, band, seqPct(s.Limit), seqPct(s.passLimit()), cmpP(r.PValue), baseText)
		}
	}
	return seqResult(res, meas), nil
}

// seqError is the Error result of a sequential Analyze that could not judge.
func seqError(res Result, err error) (Result, error) {
	res.Verdict, res.Reason = Error, err.Error()
	return res, err
}

// seqCheck validates what every sequential Analyze needs.
func seqCheck(ctx context.Context, label string, src WindowSource, invalid error, q Query, needBaseline bool) error {
	var errs []error
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("analysis: %s: %w", label, err)
	}
	if invalid != nil {
		errs = append(errs, invalid)
	}
	if src == nil {
		errs = append(errs, fmt.Errorf("analysis: %s source: nil", label))
	}
	if q.Canary == "" {
		errs = append(errs, errors.New("analysis: query canary: empty"))
	}
	if needBaseline && q.Baseline == "" {
		errs = append(errs, fmt.Errorf("analysis: query baseline: empty (the %s needs one)", label))
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		errs = append(errs, fmt.Errorf("analysis: query until: %v is not after since %v", q.Until, q.Since))
	}
	return errors.Join(errs...)
}

func seqResult(res Result, meas Measurement) Result {
	meas.Ratio = RatioOf(meas.Canary, meas.Baseline)
	res.Metrics = []Measurement{meas}
	res.Reason = meas.Reason
	res.Verdict = meas.Verdict
	if meas.DryRun {
		res.Verdict = Pass
		res.Reason = "dry run: " + meas.Reason
	}
	return res
}

func thRatioOrNaN(k, n int64) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return float64(k) / float64(n)
}

func seqPct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v*100, 'g', 3, 64) + "%"
}

// seqCount writes a count with thousands separators: 10877 → "10,877".
func seqCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// seqExp writes e^l compactly.
func seqExp(l float64) string {
	if l > 700 {
		return "e^" + strconv.FormatFloat(l, 'f', 0, 64)
	}
	return strconv.FormatFloat(math.Exp(l), 'g', 3, 64)
}

// ---------------------------------------------------------------------------
// Error rate of the canary against the baseline's.

// DefaultConcentration is the prior concentration of a SequentialErrorRatio
// whose Concentration is 0.
const DefaultConcentration = 2.0

// SequentialErrorRatio compares the canary's error rate with the
// baseline's, anytime-valid, on where the errors land.
//
// It tests one question only: is the canary worse than allowed? A canary
// with fewer errors than the baseline never fails, however strong the
// evidence of the difference.
//
// If the canary gets a share ρ of the requests and its error rate is r
// times the baseline's, each error lands on the canary with probability
// θ(r) = ρr/(ρr + 1 − ρ). Two ways of weighing that evidence
// (RatioMixture):
//
// EffectMixture (the default) is a mixture of likelihood ratios — Wald's
// sequential probability ratio tests, mixed as in H. Robbins,
// "Statistical methods related to the law of the iterated logarithm"
// (Ann. Math. Statist. 41(5), 1970) — one-sided, over ratios
// MaxRatio·e^(0.1k), k = 1..40 (up to 55 × MaxRatio), and 8 more 0.5
// apart in log, weighted by a normal density on the log of the ratio's
// excess centred on 3× (sd 0.5):
// the effects users care about (1.5× to 10×) get the weight, so that a 3×
// regression is caught after a median of 3,300 requests where the
// two-sided Bayes factor below needs 4,400; a tenth of the weight is
// spread evenly over all 48 ratios, the largest 2,981 × MaxRatio, so that
// a version failing every request is still judged in a few errors. Each
// update is judged on its
// own: given its canary and baseline request counts (ρ is their share, or
// CanaryShare) and its errors, each component multiplies in the
// likelihood ratio of the update's canary errors under θ(ρ_k) against
// θ(MaxRatio). Under the null (ratio ≤ MaxRatio) that factor has
// expectation at most 1 — exactly so for binomial error counts, and for
// the hypergeometric counts of equal rates too, which are smaller in the
// convex order (W. Hoeffding, "Probability inequalities for sums of
// bounded random variables", JASA 58, 1963, Theorem 4) — so each
// component, and their mixture, is a nonnegative supermartingale however
// the traffic split changes between updates, and Ville's inequality
// bounds the chance that it ever reaches 1/Alpha by Alpha. (For MaxRatio
// above 1 the binomial is the rare-error approximation of Fisher's
// noncentral hypergeometric; the A/A simulations check it.) The pass side
// mixes ratios PassRatio·e^(−0.1k), centred on PassRatio/2, the same way.
// See the package doc for the figures at 1.5×, 2×, 3× and 10×.
//
// DirichletMixture is the Bayes factor of Lindon & Malek, "Anytime-valid
// inference for multinomial count data" (NeurIPS 2022), on the cumulative
// error counts, with a Dirichlet prior Concentration·(θ, 1−θ) centred on
// the null share. The Bayes factor is two-sided — it grows when the canary
// is better too — and a condition on the observed share s makes the test
// one-sided: when s > θ the part of the mixture below θ contributes at
// most its weight, so the event implies that the part above θ, a
// nonnegative supermartingale under every ratio ≤ MaxRatio, reached
// nearly 2/Alpha.
//
// The rules, exactly, after Ec canary and Eb baseline errors, with
// s = Ec/(Ec+Eb):
//
//   - Fail when the e-value against "errors land on the canary with
//     probability θ(MaxRatio)" (the mixture, or the Bayes factor with
//     s > θ(MaxRatio)) reaches 1/Alpha. A canary whose rate is at most
//     MaxRatio times the baseline's is failed with probability at most
//     Alpha.
//   - Pass when the e-value against θ(PassRatio) (the pass-side mixture,
//     or the Bayes factor with s < θ(PassRatio)) reaches 1/Alpha,
//     symmetrically.
//   - Otherwise NoData; no requests on either side, or no errors at all,
//     is NoData.
//
// The measurement's Lower and Upper are the anytime confidence interval of
// the ratio that the Dirichlet Bayes factor inverts (a report, whatever
// the mixture).
type SequentialErrorRatio struct {
	// Source gives the windows (Analyze only).
	Source WindowSource
	// Name names the measurement; empty means "5xx ratio (sequential)".
	Name string
	// MaxRatio is the largest acceptable ratio of the canary's error rate
	// to the baseline's. Zero means 1: any excess fails, once shown.
	MaxRatio float64
	// PassRatio is the ratio the canary must be shown to be below to pass.
	// Zero means 2 × MaxRatio: a canary exactly as good as the baseline
	// can never be shown to be below MaxRatio = 1, so passing needs a
	// margin.
	PassRatio float64
	// CanaryShare is the canary's share of requests, in (0, 1), when known
	// (a fixed traffic split). Zero means estimate it from the windows.
	CanaryShare float64
	// Mixture says how the evidence is weighed. The zero value is
	// EffectMixture.
	Mixture RatioMixture
	// Concentration is the Dirichlet prior's concentration, for
	// DirichletMixture and the reported bounds. Small values (the
	// default, 2) detect large differences in few errors; large ones
	// (Lindon & Malek's example uses 100) favour small differences. Zero
	// means DefaultConcentration.
	Concentration float64
	// Alpha bounds the chance of a false fail (and of a false pass). Zero
	// means DefaultAlpha.
	Alpha float64
	// DryRun measurements are reported but never decide.
	DryRun bool
	// Clock stamps Result.At. Nil means the real clock.
	Clock clock.Clock
}

func (s *SequentialErrorRatio) name() string {
	if s.Name == "" {
		return "5xx ratio (sequential)"
	}
	return s.Name
}

// RatioMixture says how SequentialErrorRatio weighs the evidence.
type RatioMixture int

const (
	// EffectMixture mixes one-sided likelihood ratios over the effects
	// users care about, update by update.
	EffectMixture RatioMixture = iota
	// DirichletMixture is Lindon & Malek's Bayes factor on the cumulative
	// counts (ramp before v0.x's default).
	DirichletMixture
)

func (m RatioMixture) String() string {
	switch m {
	case EffectMixture:
		return "effect"
	case DirichletMixture:
		return "dirichlet"
	}
	return "RatioMixture(" + strconv.Itoa(int(m)) + ")"
}

// The effect mixture's grid: ratios e^(ratioStep·k) times the boundary,
// k = 1..ratioComponents, weighted by a normal density on k·ratioStep
// with the given centre and sd.
const (
	ratioComponents = 48
	ratioFine       = 40 // components ratioStep apart
	ratioStep       = 0.1
	ratioSD         = 0.5
	// ratioFloor is the weight spread evenly over every component, so
	// that effects far from the centre (a version failing every request)
	// are still judged in a few errors.
	ratioFloor = 0.1
)

// ratioMix is one side of the effect mixture: log-likelihood ratios
// accumulated per component.
type ratioMix struct {
	logRho  [ratioComponents]float64 // log ρ_k
	logW    [ratioComponents]float64 // log weight, Σ weights = 1
	acc     [ratioComponents]float64 // Σ log LR so far
	logRho0 float64
}

func newRatioMix(boundary, centre float64, up bool) ratioMix {
	var m ratioMix
	m.logRho0 = math.Log(boundary)
	var gauss [ratioComponents]float64
	var sum float64
	for k := range ratioComponents {
		d := ratioDistance(k)
		z := (d - math.Log(centre)) / ratioSD
		gauss[k] = math.Exp(-z * z / 2)
		sum += gauss[k]
		if !up {
			d = -d
		}
		m.logRho[k] = m.logRho0 + d
	}
	for k := range m.logW {
		m.logW[k] = math.Log((1-ratioFloor)*gauss[k]/sum + ratioFloor/ratioComponents)
	}
	return m
}

// ratioDistance is the k-th component's distance from the boundary in
// log ratio: ratioStep apart out to 4 (55×), then 0.5 apart out to 8
// (2,981×), where a version that fails every request is judged.
func ratioDistance(k int) float64 {
	if k < ratioFine {
		return ratioStep * float64(k+1)
	}
	return ratioStep*ratioFine + 0.5*float64(k+1-ratioFine)
}

// add multiplies in one update: ec of the e errors landed on the canary,
// whose share of the update's requests had odds odds.
func (m *ratioMix) add(odds float64, ec, e int64) {
	s0 := share(odds * math.Exp(m.logRho0))
	a, b := float64(ec), float64(e-ec)
	la0, lb0 := math.Log(s0), math.Log1p(-s0)
	for k, lr := range m.logRho {
		q := share(odds * math.Exp(lr))
		m.acc[k] += a*(math.Log(q)-la0) + b*(math.Log1p(-q)-lb0)
	}
}

// logE is the log of the mixture's e-value.
func (m *ratioMix) logE() float64 {
	best := math.Inf(-1)
	for k := range m.acc {
		best = math.Max(best, m.acc[k]+m.logW[k])
	}
	var sum float64
	for k := range m.acc {
		if d := m.acc[k] + m.logW[k] - best; d > -40 {
			sum += math.Exp(d)
		}
	}
	return best + math.Log(sum)
}

func (m *ratioMix) reset() { m.acc = [ratioComponents]float64{} }

// share turns odds into a probability.
func share(odds float64) float64 { return odds / (1 + odds) }

func (s *SequentialErrorRatio) ratios() (fail, pass float64) {
	fail = orDefault(s.MaxRatio, 1)
	return fail, orDefault(s.PassRatio, 2*fail)
}

// CheckSpan asks Source whether it covers a step of d, when Source can
// say (a *Recorder can: an error wrapping ErrSpanTooLong when d is
// longer than its Span); nil otherwise. The rollout engine asks before a
// rollout starts.
func (s *SequentialErrorRatio) CheckSpan(d time.Duration) error { return checkSourceSpan(s.Source, d) }

// Validate reports every problem with the test's settings at once.
func (s *SequentialErrorRatio) Validate() error {
	var errs []error
	pos := func(field string, v float64) {
		if v != 0 && !(v > 0) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("analysis: sequential error ratio %s: %v is not a finite positive number", field, v))
		}
	}
	pos("max ratio", s.MaxRatio)
	pos("pass ratio", s.PassRatio)
	pos("concentration", s.Concentration)
	if s.CanaryShare != 0 && !(s.CanaryShare > 0 && s.CanaryShare < 1) {
		errs = append(errs, fmt.Errorf("analysis: sequential error ratio canary share: %v is not in (0, 1)", s.CanaryShare))
	}
	if s.Mixture != EffectMixture && s.Mixture != DirichletMixture {
		errs = append(errs, fmt.Errorf("analysis: sequential error ratio mixture: %v is not EffectMixture or DirichletMixture", s.Mixture))
	}
	if err := seqValidAlpha("sequential error ratio", s.Alpha); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewMonitor returns a monitor of this test for a continuous guard.
func (s *SequentialErrorRatio) NewMonitor() (*ErrorRatioMonitor, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	fail, pass := s.ratios()
	m := &ErrorRatioMonitor{
		failRatio: fail, passRatio: pass,
		share:   s.CanaryShare,
		conc:    orDefault(s.Concentration, DefaultConcentration),
		thr:     math.Log(1 / seqAlpha(s.Alpha)),
		mixture: s.Mixture,
	}
	if m.mixture == EffectMixture {
		m.failMix = newRatioMix(fail, 3, true)
		m.passMix = newRatioMix(pass, 2, false)
	}
	m.Reset()
	return m, nil
}

// ErrorRatioMonitor runs a SequentialErrorRatio on cumulative counts. An
// Update costs about two hundred logarithms (the effect mixture; a dozen
// log-gamma evaluations for the Dirichlet one) and allocates nothing. It
// is not safe for concurrent use.
type ErrorRatioMonitor struct {
	failRatio, passRatio float64
	share, conc, thr     float64
	mixture              RatioMixture
	failMix, passMix     ratioMix
	maxFail, maxPass     float64
	prev                 [4]int64
}

// Reset forgets every update: the next counts start a new stream.
func (m *ErrorRatioMonitor) Reset() {
	m.maxFail, m.maxPass = 0, 0
	m.prev = [4]int64{}
	m.failMix.reset()
	m.passMix.reset()
}

// nullShare is θ(r) for the canary share rho.
func nullShare(rho, r float64) float64 { return rho * r / (rho*r + 1 - rho) }

// Update takes cumulative request and error counts of canary and baseline
// since the stream began and returns the verdict so far. Statistic and
// PassStatistic are the log Bayes factors when the canary's share of
// errors is on the side that counts, else 0. Bad counts return an error
// and leave the monitor as it was.
func (m *ErrorRatioMonitor) Update(canaryRequests, canaryErrors, baselineRequests, baselineErrors int64) (SequentialResult, error) {
	if err := seqCounts("canary: ", canaryRequests, canaryErrors, m.prev[0], m.prev[1]); err != nil {
		return SequentialResult{Verdict: Error, PValue: 1}, err
	}
	if err := seqCounts("baseline: ", baselineRequests, baselineErrors, m.prev[2], m.prev[3]); err != nil {
		return SequentialResult{Verdict: Error, PValue: 1}, err
	}
	if m.mixture == EffectMixture {
		return m.updateEffect(canaryRequests, canaryErrors, baselineRequests, baselineErrors), nil
	}
	m.prev = [4]int64{canaryRequests, canaryErrors, baselineRequests, baselineErrors}
	r := SequentialResult{N: canaryErrors, BaselineN: baselineErrors, PValue: math.Min(1, math.Exp(-m.maxFail))}
	rho := m.share
	if rho == 0 {
		if canaryRequests == 0 || baselineRequests == 0 {
			r.Verdict = NoData
			return r, nil
		}
		rho = float64(canaryRequests) / float64(canaryRequests+baselineRequests)
	}
	total := canaryErrors + baselineErrors
	if total > 0 {
		s := float64(canaryErrors) / float64(total)
		if tf := nullShare(rho, m.failRatio); s > tf {
			r.Statistic = stats.TwoArmLogBF(canaryErrors, baselineErrors, tf, m.conc)
			m.maxFail = math.Max(m.maxFail, r.Statistic)
		}
		if tp := nullShare(rho, m.passRatio); s < tp {
			r.PassStatistic = stats.TwoArmLogBF(canaryErrors, baselineErrors, tp, m.conc)
			m.maxPass = math.Max(m.maxPass, r.PassStatistic)
		}
	}
	r.PValue = math.Min(1, math.Exp(-m.maxFail))
	r.Verdict = seqVerdict(total > 0, m.maxFail >= m.thr, m.maxPass >= m.thr)
	return r, nil
}

// updateEffect is Update with the effect mixture: the update's
// increments are judged given their own request counts.
func (m *ErrorRatioMonitor) updateEffect(cn, ce, bn, be int64) SequentialResult {
	dnc, dec, dnb, deb := cn-m.prev[0], ce-m.prev[1], bn-m.prev[2], be-m.prev[3]
	m.prev = [4]int64{cn, ce, bn, be}
	if e := dec + deb; e > 0 {
		odds := m.share / (1 - m.share)
		if m.share == 0 && dnc > 0 && dnb > 0 {
			odds = float64(dnc) / float64(dnb)
		}
		// An update in which one side had no requests says nothing about
		// the ratio: every error is that of the side that had them.
		if odds > 0 {
			m.failMix.add(odds, dec, e)
			m.passMix.add(odds, dec, e)
			m.maxFail = math.Max(m.maxFail, m.failMix.logE())
			m.maxPass = math.Max(m.maxPass, m.passMix.logE())
		}
	}
	r := SequentialResult{N: ce, BaselineN: be, PValue: math.Min(1, math.Exp(-m.maxFail))}
	if ce+be > 0 {
		r.Statistic, r.PassStatistic = m.failMix.logE(), m.passMix.logE()
	}
	r.Verdict = seqVerdict(cn > 0 && bn > 0 && ce+be > 0, m.maxFail >= m.thr, m.maxPass >= m.thr)
	return r
}

// Analyze judges the windows [q.Since, q.Until] of canary and baseline.
func (s *SequentialErrorRatio) Analyze(ctx context.Context, q Query) (Result, error) {
	res := Result{At: clock.Or(s.Clock).Now()}
	if err := seqCheck(ctx, "sequential error ratio", s.Source, s.Validate(), q, true); err != nil {
		return seqError(res, err)
	}
	m, err := s.NewMonitor()
	if err != nil {
		return seqError(res, err)
	}
	c := s.Source.Window(q.Canary, q.Since, q.Until)
	b := s.Source.Window(q.Baseline, q.Since, q.Until)
	r, err := m.Update(c.Requests, c.Errors, b.Requests, b.Errors)
	if err != nil {
		return seqError(res, err)
	}
	fail, pass := s.ratios()
	alpha := seqAlpha(s.Alpha)
	cr, br := thRatioOrNaN(c.Errors, c.Requests), thRatioOrNaN(b.Errors, b.Requests)
	meas := Measurement{
		Name: s.name(), Verdict: r.Verdict,
		Canary: cr, Baseline: br, CanaryN: c.Requests, BaselineN: b.Requests,
		Statistic: r.Statistic, PValue: r.PValue, Estimate: cr / br,
		Lower: math.NaN(), Upper: math.NaN(), DryRun: s.DryRun,
	}
	if br == 0 && cr > 0 {
		meas.Estimate = math.Inf(1)
	}
	rates := fmt.Sprintf("canary 5xx rate %s (n=%s, %s errors) vs baseline %s (n=%s, %s errors)",
		seqPct(cr), seqCount(c.Requests), seqCount(c.Errors), seqPct(br), seqCount(b.Requests), seqCount(b.Errors))
	if c.Requests > 0 && b.Requests > 0 && c.Errors+b.Errors > 0 {
		meas.Lower, meas.Upper = seqRatioBounds(c, b, s.CanaryShare, m.conc, alpha)
	}
	bounds := fmt.Sprintf("anytime %s bounds on the ratio [%s, %s]", cmpPercent(1-alpha), cmpNum(meas.Lower), cmpNum(meas.Upper))
	switch r.Verdict {
	case Fail:
		meas.Reason = fmt.Sprintf("%s: %s: ratio > allowed %s: %s, %s %s >= %s (p=%s)",
			meas.Name, rates, cmpNum(fail), bounds, s.evidence(), seqExp(r.Statistic), cmpNum(1/alpha), cmpP(r.PValue))
	case Pass:
		meas.Reason = fmt.Sprintf("%s: %s: ratio < %s: %s", meas.Name, rates, cmpNum(pass), bounds)
	default:
		switch {
		case c.Requests == 0 || b.Requests == 0:
			meas.Reason = fmt.Sprintf("%s: no data: %s", meas.Name, rates)
		case c.Errors+b.Errors == 0:
			meas.Reason = fmt.Sprintf("%s: no data yet: no errors on either side (%s)", meas.Name, rates)
		default:
			meas.Reason = fmt.Sprintf("%s: no data yet: %s: %s, not yet above %s nor below %s (p=%s)",
				meas.Name, rates, bounds, cmpNum(fail), cmpNum(pass), cmpP(r.PValue))
		}
	}
	return seqResult(res, meas), nil
}

// evidence names the statistic in reasons.
func (s *SequentialErrorRatio) evidence() string {
	if s.Mixture == DirichletMixture {
		return "Bayes factor"
	}
	return "e-value"
}

// seqRatioBounds returns the ratios r whose null share θ(r) the Bayes
// factor does not reject at level alpha: the anytime confidence interval
// for the ratio of error rates that the test inverts (found by bisection
// on log r; the Bayes factor is unimodal in θ).
func seqRatioBounds(c, b Window, share, conc, alpha float64) (lower, upper float64) {
	rho := share
	if rho == 0 {
		rho = float64(c.Requests) / float64(c.Requests+b.Requests)
	}
	thr := math.Log(1 / alpha)
	rejects := func(r float64) bool {
		return stats.TwoArmLogBF(c.Errors, b.Errors, nullShare(rho, r), conc) >= thr
	}
	s := float64(c.Errors) / float64(c.Errors+b.Errors)
	// The ratio whose null share equals the observed share.
	mid := math.Inf(1)
	if s < 1 {
		mid = s * (1 - rho) / (rho * (1 - s))
	}
	const lo, hi = 1e-6, 1e6
	mid = math.Min(math.Max(mid, lo), hi)
	// bisect finds where rejects changes value between a and b.
	bisect := func(a, b float64) float64 {
		ra := rejects(a)
		la, lb := math.Log(a), math.Log(b)
		for range 60 {
			m := (la + lb) / 2
			if rejects(math.Exp(m)) == ra {
				la = m
			} else {
				lb = m
			}
		}
		return math.Exp((la + lb) / 2)
	}
	lower, upper = 0, math.Inf(1)
	if rejects(lo) && !rejects(mid) {
		lower = bisect(lo, mid)
	}
	if rejects(hi) && !rejects(mid) {
		upper = bisect(mid, hi)
	}
	return lower, upper
}

// ---------------------------------------------------------------------------
// Latency distributions.

// Defaults of SequentialLatency.
const (
	DefaultLatencyPassMargin = 0.1
	DefaultLatencyPoints     = 50
)

// SequentialLatency compares the canary's latency distribution with the
// baseline's with time-uniform confidence bands on both distribution
// functions (stats.DKWRadius: Howard & Ramdas, "Sequential estimation of
// quantiles with applications to A/B-testing and best-arm
// identification", Bernoulli 2022), so that a slowdown anywhere in the
// distribution — the tail included — is detected, anytime-valid. It can
// also hold a quantile of the canary to an absolute limit.
//
// "Allowed" means: the canary's latency is at most (1+Slack) times the
// baseline's at every quantile, up to a probability Margin, i.e.
// Fc((1+Slack)·d) ≥ Fb(d) − Margin for every latency d, where Fc and Fb
// are the distribution functions. With bands ±εc and ±εb that hold at all
// times and all d at once with probability 1 − Alpha/2 (Alpha/4 each when
// a quantile limit is set), evaluated on a grid of the two distributions'
// quantiles (Points evenly spaced probabilities plus 0.99, 0.995, 0.999):
//
//   - Fail when at some grid latency d the canary's upper band is below
//     the baseline's lower band by more than Margin:
//     F̂b(d) − F̂c((1+Slack)·d) > Margin + εb + εc. The canary is then
//     stochastically slower than allowed at d. Statistic is the left side
//     minus the right (positive fails) and PValue the level at which it
//     would just fail.
//   - Pass when the bands show Fb(d) − Fc((1+Slack)·d) ≤ PassMargin for
//     every d, not only the grid's: between consecutive grid points g < g'
//     the gap is at most F̂b(g') + εb − (F̂c((1+Slack)·g) − εc), and that
//     bound (with 0 below the grid and 1 above it) must be ≤ PassMargin.
//   - With Quantile and Limit set: fail when the canary's share of
//     requests slower than Limit (Analyze counts among them those in
//     flight or abandoned past Limit, Window.SlowerThan) is shown to
//     exceed 1 − Quantile (its
//     Quantile-quantile is then above Limit), and passing also needs that
//     share shown to be below 1 − Quantile. This uses the mixture
//     e-processes of SequentialErrorRate on the count of slow requests,
//     which unlike the bands keep their power in the far tail.
//   - Otherwise NoData; an empty distribution on either side is NoData.
//
// The distributions are read through Distribution: CountAtMost at the
// grid, so a histogram's bucket resolution (1% for a Recorder) limits how
// finely latencies are told apart; both sides are read the same way.
type SequentialLatency struct {
	// Source gives the windows (Analyze only).
	Source WindowSource
	// Name names the measurement; empty means "latency (sequential)".
	Name string
	// Slack is the relative slowdown allowed at every quantile: 0.1 lets
	// the canary be up to 10% slower. Zero: none.
	Slack float64
	// Margin is the allowed shortfall of the canary's distribution
	// function, in [0, 1). Zero: none.
	Margin float64
	// PassMargin is the shortfall the canary must be shown to stay within
	// to pass, in (0, 1). Zero means DefaultLatencyPassMargin (0.1) plus
	// Margin.
	PassMargin float64
	// Quantile and Limit optionally hold the canary's Quantile (in (0,1),
	// 0.99 is p99) to at most Limit. Both or neither must be set.
	Quantile float64
	Limit    time.Duration
	// Points is the number of evenly spaced probabilities of the grid.
	// Zero means DefaultLatencyPoints (50).
	Points int
	// Alpha bounds the chance of a false fail (and of a false pass). Zero
	// means DefaultAlpha.
	Alpha float64
	// DryRun measurements are reported but never decide.
	DryRun bool
	// Clock stamps Result.At. Nil means the real clock.
	Clock clock.Clock
}

func (s *SequentialLatency) name() string {
	if s.Name == "" {
		return "latency (sequential)"
	}
	return s.Name
}

func (s *SequentialLatency) passMargin() float64 {
	return orDefault(s.PassMargin, DefaultLatencyPassMargin+s.Margin)
}

// CheckSpan asks Source whether it covers a step of d, when Source can
// say (a *Recorder can: an error wrapping ErrSpanTooLong when d is
// longer than its Span); nil otherwise. The rollout engine asks before a
// rollout starts.
func (s *SequentialLatency) CheckSpan(d time.Duration) error { return checkSourceSpan(s.Source, d) }

// Validate reports every problem with the test's settings at once.
func (s *SequentialLatency) Validate() error {
	var errs []error
	if !(s.Slack >= 0) || math.IsInf(s.Slack, 0) {
		errs = append(errs, fmt.Errorf("analysis: sequential latency slack: %v is not a finite number >= 0", s.Slack))
	}
	if !(s.Margin >= 0 && s.Margin < 1) {
		errs = append(errs, fmt.Errorf("analysis: sequential latency margin: %v is not in [0, 1)", s.Margin))
	}
	if s.PassMargin != 0 && !(s.PassMargin > 0 && s.PassMargin < 1) {
		errs = append(errs, fmt.Errorf("analysis: sequential latency pass margin: %v is not in (0, 1)", s.PassMargin))
	}
	switch {
	case s.Quantile == 0 && s.Limit == 0:
	case !(s.Quantile > 0 && s.Quantile < 1):
		errs = append(errs, fmt.Errorf("analysis: sequential latency quantile: %v is not in (0, 1) (set it with limit %v)", s.Quantile, s.Limit))
	case s.Limit <= 0:
		errs = append(errs, fmt.Errorf("analysis: sequential latency limit: %v is not positive (set it with quantile %v)", s.Limit, s.Quantile))
	}
	if s.Points < 0 || s.Points > 1000 {
		errs = append(errs, fmt.Errorf("analysis: sequential latency points: %d is not in [0, 1000]", s.Points))
	}
	if err := seqValidAlpha("sequential latency", s.Alpha); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewMonitor returns a monitor of this test for a continuous guard.
func (s *SequentialLatency) NewMonitor() (*LatencyMonitor, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	alpha := seqAlpha(s.Alpha)
	points := s.Points
	if points == 0 {
		points = DefaultLatencyPoints
	}
	m := &LatencyMonitor{
		slack: s.Slack, margin: s.Margin, passMargin: s.passMargin(),
		bandAlpha: alpha / 2, bandShare: 0.5,
	}
	for i := 1; i <= points; i++ {
		m.probs = append(m.probs, float64(i)/float64(points+1))
	}
	m.probs = append(m.probs, 0.99, 0.995, 0.999)
	m.grid = make([]time.Duration, 0, 2*len(m.probs))
	if s.Quantile != 0 {
		m.bandAlpha, m.bandShare = alpha/4, 0.25
		m.limit = s.Limit
		m.qthr = math.Log(2 / alpha)
		var err error
		if m.qFail, err = stats.NewBernoulliMixture(1-s.Quantile, stats.Greater); err != nil {
			return nil, err
		}
		if m.qPass, err = stats.NewBernoulliMixture(1-s.Quantile, stats.Less); err != nil {
			return nil, err
		}
	}
	m.Reset()
	return m, nil
}

// LatencyMonitor runs a SequentialLatency on two cumulative latency
// distributions. An Update reads about 2·(Points+3) quantiles and twice as
// many CountAtMost values from the distributions and allocates nothing;
// its cost is dominated by the distributions' own. It is not safe for
// concurrent use.
type LatencyMonitor struct {
	slack, margin, passMargin float64
	bandAlpha, bandShare      float64 // each band's level, and its share of Alpha
	probs                     []float64
	grid                      []time.Duration
	limit                     time.Duration
	qFail, qPass              stats.BernoulliMixture
	qthr                      float64
	failed                    bool
	minP                      float64
	maxQFail, maxQPass        float64
	passed                    bool

	// The latest update's details, for reports.
	worst              time.Duration // grid latency of the largest gap
	worstC, worstB     float64       // F̂c((1+slack)·worst), F̂b(worst)
	epsC, epsB         float64
	gap, passBound     float64
	slow, canaryN      int64
	qFailLog, qPassLog float64
	censored           int64 // requests gone or pending past limit (Analyze)
}

// Reset forgets every update.
func (m *LatencyMonitor) Reset() {
	m.failed, m.passed = false, false
	m.minP = 1
	m.maxQFail, m.maxQPass = math.Inf(-1), math.Inf(-1)
}

// Update reads the canary's and the baseline's latency distributions
// (cumulative since the stream began) and returns the verdict so far.
// Statistic is the largest gap in excess of margin and bands (positive
// fails); PassStatistic is PassMargin minus the bound on the gap (positive
// passes). With a quantile limit, a failing limit makes Statistic the log
// e-value of the slow-request count instead when the gap does not fail.
func (m *LatencyMonitor) Update(canary, baseline Distribution) (SequentialResult, error) {
	var nc, nb int64
	if canary != nil {
		nc = canary.Count()
	}
	if baseline != nil {
		nb = baseline.Count()
	}
	r := SequentialResult{N: nc, BaselineN: nb, PValue: m.minP}
	if nc < 0 || nb < 0 {
		r.Verdict = Error
		return r, fmt.Errorf("analysis: sequential latency: negative counts %d/%d", nc, nb)
	}
	m.canaryN = nc
	if nc == 0 || nb == 0 {
		r.Verdict = NoData
		if m.failed {
			r.Verdict = Fail
		}
		return r, nil
	}
	m.epsC = stats.DKWRadius(nc, m.bandAlpha)
	m.epsB = stats.DKWRadius(nb, m.bandAlpha)

	// The grid: both distributions' quantiles, sorted, without repeats.
	m.grid = m.grid[:0]
	for _, p := range m.probs {
		m.grid = append(m.grid, baseline.Quantile(p), canary.Quantile(p))
	}
	slices.Sort(m.grid)
	m.grid = slices.Compact(m.grid)

	fc, fb := float64(nc), float64(nb)
	gap := math.Inf(-1)
	passBound := 0.0
	prevLowC := 0.0 // canary's lower band at (1+slack)·previous grid point
	for _, d := range m.grid {
		b := float64(baseline.CountAtMost(d)) / fb
		c := float64(canary.CountAtMost(seqScale(d, m.slack))) / fc
		if g := b - c; g > gap {
			gap, m.worst, m.worstC, m.worstB = g, d, c, b
		}
		passBound = math.Max(passBound, b+m.epsB-prevLowC)
		prevLowC = math.Max(prevLowC, c-m.epsC)
	}
	passBound = math.Max(passBound, 1-prevLowC)
	m.gap, m.passBound = gap, passBound

	r.Statistic = gap - m.margin - m.epsC - m.epsB
	r.PassStatistic = m.passMargin - passBound
	failNow := r.Statistic > 0
	passNow := r.PassStatistic >= 0
	if excess := gap - m.margin; excess > 0 {
		m.minP = math.Min(m.minP, seqBandsAlpha(nc, nb, excess, m.bandShare))
	}

	if m.limit > 0 {
		// Requests known slower than the limit without having completed
		// (Analyze sets censored from its window) count as slow.
		m.slow = nc - canary.CountAtMost(m.limit) + m.censored
		m.qFailLog = m.qFail.LogE(m.slow, nc+m.censored)
		m.qPassLog = m.qPass.LogE(m.slow, nc+m.censored)
		m.maxQFail = math.Max(m.maxQFail, m.qFailLog)
		m.maxQPass = math.Max(m.maxQPass, m.qPassLog)
		if m.maxQFail >= m.qthr {
			failNow = true
			if r.Statistic <= 0 {
				r.Statistic = m.qFailLog
			}
		}
		passNow = passNow && m.maxQPass >= m.qthr
		m.minP = math.Min(m.minP, math.Min(1, 2*math.Exp(-m.maxQFail)))
	}
	m.failed = m.failed || failNow
	m.passed = m.passed || passNow
	r.PValue = m.minP
	r.Verdict = seqVerdict(true, m.failed, m.passed)
	return r, nil
}

// seqScale returns d·(1+slack), saturating.
func seqScale(d time.Duration, slack float64) time.Duration {
	if slack == 0 {
		return d
	}
	v := float64(d) * (1 + slack)
	if v >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v)
}

// seqBandsAlpha is the total level α at which the two bands, at α·share
// each, add up to exactly eps: εc(α·share) + εb(α·share) = eps. It is the
// always-valid p-value of an observed excess gap eps (bisection on log α).
func seqBandsAlpha(nc, nb int64, eps, share float64) float64 {
	width := func(a float64) float64 { return stats.DKWRadius(nc, a*share) + stats.DKWRadius(nb, a*share) }
	if width(1) > eps { // even at α = 1 the bands are wider than the gap
		return 1
	}
	lo, hi := -745.0, 0.0 // log α
	for range 60 {
		mid := (lo + hi) / 2
		if width(math.Exp(mid)) > eps {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp(hi)
}

// Analyze judges the latency distributions of canary and baseline over
// [q.Since, q.Until].
func (s *SequentialLatency) Analyze(ctx context.Context, q Query) (Result, error) {
	res := Result{At: clock.Or(s.Clock).Now()}
	if err := seqCheck(ctx, "sequential latency", s.Source, s.Validate(), q, true); err != nil {
		return seqError(res, err)
	}
	m, err := s.NewMonitor()
	if err != nil {
		return seqError(res, err)
	}
	c := s.Source.Window(q.Canary, q.Since, q.Until)
	b := s.Source.Window(q.Baseline, q.Since, q.Until)
	if s.Limit > 0 {
		m.censored = c.censoredOver(s.Limit)
	}
	r, err := m.Update(c.Latency, b.Latency)
	if err != nil {
		return seqError(res, err)
	}
	meas := Measurement{
		Name: s.name(), Verdict: r.Verdict, CanaryN: r.N, BaselineN: r.BaselineN,
		Canary: math.NaN(), Baseline: math.NaN(), Lower: math.NaN(), Upper: math.NaN(),
		Statistic: r.Statistic, PValue: r.PValue, Estimate: math.NaN(), DryRun: s.DryRun,
	}
	if r.N == 0 || r.BaselineN == 0 {
		meas.Reason = fmt.Sprintf("%s: no data: %s canary and %s baseline latency samples",
			meas.Name, seqCount(r.N), seqCount(r.BaselineN))
		return seqResult(res, meas), nil
	}
	// Canary and Baseline: the distribution functions at the worst point;
	// Estimate: the gap there; Lower/Upper: its time-uniform bounds.
	meas.Canary, meas.Baseline = m.worstC, m.worstB
	meas.Estimate = m.gap
	meas.Lower, meas.Upper = m.gap-m.epsC-m.epsB, m.gap+m.epsC+m.epsB
	at := m.worst.String()
	if s.Slack != 0 {
		at = fmt.Sprintf("%v (canary at %v)", m.worst, seqScale(m.worst, s.Slack))
	}
	shape := fmt.Sprintf("at %s %s of canary vs %s of baseline requests are as fast; gap %s, bands ±%s/±%s (n=%s/%s)",
		at, seqPct(m.worstC), seqPct(m.worstB), seqPct(m.gap), seqPct(m.epsC), seqPct(m.epsB),
		seqCount(r.N), seqCount(r.BaselineN))
	limit := ""
	if s.Quantile != 0 {
		limit = fmt.Sprintf("; %s of canary requests slower than %v (p%s limit)",
			seqPct(float64(m.slow)/float64(r.N)), s.Limit, thPercentile(s.Quantile))
	}
	switch r.Verdict {
	case Fail:
		why := fmt.Sprintf("canary slower than allowed (slack %s, margin %s)", cmpPercent(s.Slack), seqPct(s.Margin))
		if m.gap-s.Margin-m.epsC-m.epsB <= 0 {
			why = fmt.Sprintf("canary p%s above %v", thPercentile(s.Quantile), s.Limit)
		}
		meas.Reason = fmt.Sprintf("%s: %s: %s%s (p=%s)", meas.Name, why, shape, limit, cmpP(r.PValue))
	case Pass:
		meas.Reason = fmt.Sprintf("%s: canary within pass margin %s everywhere (bound %s): %s%s",
			meas.Name, seqPct(s.passMargin()), seqPct(m.passBound), shape, limit)
	default:
		meas.Reason = fmt.Sprintf("%s: no data yet: %s; pass needs bound %s <= %s%s (p=%s)",
			meas.Name, shape, seqPct(m.passBound), seqPct(s.passMargin()), limit, cmpP(r.PValue))
	}
	return seqResult(res, meas), nil
}
