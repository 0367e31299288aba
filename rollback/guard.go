package rollback

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/analysis/stats"
	"github.com/ramp-go/ramp/clock"
)

// Defaults of Guard.
const (
	DefaultGuardAlpha      = 0.01
	DefaultGuardPoll       = 10 * time.Millisecond
	DefaultLatencyQuantile = 0.99
)

// Guard is a trigger that watches the canary's live outcomes — as they are
// recorded, not at analysis intervals — and fires the moment a sequential,
// anytime-valid test is confident that the canary is bad:
//
//   - its 5xx rate is over MaxErrorRate (absolute);
//   - its 5xx rate is over ErrorRateRatio times the baseline's
//     (CompareErrorRate; the baseline is the target's stable version);
//   - its LatencyQuantile latency is over MaxLatency: more than
//     1-LatencyQuantile of its requests are slower than MaxLatency;
//   - its latency distribution is slower than the baseline's anywhere —
//     median, tail or in between — beyond LatencySlack and
//     LatencyTolerance (CompareLatency).
//
// Every PollInterval it reads the outcomes recorded for both versions
// from Source (an analysis.Recorder, say) and updates the tests. Because
// they are anytime-valid, looking at the evidence after every poll, for as
// long as the rollout lasts, does not inflate false alarms: the chance
// that a guard ever fires on a canary that is in fact within every limit
// is at most Alpha, however long it watches. A bad version, on the other
// hand, is caught after a handful of its requests.
//
// # The tests
//
// The guard runs the sequential tests of package analysis on the counts
// since the test began: the absolute limits are
// analysis.SequentialErrorRate monitors (on errors, and on requests slower
// than MaxLatency), the distribution comparison an
// analysis.SequentialLatency monitor (time-uniform confidence bands of
// Howard & Ramdas, 2022). The error-rate comparison conditions on the
// errors of each poll: under the null (canary rate ≤ ratio × baseline
// rate) each error is the canary's with probability at most its share of
// that poll's requests, scaled by the ratio, and a mixture over relative
// risks of the likelihood ratios of those draws is an e-process — the
// idea of analysis.SequentialErrorRatio, applied poll by poll so that it
// stays valid when the traffic split changes from step to step.
//
// # Restarts
//
// Evidence gathered since Watch began would get slower to show a fault the
// longer the canary was healthy before it: an hour of good requests
// dilutes a sudden run of errors. So every test is also started afresh
// every 32 canary requests. Restart j (0 is the start of Watch) runs at
// level α·w_j with w_0 = 1/2 and w_j = 1/(2·j·(j+1)), which sum to 1, so
// by the union bound all of them together still fire falsely with
// probability at most α. Old restarts are dropped log-structurally (only
// O(log j) are live), keeping one that began at most about twice as long
// before a fault as the fault's age — so a fault is judged on data of
// which at least about half is faulty, whenever it happens. (This is the
// e-detector idea of Shin, Ramdas & Rinaldo, "E-detectors: a
// nonparametric framework for sequential change detection", 2023, with
// weights that keep a false-alarm probability, not only an average run
// length.) Alpha is split evenly over the enabled checks first.
//
// The validity argument assumes outcomes that are independent given the
// version, which is how a service at steady load behaves; a canary whose
// first requests are slow by design (a cold cache) can use MinRequests to
// be judged only after warming up.
//
// # Requests that never complete
//
// The latency-limit check counts, besides completed requests slower than
// MaxLatency, the requests known to be slower though they never completed
// (right-censored observations, analysis.Window.SlowerThan): those whose
// client gave up after waiting longer than MaxLatency (recorded as 499,
// which also keeps them out of the error rates: a client giving up is no
// server error), and those still in flight for longer than MaxLatency. So
// a canary that accepts requests and never answers is rolled back at
// about MaxLatency plus the few requests the test needs, whatever the
// clients' timeouts. An analysis.Recorder fed by a traffic.Splitter
// tracks both.
//
// # Waking
//
// Besides every PollInterval, the guard wakes at once when Source signals
// the canary's next 5xx (a method Errored(backend) <-chan struct{}, as
// analysis.Recorder has) and, for the latency limit, when the next
// request in flight becomes known to be slower than MaxLatency (a method
// NextLongerThan(backend, d) (time.Duration, bool)).
//
// # Source
//
// Source must keep a latency distribution (analysis.Window.Latency) for
// the latency checks; one that keeps none only feeds the error checks.
// When Source also has a method Total(backend string) analysis.Window (as
// analysis.Recorder does), the guard reads exact totals since Watch
// began (through TotalInto, without allocating, when Source has it); otherwise it reads Window(backend, watchStart, now) and, when the
// source's retention drops old data, carries on from the data it still
// has (losing what arrived within one poll of the expiry). The latency
// comparison reads distributions at 8 points per doubling (9% apart)
// from 10 µs to 100 s.
//
// The zero Guard is invalid: set Source and at least one check.
type Guard struct {
	// Source gives the recorded outcomes of both versions. Required.
	Source analysis.WindowSource

	// MaxErrorRate is the highest acceptable share of 5xx responses, in
	// (0, 1). 0: not checked.
	MaxErrorRate float64
	// CompareErrorRate checks the canary's 5xx rate against the
	// baseline's: it may be at most ErrorRateRatio times as high.
	CompareErrorRate bool
	// ErrorRateRatio is the tolerated ratio of canary to baseline error
	// rate, at least 1. 0 means 1: any increase is a failure once the
	// evidence is strong enough.
	ErrorRateRatio float64

	// MaxLatency is the highest acceptable LatencyQuantile latency. 0: not
	// checked.
	MaxLatency time.Duration
	// LatencyQuantile is the quantile MaxLatency bounds, in (0, 1). 0 means
	// DefaultLatencyQuantile (0.99).
	LatencyQuantile float64
	// CompareLatency checks the canary's latency distribution against the
	// baseline's: it fails when, at some latency d, the share of canary
	// requests that took at most (1+LatencySlack)·d is shown to be lower
	// than the baseline's share at most d by more than LatencyTolerance.
	// It judges only while the baseline serves too (not at a 100% step:
	// the baseline's requests would be from another time).
	CompareLatency bool
	// LatencySlack is the relative slowdown allowed at every quantile, at
	// least 0: 0.1 lets the canary be 10% slower. 0: none.
	LatencySlack float64
	// LatencyTolerance is the shortfall of the canary's distribution
	// function allowed at any latency, in [0, 1): 0.05 tolerates the
	// baseline's p90 being the canary's p85. 0: none.
	LatencyTolerance float64

	// Alpha is the probability, in (0, 1), that the guard ever fires on a
	// canary within every limit. 0 means DefaultGuardAlpha (0.01). It is
	// split evenly over the enabled checks.
	Alpha float64
	// PollInterval is how often the outcomes are read. 0 means
	// DefaultGuardPoll (10 ms).
	PollInterval time.Duration
	// MinRequests is how many canary requests must be recorded since Watch
	// began before the guard may fire. 0: none (the tests need no minimum
	// to keep their error rate).
	MinRequests int64
	// Logger, when set, logs the guard firing at warning level. nil: silent.
	Logger *slog.Logger
	// Clock is the time source; nil means the system clock.
	Clock clock.Clock
}

