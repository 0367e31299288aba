package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/fleet"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

type proxy struct {
	cfg      config
	log      *slog.Logger
	rec      *analysis.Recorder
	splitter *traffic.Splitter
	replica  *fleet.Replica
	source   *fleet.Source
	steps    []strategy.Step

	mu      sync.Mutex
	rollout *ramp.Rollout // while this replica leads
	driven  error         // Drive's result once it returned
	done    bool
}

func newProxy(ctx context.Context, cfg config, cli *clientv3.Client, adminURL string, log *slog.Logger) (*proxy, error) {
	steps, err := strategy.ParseSteps(cfg.steps)
	if err != nil {
		return nil, err
	}
	p := &proxy{cfg: cfg, log: log, steps: steps}
	if p.rec, err = analysis.NewRecorder(analysis.RecorderOptions{SliceDuration: 100 * time.Millisecond, Slices: 600},
		cfg.stableVersion, cfg.canaryVersion); err != nil {
		return nil, err
	}
	backends := map[string]http.Handler{}
	for version, target := range map[string]*url.URL{cfg.stableVersion: cfg.stable, cfg.canaryVersion: cfg.canary} {
		b, err := traffic.NewBackend(target, traffic.BackendOptions{})
		if err != nil {
			return nil, err
		}
		backends[version] = b
	}
	// Until the fleet's route is applied (Join does it before returning),
	// everything goes to stable.
	if p.splitter, err = traffic.NewSplitter(backends, traffic.Options{
		Route: traffic.Split(cfg.stableVersion, cfg.canaryVersion, 0), Observer: p.rec}); err != nil {
		return nil, err
	}
	if p.replica, err = fleet.Join(ctx, fleet.Config{Client: cli, Service: cfg.service, ID: cfg.replica, TTL: cfg.ttl,
		Router: p.splitter, Admin: adminURL, Logger: log}); err != nil {
		return nil, err
	}
	// Pulls are loopback or LAN round trips: a replica that does not
	// answer within 300 ms (stopped) is left out rather than slow the guard.
	p.source = p.replica.NewSource(300 * time.Millisecond)
	return p, nil
}

func (p *proxy) close() { _ = p.replica.Close() }

// drive takes part in the fleet's rollout: the leader runs it, judged on
// the fleet's merged windows.
func (p *proxy) drive(ctx context.Context) {
	errRate := analysis.ErrorRate(p.cfg.maxErrorRate)
	errRate.MinSamples = p.cfg.minSamples
	judge := &analysis.Thresholds{Source: p.source, Rules: []analysis.Threshold{errRate}}
	steps := make([]strategy.Step, len(p.steps))
	for i, s := range p.steps {
		if s.Hold > 0 {
			s.Analysis = &strategy.Analysis{Analyzer: judge, Policy: analysis.Policy{
				InitialDelay: s.Hold, Interval: min(max(s.Hold/10, 100*time.Millisecond), 10*time.Second), Count: 1}}
		}
		steps[i] = s
	}
	err := p.replica.Drive(ctx, ramp.Config{
		Stable: p.cfg.stableVersion, Canary: p.cfg.canaryVersion,
		Strategy: strategy.Canary{Steps: steps},
		Router:   p.splitter, // replaced by the fleet's router
		Triggers: []rollback.Trigger{&rollback.Guard{Source: p.source, MaxErrorRate: p.cfg.maxErrorRate,
			PollInterval: 50 * time.Millisecond, Logger: p.log.With("guard", "fleet")}},
		ProgressDeadline: p.cfg.progressDeadline,
		Logger:           p.log,
	}, func(r *ramp.Rollout) {
		p.mu.Lock()
		p.rollout = r
		p.mu.Unlock()
	})
	p.mu.Lock()
	p.driven, p.done = err, true
	p.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		p.log.Error("fleet rollout", "err", err)
	}
}

// guardLocally watches this replica's own canary traffic: when it fails,
// the replica moves to stable at once and asks the leader to roll back.
func (p *proxy) guardLocally(ctx context.Context) {
	g := &rollback.Guard{Source: p.rec, MaxErrorRate: p.cfg.maxErrorRate, PollInterval: 20 * time.Millisecond, Logger: p.log.With("guard", "local")}
	var once sync.Once
	err := g.Watch(ctx, rollback.Target{Stable: p.cfg.stableVersion, Canary: p.cfg.canaryVersion}, func(reason string) {
		once.Do(func() {
			go func() {
				fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if err := p.replica.Failsafe(fctx, reason); err != nil {
					p.log.Warn("failsafe: the leader did not confirm the rollback", "err", err)
				}
			}()
		})
	})
	if err != nil {
		p.log.Error("local guard", "err", err)
	}
}

type windowJSON struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
}

type statusJSON struct {
	Fleet   fleet.Status          `json:"fleet"`
	Rollout *ramp.Status          `json:"rollout,omitempty"` // while this replica leads
	Done    bool                  `json:"done"`              // this replica's part of the rollout is over
	Local   map[string]windowJSON `json:"local"`             // this replica's own traffic
	Merged  map[string]windowJSON `json:"merged,omitempty"`  // the fleet's, on the leader
}

func (p *proxy) status(ctx context.Context) statusJSON {
	st := statusJSON{Fleet: p.replica.Status(ctx), Local: map[string]windowJSON{}}
	p.mu.Lock()
	if p.rollout != nil && st.Fleet.Leader == st.Fleet.Self {
		s := p.rollout.Status()
		st.Rollout = &s
	}
	st.Done = p.done
	p.mu.Unlock()
	for _, v := range []string{p.cfg.stableVersion, p.cfg.canaryVersion} {
		w := p.rec.Total(v)
		st.Local[v] = windowJSON{Requests: w.Requests, Errors: w.Errors, ErrorRate: w.ErrorRate()}
	}
	if st.Rollout != nil && st.Fleet.Error == "" {
		// Both versions at once: a replica that does not answer (stopped)
		// costs one pull timeout, not two.
		now := time.Now()
		vs := []string{p.cfg.stableVersion, p.cfg.canaryVersion}
		ws := make([]windowJSON, len(vs))
		var wg sync.WaitGroup
		for i, v := range vs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := p.source.Window(v, now.Add(-time.Minute), now)
				ws[i] = windowJSON{Requests: w.Requests, Errors: w.Errors, ErrorRate: w.ErrorRate()}
			}()
		}
		wg.Wait()
		st.Merged = map[string]windowJSON{vs[0]: ws[0], vs[1]: ws[1]}
	}
	return st
}

func (p *proxy) adminMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p.status(ctx))
	})
	mux.HandleFunc("GET /{$}", p.servePage)
	mux.Handle("GET "+fleet.WindowPath, fleet.WindowHandler(p.rec))
	for path, kind := range map[string]string{"/promote": fleet.OpPromote, "/promote-fully": fleet.OpPromoteFully,
		"/pause": fleet.OpPause, "/resume": fleet.OpResume, "/abort": fleet.OpAbort} {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			err := p.replica.Send(ctx, kind, r.URL.Query().Get("reason"))
			switch {
			case err == nil:
				w.WriteHeader(http.StatusNoContent)
			case errors.Is(err, context.DeadlineExceeded):
				http.Error(w, err.Error(), http.StatusGatewayTimeout)
			default:
				http.Error(w, err.Error(), http.StatusConflict)
			}
		})
	}
	return mux
}
