package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// proxy is the running program: the splitter in front of the two
// upstreams, the recorder that sees every response, and the rollout.
type proxy struct {
	cfg      *config
	log      *slog.Logger
	rec      *analysis.Recorder
	splitter *traffic.Splitter
	rollout  *ramp.Rollout
	events   *admin.Events
	admin    *admin.Handler
}

func newProxy(ctx context.Context, cfg *config, log *slog.Logger) (*proxy, error) {
	p := &proxy{cfg: cfg, log: log, events: &admin.Events{}}

	// The recorder must remember a whole step, the span the analysis
	// judges, and then some: a step without enough requests yet is
	// extended. Slices of a thirtieth of the longest step keep the memory
	// fixed (64 slices, about 250 KiB per version) whatever the durations.
	longest := time.Duration(0)
	for _, s := range cfg.steps {
		longest = max(longest, s.Hold)
	}
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{
		SliceDuration: max(longest/30, 10*time.Millisecond),
		Slices:        64,
	}, cfg.stableVersion, cfg.canaryVersion)
	if err != nil {
		return nil, err
	}
	p.rec = rec

	backends := map[string]http.Handler{}
	for version, target := range map[string]*url.URL{cfg.stableVersion: cfg.stable, cfg.canaryVersion: cfg.canary} {
		backend, err := traffic.NewBackend(target, traffic.BackendOptions{})
		if err != nil {
			return nil, err
		}
		backends[version] = backend
	}
	p.splitter, err = traffic.NewSplitter(backends, traffic.Options{
		StickyKey: cfg.stickyKey,
		Observer:  rec,
	})
	if err != nil {
		return nil, err
	}

	store := ramp.Store(nil)
	if cfg.statePath != "" {
		store = ramp.NewFileStore(cfg.statePath)
	}
	guard := p.guard(rec)
	if err := guard.Validate(); err != nil {
		return nil, err
	}
	r, err := ramp.New(ctx, ramp.Config{
		Stable:           cfg.stableVersion,
		Canary:           cfg.canaryVersion,
		Strategy:         strategy.Canary{Steps: p.steps(rec)},
		Router:           p.splitter,
		Triggers:         []rollback.Trigger{guard},
		Store:            store,
		ProgressDeadline: cfg.progressDeadline,
		RollbackWindow:   cfg.rollbackWindow,
		OnEvent:          p.onEvent,
	})
	if err != nil {
		return nil, err
	}
	p.rollout = r

	// Until the rollout applies its first route, requests go where the
	// saved state says (all to stable for a new rollout): a restarted
	// proxy keeps a promoted canary promoted.
	st := r.Status()
	percent := 0.0
	switch st.Phase {
	case ramp.Succeeded, ramp.Progressing, ramp.Paused:
		percent = st.Percent
	}
	if st.Phase != ramp.Pending {
		log.Info("state restored", "file", cfg.statePath, "phase", st.Phase.String(), "step", st.Step, "canary_percent", st.Percent)
	}
	if err := p.splitter.Apply(ctx, traffic.Split(cfg.stableVersion, cfg.canaryVersion, percent)); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	recMetrics, err := analysis.NewCollector(rec, analysis.CollectorOptions{})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(recMetrics, ramp.NewCollector(r),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.admin = admin.NewHandler(r, admin.Options{
		Token:     cfg.adminToken,
		Steps:     cfg.steps,
		Figures:   rec,
		Upstreams: map[string]string{cfg.stableVersion: cfg.stable.Redacted(), cfg.canaryVersion: cfg.canary.Redacted()},
		Limits:    admin.Limits{MaxErrorRate: cfg.maxErrorRate, MaxP99: cfg.maxP99, MinSamples: cfg.minSamples},
		Events:    p.events,
		Metrics:   promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Logger:    log,
	})
	return p, nil
}

// steps gives every step its analysis: thresholds on the canary's requests
// of the step, judged first when the step's duration is over (so the
// whole step is judged), then again every tenth of it while there are not
// yet -min-samples requests.
func (p *proxy) steps(rec *analysis.Recorder) []strategy.Step {
	errRate := analysis.ErrorRate(p.cfg.maxErrorRate)
	errRate.MinSamples = p.cfg.minSamples
	p99 := analysis.LatencyQuantile(0.99, p.cfg.maxP99)
	p99.MinSamples = p.cfg.minSamples
	judge := &analysis.Thresholds{Source: rec, Rules: []analysis.Threshold{errRate, p99}}

	steps := make([]strategy.Step, len(p.cfg.steps))
	for i, s := range p.cfg.steps {
		s.Analysis = &strategy.Analysis{
			Analyzer: judge,
			Policy: analysis.Policy{
				InitialDelay: s.Hold,
				Interval:     min(max(s.Hold/10, 100*time.Millisecond), 10*time.Second),
				Count:        1,
			},
		}
		steps[i] = s
	}
	return steps
}

// guard watches every canary response from the start of the rollout to its
// end, with the limits of the step analysis, and rolls back as soon as its
// sequential tests are confident a limit is exceeded — after a handful of
// requests for a clearly bad canary, while a canary within the limits
// trips it with probability at most 1% over the whole rollout.
func (p *proxy) guard(rec *analysis.Recorder) *rollback.Guard {
	g := &rollback.Guard{Source: rec, MaxLatency: p.cfg.maxP99, LatencyQuantile: 0.99}
	switch {
	case p.cfg.maxErrorRate == 0:
		// No 5xx is allowed at all: the step analysis fails on the first
		// one; the guard fires when the canary does worse than stable.
		g.CompareErrorRate = true
	case p.cfg.maxErrorRate < 1:
		g.MaxErrorRate = p.cfg.maxErrorRate
	}
	return g
}

func (p *proxy) onEvent(e ramp.Event) {
	p.events.Add(e)
	attrs := []any{"step", e.Step, "canary_percent", e.Percent, "phase", e.Phase.String()}
	if e.Result != nil {
		attrs = append(attrs, "verdict", e.Result.Verdict.String())
	}
	if e.Reason != "" {
		attrs = append(attrs, "reason", e.Reason)
	}
	level := slog.LevelInfo
	switch e.Kind {
	case ramp.EventRollingBack, ramp.EventRolledBack, ramp.EventRouterError, ramp.EventTriggerError:
		level = slog.LevelWarn
	}
	p.log.Log(context.Background(), level, e.Kind.String(), attrs...)
}