// CheckSpan says whether the guard judges a step of d whole. A Source
// with a Total method (an *analysis.Recorder) gives exact totals since
// Watch began, whatever its span: nil. Otherwise the guard reads
// Source's windows, and CheckSpan asks Source when Source can say (its
// own CheckSpan method); nil when it cannot. The rollout engine asks
// before a rollout starts.
func (g *Guard) CheckSpan(d time.Duration) error {
	if _, totals := g.Source.(interface{ Total(string) analysis.Window }); totals {
		return nil
	}
	if c, ok := g.Source.(interface{ CheckSpan(time.Duration) error }); ok && g.Source != nil {
		return c.CheckSpan(d)
	}
	return nil
}

// Validate reports every problem with g at once, naming the field and
// value.
func (g *Guard) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("guard: "+format, args...)) }
	if g.Source == nil {
		bad("source: nil")
	}
	if g.MaxErrorRate != 0 && !(g.MaxErrorRate > 0 && g.MaxErrorRate < 1) {
		bad("max error rate: %v is not in (0, 1)", g.MaxErrorRate)
	}
	if g.ErrorRateRatio != 0 && !(g.ErrorRateRatio >= 1 && !math.IsInf(g.ErrorRateRatio, 0)) {
		bad("error rate ratio: %v must be a finite number at least 1 (0 means 1)", g.ErrorRateRatio)
	}
	if g.ErrorRateRatio != 0 && !g.CompareErrorRate {
		bad("error rate ratio: %v is set but compare error rate is off", g.ErrorRateRatio)
	}
	if g.MaxLatency < 0 {
		bad("max latency: %v is negative", g.MaxLatency)
	}
	if g.LatencyQuantile != 0 && !(g.LatencyQuantile > 0 && g.LatencyQuantile < 1) {
		bad("latency quantile: %v is not in (0, 1)", g.LatencyQuantile)
	}
	if g.LatencyQuantile != 0 && g.MaxLatency == 0 {
		bad("latency quantile: %v is set but max latency is not", g.LatencyQuantile)
	}
	if !(g.LatencySlack >= 0) || math.IsInf(g.LatencySlack, 0) {
		bad("latency slack: %v is not a finite number at least 0", g.LatencySlack)
	}
	if !(g.LatencyTolerance >= 0 && g.LatencyTolerance < 1) {
		bad("latency tolerance: %v is not in [0, 1)", g.LatencyTolerance)
	}
	if g.LatencySlack != 0 && !g.CompareLatency {
		bad("latency slack: %v is set but compare latency is off", g.LatencySlack)
	}
	if g.LatencyTolerance != 0 && !g.CompareLatency {
		bad("latency tolerance: %v is set but compare latency is off", g.LatencyTolerance)
	}
	if g.Alpha != 0 && !(g.Alpha > 0 && g.Alpha < 1) {
		bad("alpha: %v is not in (0, 1)", g.Alpha)
	}
	if g.PollInterval < 0 {
		bad("poll interval: %v is negative", g.PollInterval)
	}
	if g.MinRequests < 0 {
		bad("min requests: %d is negative", g.MinRequests)
	}
	if g.checks() == 0 {
		bad("no check enabled: set MaxErrorRate, CompareErrorRate, MaxLatency or CompareLatency")
	}
	return errors.Join(errs...)
}

