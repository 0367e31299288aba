package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

const (
	blue  = "blue"
	green = "green"
	// rollbackWindow is how long after success a rollback is still one
	// route change back to blue.
	rollbackWindow = time.Minute
	incident       = "checkout conversions dropped by a third since the switch"
)

type options struct {
	hold time.Duration
	rate int
	// maxP99 is the p99 latency green must stay within in both analyses.
	maxP99 time.Duration
}

// release plays the whole story and reports what each route served.
func release(ctx context.Context, opts options, out io.Writer) (*report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := time.Now()
	say := func(at time.Time, format string, args ...any) {
		fmt.Fprintf(out, "%7.3fs  %s\n", at.Sub(t0).Seconds(), fmt.Sprintf(format, args...))
	}

	// Two versions of the service, each on its own loopback port. The
	// journal notes which route sent each request where.
	routes := &journal{stages: []*stage{{route: traffic.Split(blue, green, 0)}}}
	backends := map[string]http.Handler{}
	for _, version := range []string{blue, green} {
		addr, stop, err := serveVersion(version)
		if err != nil {
			return nil, err
		}
		defer stop()
		proxy, err := traffic.NewBackend(&url.URL{Scheme: "http", Host: addr}, traffic.BackendOptions{})
		if err != nil {
			return nil, err
		}
		backends[version] = routes.back(version, proxy)
		fmt.Fprintf(out, "%-5s serving on %s\n", version, addr)
	}

	// The router: a splitter, all traffic to blue until the release starts,
	// with a recorder of every response for the analysis. The recorder
	// keeps two holds' worth, in slices of a twentieth of a hold.
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{SliceDuration: opts.hold / 20, Slices: 44}, blue, green)
	if err != nil {
		return nil, err
	}
	splitter, err := traffic.NewSplitter(backends, traffic.Options{
		Route:    traffic.Split(blue, green, 0),
		Observer: rec,
	})
	if err != nil {
		return nil, err
	}
	routes.Router = splitter
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: routes.front(splitter), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(out, "router on %s: users at %d req/s, testers (%s: 1) at %d req/s\n\n",
		ln.Addr(), opts.rate, strategy.PreviewHeader, max(opts.rate/10, 1))

	users := startLoad(ctx, "http://"+ln.Addr().String(), opts.rate, false)
	testers := startLoad(ctx, "http://"+ln.Addr().String(), max(opts.rate/10, 1), true)
	defer users.stop()
	defer testers.stop()

	// The release. Both analyses judge green alone: in the preview its
	// only traffic is the testers', so the minimum sample is small.
	judge, err := analysis.NewThresholds(rec,
		withMin(analysis.ErrorRate(0.01), 10),
		withMin(analysis.LatencyQuantile(0.99, opts.maxP99), 10))
	if err != nil {
		return nil, err
	}
	check := func() *strategy.Analysis {
		// Judged once the hold is over, on everything since the route
		// changed; then again every tenth of the hold while there are too
		// few requests.
		return &strategy.Analysis{Policy: analysis.Policy{InitialDelay: opts.hold, Interval: opts.hold / 10, Count: 1}}
	}
	events := make(chan ramp.Event, 64)
	r, err := ramp.New(ctx, ramp.Config{
		Stable: blue,
		Canary: green,
		Strategy: strategy.BlueGreen{
			// Preview nil: the default rule, X-Preview: 1 → green.
			AutoPromoteAfter:  opts.hold,
			PrePromotion:      check(),
			PostPromotion:     check(),
			PostPromotionHold: opts.hold,
		},
		Router:         routes,
		Analyzer:       judge,
		RollbackWindow: rollbackWindow,
		OnEvent: func(e ramp.Event) {
			select {
			case events <- e:
			case <-ctx.Done():
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, opts.hold/2); err != nil { // blue alone, for a baseline
		return nil, err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(ctx) }()

	// Events arrive in order; this loop is the only one that prints them.
	await := func(want ramp.EventKind) error {
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case e := <-events:
				narrate(say, e)
				switch {
				case e.Kind == want:
					return nil
				case e.Kind == ramp.EventRolledBack:
					return fmt.Errorf("rolled back unexpectedly: %s", e.Reason)
				}
			}
		}
	}
	if err := await(ramp.EventSucceeded); err != nil {
		return nil, err
	}
	if err := <-runErr; err != nil {
		return nil, err
	}

	// Green is live. Blue is still up: within the window, a rollback is one
	// route change.
	if err := sleep(ctx, opts.hold); err != nil {
		return nil, err
	}
	abortAt := time.Now()
	say(abortAt, "incident: %s — aborting (the release succeeded %v ago, within the %v rollback window)",
		incident, abortAt.Sub(r.Status().FinishedAt).Round(time.Millisecond), rollbackWindow)
	if err := r.Abort(ctx, incident); err != nil {
		return nil, fmt.Errorf("abort: %w", err)
	}
	if err := await(ramp.EventRolledBack); err != nil {
		return nil, err
	}
	last := routes.last()
	say(last.end, "blue has all traffic again: the route changed %v after the abort",
		last.end.Sub(abortAt).Round(time.Microsecond))

	if err := sleep(ctx, opts.hold/2); err != nil { // blue serves again
		return nil, err
	}
	users.stop()
	testers.stop()
	st := r.Status()
	return &report{stages: routes.snapshot(), phase: st.Phase, reason: st.Reason, history: st.History,
		rollbackTook: last.end.Sub(abortAt), failed: users.failed.Load() + testers.failed.Load()}, nil
}

