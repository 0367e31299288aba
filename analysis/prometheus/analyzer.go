package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"

	"github.com/ramp-go/ramp/analysis"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultWindow      = 5 * time.Minute
	DefaultConcurrency = 4
)

// Config configures an Analyzer. Client and Metrics are required.
type Config struct {
	// Client queries Prometheus.
	Client *Client
	// Metrics are judged at every analysis, concurrently. At least one.
	Metrics []Metric
	// Window is the span analysed when the analysis.Query has no Since
	// (ending at its Until, or now). 0 means DefaultWindow (5 min); it
	// must not be negative.
	Window time.Duration
	// Step is the value of {{step}} (a subquery resolution, say). 0 means
	// a sixtieth of the window, rounded down to whole
	// seconds, and at least 1 s; it must not be negative.
	Step time.Duration
	// Vars declares template variables of the host's own, with their
	// default values; an analysis.Query's Vars override the defaults of
	// those declared here (and only those). A template may use only
	// built-in variables and the ones declared here. nil: none.
	Vars map[string]string
	// Concurrency bounds the queries in flight at once. 0 means
	// DefaultConcurrency (4); it must not be negative.
	Concurrency int
	// Now tells the time at which an analysis.Query without Until is
	// evaluated. nil: time.Now.
	Now func() time.Time
	// Logger, when not nil, receives a debug record for every query.
	Logger *slog.Logger
}

// Analyzer judges a canary by PromQL queries. It implements
// analysis.Analyzer and is safe for concurrent use.
type Analyzer struct {
	scope
	metrics []compiled
	conc    int
	log     *slog.Logger
}

type compiled struct {
	Metric
	query *Template
	count *Template
}

var _ analysis.Analyzer = (*Analyzer)(nil)