func (g *Guard) checks() int {
	n := 0
	for _, on := range []bool{g.MaxErrorRate > 0, g.CompareErrorRate, g.MaxLatency > 0, g.CompareLatency} {
		if on {
			n++
		}
	}
	return n
}

// Watch polls Source every PollInterval and fires once for each check that
// becomes confident the canary is bad. It returns a configuration error at
// once, else nil when ctx is done.
func (g *Guard) Watch(ctx context.Context, t Target, fire func(reason string)) error {
	run, err := g.start(t)
	if err != nil {
		return err
	}
	clk := clock.Or(g.Clock)
	poll := g.PollInterval
	if poll == 0 {
		poll = DefaultGuardPoll
	}
	errored, _ := g.Source.(interface{ Errored(string) <-chan struct{} })
	pending, _ := g.Source.(interface {
		NextLongerThan(string, time.Duration) (time.Duration, bool)
	})
	for !run.finished() {
		// A source that signals errors wakes the guard at the canary's
		// next 5xx, not only at the next poll; one that tracks requests in
		// flight, the moment the next one is known to be slower than
		// MaxLatency.
		var wake <-chan struct{}
		if errored != nil && (run.enabled[checkErrorRate] || run.enabled[checkErrorRatio]) {
			wake = errored.Errored(t.Canary)
		}
		wait := poll
		if pending != nil && run.enabled[checkLatency] && !run.fired[checkLatency] {
			if d, ok := pending.NextLongerThan(t.Canary, g.MaxLatency); ok && d < wait {
				wait = max(d, 100*time.Microsecond)
			}
		}
		timer := clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C():
		case <-wake:
			timer.Stop()
		}
		for _, reason := range run.poll() {
			if g.Logger != nil {
				g.Logger.LogAttrs(ctx, slog.LevelWarn, "guard: firing", slog.String("canary", t.Canary), slog.String("reason", reason))
			}
			fire(reason)
		}
	}
	<-ctx.Done() // every check has fired: nothing more to say
	return nil
}

// Check indexes.
const (
	checkErrorRate = iota
	checkErrorRatio
	checkLatency
	checkLatencyShift
	numChecks
)

// Restarts (see Guard): a new one every restartEvery canary requests;
// restart j lives while the newest restart J has J-j < restartKeep·2^v,
// with 2^v the largest power of two dividing j. Then whenever a fault
// began D restarts ago, a live restart began between D and about 2·D+3
// restarts ago, and only O(log J) restarts are live.
const (
	restartEvery = 32
	restartKeep  = 3
)

// guardRun is one Watch's state: the tests and the counts so far. It reads
// the source only in poll, so a simulation can drive it on virtual time.
type guardRun struct {
	g        Guard
	t        Target
	alphaEff float64 // α per check
	quantile float64
	ratio    float64
	totals   interface{ Total(string) analysis.Window }
	into     interface {
		TotalInto(string, *analysis.Histogram) analysis.Window
	}
	since   time.Time
	canary  guardArm
	base    guardArm
	enabled [numChecks]bool
	fired   [numChecks]bool

	rrLogRho [rrComponents]float64
	grid     []time.Duration // latency points of the distribution comparison
	slackAt  []int           // slackAt[i]: last grid index <= (1+slack)·grid[i], or -1

	starts      []*guardStart // live starts, oldest first; starts[0] is Watch's
	lastRestart int           // index of the newest restart
	nextRestart int64         // canary requests at which the next restart begins

	cv, bv gridDist // scratch views of the distributions since a start
	// baseServed: the baseline has latencies new in this poll. The
	// distribution comparison looks only then (see latencyShift).
	baseServed bool
}

// guardStart is the state of the tests begun at one restart.
type guardStart struct {
	j      int
	alpha  float64     // α·w_j: the level of every test begun here
	logThr float64     // log(1/alpha)
	c, b   guardCounts // cumulative counts when it began
	rr     [rrComponents]float64
	dkwAt  int64 // canary latencies at which the distribution comparison looks next

	// Monitors, made when first needed: a monitor first asked at any time
	// judges all the data since its start, so making it late only skips
	// looks, which never costs validity.
	errMon, slowMon *analysis.ErrorRateMonitor
	latMon          *analysis.LatencyMonitor
}