// narrate prints one rollout event in the words of a blue-green release.
func narrate(say func(time.Time, string, ...any), e ramp.Event) {
	switch e.Kind {
	case ramp.EventStarted:
		say(e.Time, "release of green started")
	case ramp.EventStepStarted:
		if e.Percent == 0 {
			say(e.Time, "preview: weighted traffic stays on blue; requests with %s: 1 go to green", strategy.PreviewHeader)
		} else {
			say(e.Time, "switch: green takes 100%% of the traffic in one route change; blue stays up")
		}
	case ramp.EventAnalysis:
		name := "post-promotion"
		if e.Percent == 0 {
			name = "pre-promotion"
		}
		say(e.Time, "%s analysis: %s — %s", name, e.Result.Verdict, e.Reason)
	case ramp.EventSucceeded:
		say(e.Time, "succeeded: green is live; for %v a rollback is still one route change", rollbackWindow)
	case ramp.EventRolledBack:
		say(e.Time, "rolled back: %s", e.Reason)
	case ramp.EventRollingBack:
		// The rolled_back event follows at once.
	default:
		say(e.Time, "%s", e)
	}
}

func withMin(t analysis.Threshold, n int64) analysis.Threshold {
	t.MinSamples = n
	return t
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// serveVersion starts one version of the service on a loopback port. It
// answers every request with its name.
func serveVersion(version string) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, version)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// --- what each route served ---

// journal is the Router the rollout drives: the splitter, with every route
// change written down, so that each request can be put under the route
// that served it. It stamps requests when they reach the router (front)
// and when they reach a version (back): the route in force throughout that
// span is the one that chose the version.
type journal struct {
	traffic.Router
	mu       sync.Mutex
	stages   []*stage
	applying time.Time // when an Apply in progress began
}

// stage is one route and the requests it sent to each version.
type stage struct {
	route          traffic.Route
	begin, end     time.Time // Apply began and returned; zero for the initial route
	users, testers map[string]int
	unsure         int // routed while this route was being applied: either route may have chosen
}

func (j *journal) Apply(ctx context.Context, r traffic.Route) error {
	j.mu.Lock()
	begin := time.Now()
	j.applying = begin
	j.mu.Unlock()
	err := j.Router.Apply(ctx, r)
	end := time.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.applying = time.Time{}
	if err != nil || sameRoute(j.stages[len(j.stages)-1].route, r) {
		return err
	}
	j.stages = append(j.stages, &stage{route: r.Clone(), begin: begin, end: end})
	return nil
}

func sameRoute(a, b traffic.Route) bool {
	return slices.Equal(a.Weights, b.Weights) && slices.Equal(a.Rules, b.Rules)
}

type arrivedKey struct{}

// front stamps each request with the time it reached the router.
func (j *journal) front(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), arrivedKey{}, time.Now())))
	})
}

// back records each request that reaches version under its route.
func (j *journal) back(version string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived, ok := r.Context().Value(arrivedKey{}).(time.Time); ok {
			j.record(arrived, time.Now(), version, r.Header.Get(strategy.PreviewHeader) == "1")
		}
		h.ServeHTTP(w, r)
	})
}

// record puts a request that reached the router at arrived and was routed
// to version by the time routed under the route in force in between.
func (j *journal) record(arrived, routed time.Time, version string, preview bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := len(j.stages) - 1; i >= 0; i-- {
		s := j.stages[i]
		switch {
		case i == len(j.stages)-1 && !j.applying.IsZero() && !j.applying.After(routed):
			s.unsure++ // the next route was being applied
		case s.begin.After(routed):
			continue // applied after this request was routed
		case s.end.After(arrived):
			s.unsure++
		case preview:
			s.testers = inc(s.testers, version)
		default:
			s.users = inc(s.users, version)
		}
		return
	}
}

func inc(m map[string]int, k string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[k]++
	return m
}

func (j *journal) last() stage {
	j.mu.Lock()
	defer j.mu.Unlock()
	return *j.stages[len(j.stages)-1]
}

func (j *journal) snapshot() []stage {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]stage, len(j.stages))
	for i, s := range j.stages {
		out[i] = *s
		out[i].users, out[i].testers = maps.Clone(s.users), maps.Clone(s.testers)
	}
	return out
}

// load sends requests at a steady rate until stopped.
type load struct {
	cancel context.CancelFunc
	done   chan struct{}
	failed atomic.Int64 // requests not answered 200
}

func startLoad(ctx context.Context, base string, perSecond int, preview bool) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Second}
	go func() {
		defer close(l.done)
		defer client.CloseIdleConnections()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fetch(ctx, client, base, preview); err != nil && ctx.Err() == nil {
					l.failed.Add(1)
				}
			}()
		}
	}()
	return l
}

func (l *load) stop() {
	l.cancel()
	<-l.done
}

func fetch(ctx context.Context, client *http.Client, base string, preview bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	if err != nil {
		return err
	}
	if preview {
		req.Header.Set(strategy.PreviewHeader, "1")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
