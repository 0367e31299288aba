package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ramp-go/ramp/analysis"
)

// SourceConfig configures a Source. Client and Queries are required.
type SourceConfig struct {
	// Client queries Prometheus.
	Client *Client
	// Queries maps each metric name (an analysis.CompareMetric's Name) to
	// its query template (see Template). At least one.
	Queries map[string]string
	// Window is the span sampled when the analysis.Query has no Since.
	// 0 means DefaultWindow (5 min); it must not be negative.
	Window time.Duration
	// Step is the distance between points, and the value of {{step}}.
	// 0 means a sixtieth of the window, rounded down to whole seconds and
	// at least 1 s; it must not be negative. Prometheus refuses more than
	// 11,000 points per series.
	Step time.Duration
	// Vars declares template variables of the host's own, as for Config.
	Vars map[string]string
	// Units gives metrics their unit, by name. A metric with a unit has
	// its samples checked against the unit's domain (as Metric.Unit): a
	// point outside it (a ratio of -0.5, a negative duration, ±Inf) makes
	// Range fail with an error wrapping ErrImpossible, naming the metric
	// and the value, so that the comparison is an Error rather than a
	// verdict on impossible data. NaN points (0/0) pass through for the
	// judge's NaN strategy. A metric without a unit is not checked.
	Units map[string]Unit
	// Now tells the time at which an analysis.Query without Until ends.
	// nil: time.Now.
	Now func() time.Time
	// Logger, when not nil, receives a debug record for every query.
	Logger *slog.Logger
}

// Source samples metrics over the analysis window with range queries: one
// value per point, for judges that compare distributions, such as the
// Mann-Whitney analysis.Comparison. It implements analysis.SampleSource
// and is safe for concurrent use.
type Source struct {
	scope
	queries map[string]*Template
	units   map[string]Unit
	log     *slog.Logger
}

var _ analysis.SampleSource = (*Source)(nil)