// guardCounts are counts since Watch began.
type guardCounts struct {
	n, errs int64
	ln      int64   // requests with a latency recorded
	slow    int64   // of those, slower than MaxLatency
	cdf     []int64 // of those, at most grid[i]; the last grid point counts all
}

func (c *guardCounts) copyFrom(o *guardCounts) {
	cdf := c.cdf
	*c = *o
	if o.cdf != nil {
		c.cdf = append(cdf[:0], o.cdf...)
	}
}

// guardArm reads one version's counts.
type guardArm struct {
	backend   string
	last      guardCounts // cumulative as last read from the source
	lastSince time.Time   // Window mode: the span's start as last read
	primed    bool        // last holds a reading
	cum       guardCounts // accumulated since Watch began
	cur       guardCounts // scratch
	// Totals mode: the latency distribution of the latest reading, whether
	// cur.cdf holds it, and the distribution function at Watch's start.
	dist     analysis.Distribution
	cdfFresh bool
	first    []int64
	hist     analysis.Histogram // reused by TotalInto
}

func (g *Guard) start(t Target) (*guardRun, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	r := &guardRun{g: *g, t: t}
	alpha := g.Alpha
	if alpha == 0 {
		alpha = DefaultGuardAlpha
	}
	r.alphaEff = alpha / float64(g.checks())
	r.quantile = g.LatencyQuantile
	if r.quantile == 0 {
		r.quantile = DefaultLatencyQuantile
	}
	r.ratio = g.ErrorRateRatio
	if r.ratio == 0 {
		r.ratio = 1
	}
	r.enabled = [numChecks]bool{g.MaxErrorRate > 0, g.CompareErrorRate, g.MaxLatency > 0, g.CompareLatency}
	// The error-ratio mixture: relative risks 0.25 apart in log ρ up to
	// ρ0·e⁵, then 1 apart up to ρ0·e¹².
	for k := range r.rrLogRho {
		d := 0.25 * float64(k+1)
		if k >= 20 {
			d = 5 + float64(k-19)
		}
		r.rrLogRho[k] = math.Log(r.ratio) + d
	}
	if r.enabled[checkLatencyShift] {
		r.grid = latencyGrid
		r.slackAt = make([]int, len(r.grid))
		for i, d := range r.grid {
			x := scale(d, g.LatencySlack)
			r.slackAt[i] = sort.Search(len(r.grid), func(k int) bool { return r.grid[k] > x }) - 1
		}
		for _, a := range []*guardArm{&r.canary, &r.base} {
			a.last.cdf = make([]int64, len(r.grid))
			a.cum.cdf = make([]int64, len(r.grid))
			a.cur.cdf = make([]int64, len(r.grid))
		}
		r.cv = gridDist{grid: r.grid, cdf: make([]int64, len(r.grid))}
		r.bv = gridDist{grid: r.grid, cdf: make([]int64, len(r.grid))}
	}
	r.canary.backend, r.base.backend = t.Canary, t.Stable
	r.totals, _ = g.Source.(interface{ Total(string) analysis.Window })
	r.into, _ = g.Source.(interface {
		TotalInto(string, *analysis.Histogram) analysis.Window
	})
	r.since = clock.Or(g.Clock).Now()
	// The outcomes recorded so far are the starting point: only later ones
	// count.
	r.read(&r.canary)
	r.read(&r.base)
	r.addStart(0, 0.5)
	r.nextRestart = restartEvery
	return r, nil
}

// scale returns d·(1+slack), saturating (as analysis.SequentialLatency
// scales).
func scale(d time.Duration, slack float64) time.Duration {
	if slack == 0 {
		return d
	}
	v := float64(d) * (1 + slack)
	if v >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v)
}

func (r *guardRun) addStart(j int, weight float64) {
	if r.enabled[checkLatencyShift] {
		r.cdf(&r.canary)
		r.cdf(&r.base)
	}
	a := r.alphaEff * weight
	s := &guardStart{j: j, alpha: a, logThr: math.Log(1 / a), dkwAt: 1}
	s.c.copyFrom(&r.canary.cum)
	s.b.copyFrom(&r.base.cum)
	r.starts = append(r.starts, s)
}

// restart begins the tests afresh and drops the restarts that have lived
// their span.
func (r *guardRun) restart() {
	r.lastRestart++
	j := r.lastRestart
	r.addStart(j, 1/(2*float64(j)*float64(j+1)))
	kept := r.starts[:1]
	for _, s := range r.starts[1:] {
		span := restartKeep << min(bits.TrailingZeros(uint(s.j)), 40)
		if j-s.j < span {
			kept = append(kept, s)
		}
	}
	clear(r.starts[len(kept):])
	r.starts = kept
}