// New checks cfg and returns an Analyzer. It reports every problem at
// once, naming the metric, the field and the value: a template that does
// not parse, refers to an unknown variable, or puts a name outside a
// string literal; a threshold or tolerance that is NaN or out of order; a
// negative window, step or concurrency.
func New(cfg Config) (*Analyzer, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("prometheus analyzer: "+format, args...))
	}
	a := &Analyzer{scope: newScope(cfg.Client, cfg.Window, cfg.Step, cfg.Vars, cfg.Now, fail), conc: cfg.Concurrency, log: cfg.Logger}
	if cfg.Concurrency < 0 {
		fail("Concurrency %d is negative", cfg.Concurrency)
	}
	if len(cfg.Metrics) == 0 {
		fail("Metrics is empty: nothing to judge")
	}

	seen := map[string]bool{}
	for i, m := range cfg.Metrics {
		label := fmt.Sprintf("metric %d %q", i, m.Name)
		if m.Name == "" {
			fail("metric %d: Name is empty", i)
		} else if seen[m.Name] {
			fail("%s: Name is used by an earlier metric", label)
		}
		seen[m.Name] = true
		c := compiled{Metric: m}
		var err error
		if strings.TrimSpace(m.Query) == "" {
			fail("%s: Query is empty", label)
		} else if c.query, err = a.checkTemplate(m.Query); err != nil {
			fail("%s: Query: %w", label, err)
		}
		if m.Count != "" {
			if c.count, err = a.checkTemplate(m.Count); err != nil {
				fail("%s: Count: %w", label, err)
			}
		}
		if !(m.MinCount >= 0) || math.IsInf(m.MinCount, 1) {
			fail("%s: MinCount %g must be a finite number >= 0", label, m.MinCount)
		} else if m.MinCount > 0 && m.Count == "" {
			fail("%s: MinCount %g is set but Count is empty: nothing to count", label, m.MinCount)
		}
		if m.Threshold.isZero() && m.Compare == nil {
			fail("%s: judges nothing: set Threshold, Compare or both", label)
		}
		for _, e := range m.Threshold.validate() {
			fail("%s: %w", label, e)
		}
		if m.Compare != nil {
			for _, e := range m.Compare.validate() {
				fail("%s: %w", label, e)
			}
		}
		if m.Unit < Number || m.Unit > Seconds {
			fail("%s: Unit %d is unknown", label, int(m.Unit))
		}
		a.metrics = append(a.metrics, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if a.conc == 0 {
		a.conc = DefaultConcurrency
	}
	return a, nil
}

// Metrics returns the metrics the analyzer judges, in order.
func (a *Analyzer) Metrics() []Metric {
	out := make([]Metric, len(a.metrics))
	for i, m := range a.metrics {
		out[i] = m.Metric
	}
	return out
}

// reading is what one query said.
type reading struct {
	query    string
	ran      bool
	value    float64
	series   string // the labels of the sample read
	noData   string // why there is no value, when there is none
	err      error
	warnings []string
}

func (r *reading) ok() bool { return r.ran && r.err == nil && r.noData == "" }

// runs holds the four readings of a metric (value and count, for canary
// and baseline); nil when not run.
type runs struct {
	canary, canaryN, baseline, baselineN *reading
}

// Analyze judges the canary q.Canary (and, for metrics with a
// Comparison, against q.Baseline) over the window of q: from q.Since (or
// Config.Window before q.Until) to q.Until (or now). Every metric's
// queries run concurrently at that instant. A window under a millisecond
// (a step that has just begun) is NoData; Since after Until is an Error.
//
// The verdict is the worst of the metrics' that are not dry-run, in the
// order Fail, Error, NoData, Pass (all dry-run: Pass); see the package
// doc for the rules of each metric. The returned error is not nil exactly
// when the verdict is Error: it joins the failures of the source, and
// the Result still carries every metric's evidence.
func (a *Analyzer) Analyze(ctx context.Context, q analysis.Query) (analysis.Result, error) {
	at, window, step, err := a.span(q)
	res := analysis.Result{At: at}
	if err == nil && q.Canary == "" {
		err = errors.New("prometheus analyzer: query Canary is empty: nothing to analyse")
	}
	if err == nil && q.Baseline == "" {
		for _, m := range a.metrics {
			if m.Compare != nil && !m.DryRun {
				err = fmt.Errorf("prometheus analyzer: query Baseline is empty but metric %q compares with the baseline", m.Name)
				break
			}
		}
	}
	if errors.Is(err, ErrEmptyWindow) {
		res.Verdict, res.Reason = analysis.NoData, "no data: "+err.Error()
		return res, nil
	}
	if err != nil {
		res.Verdict, res.Reason = analysis.Error, err.Error()
		return res, err
	}

	cv := a.varsFor(q, roleCanary, q.Canary, window, step)
	var bv map[string]string
	if q.Baseline != "" {
		bv = a.varsFor(q, roleBaseline, q.Baseline, window, step)
	}
	all := make([]runs, len(a.metrics))
	g := new(errgroup.Group)
	g.SetLimit(a.conc)
	start := func(t *Template, vars map[string]string, count bool) *reading {
		r := &reading{}
		r.query, r.err = t.Render(vars)
		if r.err != nil {
			r.query = t.String() // the reason quotes the template instead
			return r
		}
		g.Go(func() error {
			a.read(ctx, r, at, count)
			return nil
		})
		return r
	}
	for i, m := range a.metrics {
		all[i].canary = start(m.query, cv, false)
		if m.count != nil {
			all[i].canaryN = start(m.count, cv, true)
		}
		if bv != nil {
			all[i].baseline = start(m.query, bv, false)
			if m.count != nil {
				all[i].baselineN = start(m.count, bv, true)
			}
		}
	}
	_ = g.Wait() // readings carry their own errors

	var errs []error
	worst := analysis.Pass
	decided := false
	for i, m := range a.metrics {
		meas, merr := judge(m, all[i])
		res.Metrics = append(res.Metrics, meas)
		if m.DryRun {
			continue
		}
		if merr != nil {
			errs = append(errs, fmt.Errorf("metric %q: %w", m.Name, merr))
		}
		if !decided || rank(meas.Verdict) > rank(worst) {
			worst = meas.Verdict
		}
		decided = true
	}
	res.Verdict = worst
	var reasons []string
	for _, meas := range res.Metrics {
		if !meas.DryRun && meas.Verdict == worst {
			reasons = append(reasons, meas.Reason)
		}
	}
	if !decided {
		reasons = append(reasons, "every metric is dry-run: measured, not judged")
	}
	res.Reason = strings.Join(reasons, "; ")
	if worst == analysis.Error {
		return res, errors.Join(errs...)
	}
	return res, nil
}

// rank orders verdicts for combining: the higher wins. A proven failure
// outranks a failing source, which outranks missing data, which outranks a
// pass.
func rank(v analysis.Verdict) int {
	switch v {
	case analysis.Pass:
		return 0
	case analysis.NoData:
		return 1
	case analysis.Error:
		return 2
	case analysis.Fail:
		return 3
	}
	return 2
}

// read runs an instant query and extracts its one value into r.
func (a *Analyzer) read(ctx context.Context, r *reading, at time.Time, count bool) {
	began := time.Now()
	resp, err := a.client.Query(ctx, r.query, at)
	if a.log != nil {
		a.log.LogAttrs(ctx, slog.LevelDebug, "prometheus query",
			slog.String("query", r.query), slog.Time("at", at),
			slog.Duration("took", time.Since(began)), slog.Any("error", err))
	}
	r.ran = true
	if err != nil {
		r.err = err
		return
	}
	r.warnings = resp.Warnings
	r.value, r.series, r.noData, r.err = extract(resp.Value)
	if count && r.noData == noSeries {
		// Nothing counted is a count of 0.
		r.value, r.noData = 0, ""
	}
}

const noSeries = "no series"

// ErrSeries is wrapped by the error for a query that returns several
// series where one value is expected.
var ErrSeries = errors.New("several series where one is expected")

// extract returns the one number in v, or why there is none (noData), or
// an error when v has the wrong shape.
func extract(v model.Value) (value float64, series, noData string, err error) {
	switch v := v.(type) {
	case *model.Scalar:
		value = float64(v.Value)
	case model.Vector:
		switch len(v) {
		case 0:
			return math.NaN(), "", noSeries, nil
		case 1:
		default:
			return math.NaN(), "", "", fmt.Errorf("%w: %d series: %s; aggregate them (sum, max, ...) or narrow the selector", ErrSeries, len(v), seriesList(v))
		}
		s := v[0]
		series = s.Metric.String()
		if s.Histogram != nil {
			return math.NaN(), series, "", fmt.Errorf("series %s is a native histogram, not a number; use histogram_quantile(), histogram_count() or the like", series)
		}
		value = float64(s.Value)
	case model.Matrix:
		return math.NaN(), "", "", fmt.Errorf("%w: result is a range vector (matrix) of %d series; the query must yield an instant vector or a scalar: apply rate(), avg_over_time() or the like to the range", ErrDecode, len(v))
	case nil:
		return math.NaN(), "", "", fmt.Errorf("%w: no result", ErrDecode)
	default:
		return math.NaN(), "", "", fmt.Errorf("%w: result is a %s; the query must yield an instant vector or a scalar", ErrDecode, v.Type())
	}
	// NaN is 0/0: nothing to measure. An infinity is passed on, to be
	// judged impossible (an Error) against the metric's unit.
	if math.IsNaN(value) {
		return value, series, "value is NaN (a ratio of zero to zero: no requests in the window?)", nil
	}
	return value, series, "", nil
}

// seriesList names up to 5 series.
func seriesList(v model.Vector) string {
	const max = 5
	var b strings.Builder
	for i, s := range v {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(v)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.Metric.String())
	}
	return b.String()
}