// NewSource checks cfg and returns a Source, reporting every problem at
// once as New does.
func NewSource(cfg SourceConfig) (*Source, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("prometheus source: "+format, args...))
	}
	s := &Source{scope: newScope(cfg.Client, cfg.Window, cfg.Step, cfg.Vars, cfg.Now, fail), queries: map[string]*Template{}, units: cfg.Units, log: cfg.Logger}
	for _, name := range sortedKeys(cfg.Units) {
		if u := cfg.Units[name]; u < Number || u > Seconds {
			fail("Units[%q]: %d is unknown", name, int(u))
		} else if _, ok := cfg.Queries[name]; !ok {
			fail("Units[%q]: no query of that name", name)
		}
	}
	if len(cfg.Queries) == 0 {
		fail("Queries is empty: nothing to sample")
	}
	for _, name := range sortedKeys(cfg.Queries) {
		text := cfg.Queries[name]
		switch {
		case name == "":
			fail("Queries: a metric name is empty")
		case strings.TrimSpace(text) == "":
			fail("Queries[%q] is empty", name)
		default:
			t, err := s.checkTemplate(text)
			if err != nil {
				fail("Queries[%q]: %w", name, err)
			}
			s.queries[name] = t
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Samples are the values of a metric's query over the analysis window.
type Samples struct {
	// Canary and Baseline hold every point's value, series after series
	// in the order Prometheus returned them, NaN and ±Inf included
	// (judges decide what to do with them). Baseline is nil when the
	// analysis.Query names no baseline.
	Canary   []float64
	Baseline []float64
	// CanaryQuery and BaselineQuery are the queries as run.
	CanaryQuery   string
	BaselineQuery string
	// Warnings are Prometheus's warnings about either query.
	Warnings []string
}

// ErrUnknownMetric is wrapped by the error for a metric name the Source
// has no query for.
var ErrUnknownMetric = errors.New("unknown metric")

// Samples implements analysis.SampleSource: see Range.
func (s *Source) Samples(ctx context.Context, q analysis.Query, metric string) (canary, baseline []float64, err error) {
	r, err := s.Range(ctx, q, metric)
	return r.Canary, r.Baseline, err
}

// Range runs the query of metric as a range query over the window of q —
// one point every Step from its start to its end (q.Until, or now) —
// once for q.Canary and, when q names one, once for q.Baseline,
// concurrently. A query yielding several series contributes the points of
// all of them: per-instance series are more samples of the same
// distribution. A window under a millisecond (a step that has just
// begun) yields no samples and no error, so that a judge says NoData
// rather than Error.
//
// Errors are as for Client.QueryRange, plus bad input (no canary, Since
// after Until) and a metric without a query (wrapping ErrUnknownMetric).
func (s *Source) Range(ctx context.Context, q analysis.Query, metric string) (Samples, error) {
	t := s.queries[metric]
	if t == nil {
		return Samples{}, fmt.Errorf("prometheus source: %w %q (have %s)", ErrUnknownMetric, metric, strings.Join(sortedKeys(s.queries), ", "))
	}
	if q.Canary == "" {
		return Samples{}, errors.New("prometheus source: query Canary is empty: nothing to sample")
	}
	at, window, step, err := s.span(q)
	if errors.Is(err, ErrEmptyWindow) {
		return Samples{}, nil
	}
	if err != nil {
		return Samples{}, err
	}
	rng := Range{Start: at.Add(-window), End: at, Step: step}

	var out Samples
	if out.CanaryQuery, err = t.Render(s.varsFor(q, roleCanary, q.Canary, window, step)); err != nil {
		return Samples{}, fmt.Errorf("prometheus source: metric %q: canary: %w", metric, err)
	}
	if q.Baseline != "" {
		if out.BaselineQuery, err = t.Render(s.varsFor(q, roleBaseline, q.Baseline, window, step)); err != nil {
			return Samples{}, fmt.Errorf("prometheus source: metric %q: baseline: %w", metric, err)
		}
	}
	var canaryWarn, baseWarn []string
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		out.Canary, canaryWarn, err = s.values(gctx, out.CanaryQuery, rng)
		if err != nil {
			return fmt.Errorf("prometheus source: metric %q: canary: %w (query: %s)", metric, err, out.CanaryQuery)
		}
		return nil
	})
	if out.BaselineQuery != "" {
		g.Go(func() error {
			var err error
			out.Baseline, baseWarn, err = s.values(gctx, out.BaselineQuery, rng)
			if err != nil {
				return fmt.Errorf("prometheus source: metric %q: baseline: %w (query: %s)", metric, err, out.BaselineQuery)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Samples{}, err
	}
	if u, ok := s.units[metric]; ok {
		for _, side := range []struct {
			name, query string
			vals        []float64
		}{{"canary", out.CanaryQuery, out.Canary}, {"baseline", out.BaselineQuery, out.Baseline}} {
			for _, v := range side.vals {
				if v != v { // NaN: the judge's NaN strategy decides
					continue
				}
				if err := u.check(v); err != nil {
					return Samples{}, fmt.Errorf("prometheus source: metric %q: %s: %w (query: %s)", metric, side.name, err, side.query)
				}
			}
		}
	}
	out.Warnings = append(canaryWarn, baseWarn...)
	return out, nil
}

func (s *Source) values(ctx context.Context, query string, r Range) ([]float64, []string, error) {
	began := time.Now()
	m, warnings, err := s.client.QueryRange(ctx, query, r)
	if s.log != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "prometheus range query",
			slog.String("query", query), slog.Time("start", r.Start), slog.Time("end", r.End),
			slog.Duration("step", r.Step), slog.Duration("took", time.Since(began)), slog.Any("error", err))
	}
	if err != nil {
		return nil, nil, err
	}
	n := 0
	for _, ss := range m {
		n += len(ss.Values)
	}
	vals := make([]float64, 0, n)
	for _, ss := range m {
		if len(ss.Histograms) > 0 {
			return nil, warnings, fmt.Errorf("series %s holds native histograms, not numbers; use histogram_quantile() or the like", ss.Metric)
		}
		for _, p := range ss.Values {
			vals = append(vals, float64(p.Value))
		}
	}
	return vals, warnings, nil
}