func (r *guardRun) finished() bool {
	for i := range numChecks {
		if r.enabled[i] && !r.fired[i] {
			return false
		}
	}
	return true
}

// latencyGrid holds the latencies at which the distribution comparison
// looks: 10 µs to about 100 s, 8 points per doubling (9% apart), and a
// last point that every sample is at most, so that the last count of a
// distribution function is the number of samples it was made from.
var latencyGrid = func() []time.Duration {
	var g []time.Duration
	for i := 0; ; i++ {
		d := time.Duration(10e3 * math.Exp2(float64(i)/8))
		if d > 100*time.Second {
			return append(g, math.MaxInt64)
		}
		g = append(g, d)
	}
}()

// read takes a's cumulative counts from the source and adds what is new
// since the last read to a.cum. It returns the increments of requests and
// errors.
func (r *guardRun) read(a *guardArm) (dn, de int64) {
	if a.backend == "" {
		return 0, 0
	}
	var w analysis.Window
	switch {
	case r.into != nil:
		w = r.into.TotalInto(a.backend, &a.hist) // no allocation per poll
	case r.totals != nil:
		w = r.totals.Total(a.backend)
	default:
		w = r.g.Source.Window(a.backend, r.since, time.Time{})
	}
	c := &a.cur
	c.n, c.errs = w.Requests, w.Errors
	c.ln, c.slow = 0, 0
	a.dist, a.cdfFresh = w.Latency, false
	if w.Latency != nil {
		c.ln = w.Latency.Count()
	}
	if r.g.MaxLatency > 0 {
		// Requests known to be slower than the limit though they never
		// completed count as slow: those whose client gave up after
		// waiting longer, and those still in flight for longer (a hung
		// version answers nothing else).
		c.slow, c.ln = w.SlowerThan(r.g.MaxLatency)
	}
	// Totals never expire, so the distribution function since Watch
	// began is the current one minus the first: it is only worked out when
	// a comparison needs it (see cdf). A window that may expire is read
	// every time, to carry its increments over expiries.
	if c.cdf != nil && (r.totals == nil || !a.primed) {
		r.readCDF(a)
	}
	// The window's span moved (data expired from the source) or a count
	// went back: the difference means nothing, so start again from here.
	// (The latency sample may shrink by a request without anything having
	// gone back: one counted as slow while in flight whose client then
	// gave up too early to be surely slow. Only the counts of completed
	// requests say the source was reset.)
	rebase := !a.primed ||
		(r.totals == nil && !a.lastSince.IsZero() && !w.Since.Equal(a.lastSince)) ||
		c.n < a.last.n || c.errs < a.last.errs
	if r.totals != nil && c.cdf != nil {
		switch {
		case !a.primed:
			a.first = slices.Clone(c.cdf)
		case rebase:
			// The totals went back (the source was reset): carry on from
			// the distribution function accumulated so far.
			r.readCDF(a)
			for i, v := range c.cdf {
				a.first[i] = v - a.cum.cdf[i]
			}
		}
	}
	a.primed, a.lastSince = true, w.Since
	if !rebase {
		dn, de = c.n-a.last.n, c.errs-a.last.errs
		a.cum.n += dn
		a.cum.errs += de
		a.cum.ln += max(0, c.ln-a.last.ln)
		a.cum.slow += max(0, c.slow-a.last.slow)
		if r.totals == nil {
			for i := range c.cdf {
				a.cum.cdf[i] += max(0, c.cdf[i]-a.last.cdf[i])
			}
		}
	}
	a.last.copyFrom(c)
	return dn, de
}

// readCDF reads the distribution function of a's latest reading.
func (r *guardRun) readCDF(a *guardArm) {
	if a.dist != nil {
		cdfInto(a.cur.cdf, r.grid, a.dist)
	} else {
		clear(a.cur.cdf)
	}
	a.cdfFresh = true
}

// cdf brings a.cum.cdf up to date with the latest reading. In Window
// mode it always is.
func (r *guardRun) cdf(a *guardArm) {
	if r.totals == nil || a.cum.cdf == nil {
		return
	}
	if !a.cdfFresh {
		r.readCDF(a)
	}
	for i, v := range a.cur.cdf {
		a.cum.cdf[i] = v - a.first[i]
	}
}

// bucketLister is a Distribution that lists its buckets in increasing
// order, as *analysis.Histogram does; it is read in one pass.
type bucketLister interface {
	Buckets() iter.Seq[analysis.Bucket]
}

// cdfInto sets dst[i] to the number of samples of d at most grid[i].
func cdfInto(dst []int64, grid []time.Duration, d analysis.Distribution) {
	h, ok := d.(bucketLister)
	if !ok {
		for i, x := range grid {
			dst[i] = d.CountAtMost(x)
		}
		return
	}
	// A bucket counts as at most x when the value it stands for is, as
	// Histogram.CountAtMost does.
	var cum int64
	j := 0
	for b := range h.Buckets() {
		for j < len(grid) && grid[j] < b.Value {
			dst[j] = cum
			j++
		}
		cum += b.Count
	}
	for ; j < len(grid); j++ {
		dst[j] = cum
	}
}

// gridDist is a distribution known at the grid's points: cdf[i] samples
// are at most grid[i], and the last point counts them all. It is what the
// latency monitor reads.
type gridDist struct {
	grid []time.Duration
	cdf  []int64
}

func (d *gridDist) Count() int64 { return d.cdf[len(d.cdf)-1] }

// CountAtMost counts the samples at most the last grid point <= x.
func (d *gridDist) CountAtMost(x time.Duration) int64 {
	i := sort.Search(len(d.grid), func(i int) bool { return d.grid[i] > x })
	if i == 0 {
		return 0
	}
	return d.cdf[i-1]
}

// Quantile returns the first grid point at most which a share q of the
// samples lie (nearest rank).
func (d *gridDist) Quantile(q float64) time.Duration {
	n := d.Count()
	if n == 0 || math.IsNaN(q) {
		return 0
	}
	rank := min(max(int64(math.Ceil(q*float64(n))), 1), n)
	return d.grid[sort.Search(len(d.cdf), func(i int) bool { return d.cdf[i] >= rank })]
}

// poll reads the source, updates the tests and returns the reasons of the
// checks that fire now.
func (r *guardRun) poll() []string {
	lc := r.canary.cum.ln
	dnc, dec := r.read(&r.canary)
	dlc := r.canary.cum.ln - lc // latency observations, in flight ones too
	lb := r.base.cum.ln
	dnb, deb := r.read(&r.base)
	r.baseServed = r.base.cum.ln > lb
	updated := false
	if r.enabled[checkErrorRatio] && !r.fired[checkErrorRatio] {
		updated = r.updateRatio(dnc, dnb, dec, deb)
	}
	if r.canary.cum.n >= r.nextRestart {
		r.restart()
		r.nextRestart = r.canary.cum.n + restartEvery
	}
	if (dnc == 0 && dlc == 0 && !updated) || max(r.canary.cum.n, r.canary.cum.ln) < max(r.g.MinRequests, 1) {
		return nil // nothing new about the canary
	}
	var reasons []string
	for _, c := range []struct {
		check int
		run   bool
		judge func() (string, bool)
	}{
		{checkErrorRate, r.enabled[checkErrorRate], r.errorRate},
		{checkErrorRatio, updated, r.ratioCheck},
		{checkLatency, r.enabled[checkLatency], r.latencyLimit},
		{checkLatencyShift, r.enabled[checkLatencyShift], r.latencyShift},
	} {
		if !c.run || r.fired[c.check] {
			continue
		}
		if reason, ok := c.judge(); ok {
			r.fired[c.check] = true
			reasons = append(reasons, reason)
		}
	}
	return reasons
}

// bernoulli runs a one-sided Bernoulli test (analysis.SequentialErrorRate)
// at every live start on the canary's hits out of total since that start,
// and returns the first start whose monitor fails, with the monitor's
// result. A monitor is only updated when the likelihood ratio at the
// maximum-likelihood share — which no mixture exceeds — reaches its
// threshold, so a healthy canary costs a few logarithms per start.
func (r *guardRun) bernoulli(limit float64, mon func(*guardStart) **analysis.ErrorRateMonitor,
	get func(*guardCounts) (int64, int64)) (*guardStart, analysis.SequentialResult, bool) {
	h, n := get(&r.canary.cum)
	for _, s := range r.starts {
		h0, n0 := get(&s.c)
		hits, total := h-h0, n-n0
		if total <= 0 || float64(total)*klGreater(float64(hits)/float64(total), limit) < s.logThr {
			continue
		}
		m := mon(s)
		if *m == nil {
			test := analysis.SequentialErrorRate{Limit: limit, Alpha: s.alpha}
			var err error
			if *m, err = test.NewMonitor(); err != nil {
				continue // unreachable: limit and alpha are in (0, 1)
			}
		}
		res, err := (*m).Update(total, hits)
		if err == nil && res.Verdict == analysis.Fail {
			return s, res, true
		}
	}
	return nil, analysis.SequentialResult{}, false
}

func (r *guardRun) errorRate() (string, bool) {
	s, res, ok := r.bernoulli(r.g.MaxErrorRate,
		func(s *guardStart) **analysis.ErrorRateMonitor { return &s.errMon },
		func(c *guardCounts) (int64, int64) { return c.errs, c.n })
	if !ok {
		return "", false
	}
	errs := r.canary.cum.errs - s.c.errs
	return fmt.Sprintf("guard: canary 5xx rate %s (%s) over limit %s: e-value %s ≥ %s",
		pct(ratio(errs, res.N)), r.sample(res.N, s, r.canary.cum.n), pct(r.g.MaxErrorRate), fmtE(res.Statistic), r.thr(s)), true
}

func (r *guardRun) latencyLimit() (string, bool) {
	s, res, ok := r.bernoulli(1-r.quantile,
		func(s *guardStart) **analysis.ErrorRateMonitor { return &s.slowMon },
		func(c *guardCounts) (int64, int64) { return c.slow, c.ln })
	if !ok {
		return "", false
	}
	slow := r.canary.cum.slow - s.c.slow
	return fmt.Sprintf("guard: canary p%s latency over limit %v: %d of %d requests (%s) slower than %v, allowed %s: e-value %s ≥ %s",
		quantileName(r.quantile), r.g.MaxLatency, slow, res.N, pct(ratio(slow, res.N)), r.g.MaxLatency,
		pct(1-r.quantile), fmtE(res.Statistic), r.thr(s)), true
}

// klGreater is the Kullback-Leibler divergence of Bernoulli(p) from
// Bernoulli(p0) when p > p0, else 0: the log likelihood ratio per trial
// at the best alternative above p0.
func klGreater(p, p0 float64) float64 {
	if p <= p0 {
		return 0
	}
	kl := p * math.Log(p/p0)
	if p < 1 {
		kl += (1 - p) * math.Log((1-p)/(1-p0))
	}
	return kl
}

// sample says which requests a reason's figures cover.
func (r *guardRun) sample(n int64, s *guardStart, total int64) string {
	if s.j == 0 {
		return fmt.Sprintf("n=%d", n)
	}
	return fmt.Sprintf("n=%d, the latest of %d", n, total)
}

// updateRatio feeds one poll's increments to the error-ratio test of every
// live start. Conditional on the poll's request counts (nc canary, nb
// baseline) and its errors, each error is the canary's with probability
// s·ρ/(s·ρ + 1 − s), where s = nc/(nc+nb) and ρ is the ratio of the
// canary's error rate to the baseline's. Against the null ρ ≤ ρ0, each
// component multiplies in the likelihood ratio of the poll's errors under
// its ρ_k > ρ0 and under ρ0: the expected factor is linear in the true
// share and 1 at the boundary, so each component is a nonnegative
// supermartingale under the null, and so is their mixture — however the
// traffic split changes between polls. It reports whether anything
// changed.
func (r *guardRun) updateRatio(nc, nb, ec, eb int64) bool {
	if ec+eb == 0 || nc <= 0 || nb <= 0 || ec < 0 || eb < 0 || ec > nc || eb > nb {
		return false // no errors, or a version had no traffic: no information
	}
	odds := float64(nc) / float64(nb)
	s0 := share(odds * r.ratio)
	a, b := float64(ec), float64(eb)
	var f [rrComponents]float64
	for k, lr := range r.rrLogRho {
		q := share(odds * math.Exp(lr))
		f[k] = a*math.Log(q/s0) + b*(math.Log1p(-q)-math.Log1p(-s0))
	}
	for _, s := range r.starts {
		for k := range f {
			s.rr[k] += f[k]
		}
	}
	return true
}

// rrComponents is the size of the error-ratio mixture.
const rrComponents = 27

// share turns odds into a probability.
func share(odds float64) float64 { return odds / (1 + odds) }

func (r *guardRun) ratioCheck() (string, bool) {
	for _, s := range r.starts {
		m := math.Inf(-1)
		for _, v := range s.rr {
			m = max(m, v)
		}
		if m < s.logThr {
			continue // the mixture is at most its largest component
		}
		var sum float64
		for _, v := range s.rr {
			sum += math.Exp(v - m)
		}
		logE := m + math.Log(sum/rrComponents)
		if logE < s.logThr {
			continue
		}
		c, b := &r.canary.cum, &r.base.cum
		cn, ce := c.n-s.c.n, c.errs-s.c.errs
		bn, be := b.n-s.b.n, b.errs-s.b.errs
		var beyond string
		if r.ratio != 1 {
			beyond = fmt.Sprintf(" beyond ratio %g", r.ratio)
		}
		return fmt.Sprintf("guard: canary 5xx rate %s (%s) worse than baseline %s (n=%d)%s: e-value %s ≥ %s",
			pct(ratio(ce, cn)), r.sample(cn, s, c.n), pct(ratio(be, bn)), bn, beyond, fmtE(logE), r.thr(s)), true
	}
	return "", false
}

// latencyShift runs the distribution comparison
// (analysis.SequentialLatency) at every live start on both versions'
// latencies since that start. A start is looked at again only once its
// canary sample has grown by an eighth, and its monitor is only updated
// when the largest gap over the whole grid — the monitor looks at a
// subset of those points — exceeds its bands: looking less often never
// costs validity, and it keeps the cost small.
//
// It looks only in a poll in which the baseline served too: with the
// canary at 100% the baseline's distribution is that of an earlier time,
// and a machine that got busier since (more load, a neighbour) would show
// as a slower canary. (Seen in the demo on a loaded machine: a healthy
// canary rolled back at its 100% step, 40% of its requests within 6 ms
// against 78% of the baseline's from the steps before.)
func (r *guardRun) latencyShift() (string, bool) {
	if !r.baseServed {
		return "", false
	}
	c, b := &r.canary.cum, &r.base.cum
	last := len(r.grid) - 1
	for _, s := range r.starts {
		if c.ln-s.c.ln < s.dkwAt || b.ln-s.b.ln <= 0 {
			continue
		}
		s.dkwAt = c.ln - s.c.ln + max(1, (c.ln-s.c.ln)/8)
		r.cdf(&r.canary)
		r.cdf(&r.base)
		for i := range r.grid {
			r.cv.cdf[i] = c.cdf[i] - s.c.cdf[i]
			r.bv.cdf[i] = b.cdf[i] - s.b.cdf[i]
		}
		cn, bn := r.cv.cdf[last], r.bv.cdf[last]
		if cn <= 0 || bn <= 0 {
			continue
		}
		// The monitor's bands are at α/2 each.
		need := r.g.LatencyTolerance + stats.DKWRadius(cn, s.alpha/2) + stats.DKWRadius(bn, s.alpha/2)
		if need >= 1 {
			continue // too few requests yet to tell anything apart
		}
		worst := math.Inf(-1)
		for i, k := range r.slackAt {
			var fc float64
			if k >= 0 {
				fc = float64(r.cv.cdf[k]) / float64(cn)
			}
			worst = max(worst, float64(r.bv.cdf[i])/float64(bn)-fc)
		}
		if worst <= need {
			continue
		}
		if s.latMon == nil {
			test := analysis.SequentialLatency{Slack: r.g.LatencySlack, Margin: r.g.LatencyTolerance, Alpha: s.alpha}
			var err error
			if s.latMon, err = test.NewMonitor(); err != nil {
				continue // unreachable: validated settings
			}
		}
		res, err := s.latMon.Update(&r.cv, &r.bv)
		if err != nil || res.Verdict != analysis.Fail {
			continue
		}
		// Report the point of the largest gap.
		at, gap := 0, math.Inf(-1)
		for i, k := range r.slackAt[:last] {
			var fc float64
			if k >= 0 {
				fc = float64(r.cv.cdf[k]) / float64(cn)
			}
			if g := float64(r.bv.cdf[i])/float64(bn) - fc; g > gap {
				at, gap = i, g
			}
		}
		k := r.slackAt[at]
		var fc float64
		if k >= 0 {
			fc = float64(r.cv.cdf[k]) / float64(cn)
		}
		var slack string
		if r.g.LatencySlack != 0 {
			slack = fmt.Sprintf(" (+%s slack: %v)", pct(r.g.LatencySlack), scale(r.grid[at], r.g.LatencySlack).Round(time.Microsecond))
		}
		return fmt.Sprintf("guard: canary latency slower than baseline: %s of canary requests (%s) took at most %v%s vs %s of baseline requests (n=%d), a gap of %s > bands %s + tolerance %s: p=%.2g ≤ %.2g (α=%g split over %s)",
			pct(fc), r.sample(cn, s, c.ln), r.grid[at].Round(time.Microsecond), slack,
			pct(float64(r.bv.cdf[at])/float64(bn)), bn, pct(gap), pct(need-r.g.LatencyTolerance), pct(r.g.LatencyTolerance),
			res.PValue, s.alpha, r.alphaEff*float64(r.g.checks()), r.splitText()), true
	}
	return "", false
}

// thr is the threshold a start's e-value had to reach, 1/(α·w_j), with the
// level it comes from.
func (r *guardRun) thr(s *guardStart) string {
	return fmt.Sprintf("%s (α=%g split over %s)", fmtE(s.logThr), r.alphaEff*float64(r.g.checks()), r.splitText())
}

func (r *guardRun) splitText() string {
	if k := r.g.checks(); k > 1 {
		return fmt.Sprintf("%d checks and restarts", k)
	}
	return "restarts"
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// pct formats a share as a percentage: 1 decimal from 0.1% up, 2
// significant digits below.
func pct(v float64) string {
	p := 100 * v
	if p == 0 || math.Abs(p) >= 0.1 {
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%.2g%%", p)
}

// quantileName renders 0.99 as "99" and 0.999 as "99.9".
func quantileName(q float64) string { return trimFloat(100 * q) }

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// fmtE formats e^logE compactly: "37", "1.2e4", "3.0e152" (no overflow).
func fmtE(logE float64) string {
	if logE < math.Log(1e4) {
		return fmt.Sprintf("%.0f", math.Exp(logE))
	}
	l10 := logE / math.Ln10
	exp := math.Floor(l10)
	mant := math.Pow(10, l10-exp)
	if mant >= 9.95 {
		mant, exp = 1, exp+1
	}
	return fmt.Sprintf("%.1fe%d", mant, int(exp))
}
