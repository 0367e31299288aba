// Command demo plays two releases of a small web service through ramp, end
// to end, on loopback, with nothing to install:
//
//  1. v1 → v2, a healthy version, promoted 10% → 50% → 100% as each step's
//     analysis passes;
//  2. v2 → v3, a faulty version that starts failing and slowing down a few
//     seconds in, rolled back by the continuous guard within milliseconds.
//
// Three versions of the service run in-process on loopback ports. A
// traffic.Splitter in front of them (a real HTTP server, reached through
// httputil.ReverseProxy backends) feeds an analysis.Recorder; a load
// generator sends requests through it. While it runs the demo draws live
// progress in the terminal (or prints plain lines when the output is not a
// terminal) and ends with a summary table.
//
//	go run ./examples/demo
//	go run ./examples/demo -speed 2 -steps 5,25,50,100 -fault-errors 0.05 -fault-latency 0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

func main() { os.Exit(runMain(os.Args[1:])) }

// runMain is main without the exit: the first SIGINT or SIGTERM rolls the
// release in flight back and ends the demo with the summary (status 130), a
// second one ends it at once.
func runMain(args []string) int {
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		interrupt() // roll the release in flight back, then the summary
		<-sigs      // a second Ctrl-C does not wait for that
		if u := activeUI.Load(); u != nil {
			u.close()
		}
		os.Exit(exitInterrupted)
	}()
	return run(ctx, args, os.Stdout, os.Stderr)
}

// exitInterrupted is the conventional exit status of a program stopped by
// SIGINT: 128 + 2.
const exitInterrupted = 130

// activeUI is the live view to restore when a second Ctrl-C ends the demo
// at once.
var activeUI atomic.Pointer[ui]

// options are the demo's flags.
type options struct {
	speed        float64
	steps        []strategy.Step
	hold         time.Duration
	rps          int
	faultAfter   time.Duration
	faultErrors  float64
	faultLatency time.Duration
	maxErrorRate float64
	maxP99       time.Duration
	plain        bool

	latencyTolerance float64
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	steps := fs.String("steps", "10,50,100", "canary steps in percent (0.01 resolution)")
	fs.Float64Var(&o.speed, "speed", 1, "run faster (2 = twice as fast) or slower (0.5)")
	fs.DurationVar(&o.hold, "step-hold", 3*time.Second, "how long each step is held (before -speed)")
	fs.IntVar(&o.rps, "rps", 400, "requests per second sent by the load generator")
	fs.DurationVar(&o.faultAfter, "fault-after", 2*time.Second, "when the faulty release starts to misbehave, after its rollout starts (before -speed)")
	fs.Float64Var(&o.faultErrors, "fault-errors", 0.3, "share of requests the faulty version answers with 500 (0 to 1)")
	fs.DurationVar(&o.faultLatency, "fault-latency", 250*time.Millisecond, "latency the faulty version adds to every request")
	fs.Float64Var(&o.maxErrorRate, "max-error-rate", 0.01, "largest acceptable 5xx share of the new version")
	fs.DurationVar(&o.maxP99, "max-p99", 500*time.Millisecond, "largest acceptable p99 latency of the new version")
	fs.Float64Var(&o.latencyTolerance, "latency-tolerance", 0.1, "how much of the latency distribution the new version may lose against the stable one before the guard fires (0 to 1)")
	fs.BoolVar(&o.plain, "plain", false, "print plain lines even on a terminal")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	var err error
	if o.steps, err = strategy.ParseSteps(*steps); err != nil {
		errs = append(errs, fmt.Errorf("-steps: %w", err))
	}
	if !(o.speed > 0) || math.IsInf(o.speed, 0) {
		errs = append(errs, fmt.Errorf("-speed: %v must be positive", o.speed))
	}
	if o.hold <= 0 {
		errs = append(errs, fmt.Errorf("-step-hold: %v must be positive", o.hold))
	}
	if o.rps < 10 || o.rps > 20000 {
		errs = append(errs, fmt.Errorf("-rps: %d is outside [10, 20000]", o.rps))
	}
	if o.faultAfter < 0 {
		errs = append(errs, fmt.Errorf("-fault-after: %v is negative", o.faultAfter))
	}
	if !(o.faultErrors >= 0 && o.faultErrors <= 1) {
		errs = append(errs, fmt.Errorf("-fault-errors: %v is outside [0, 1]", o.faultErrors))
	}
	if o.faultLatency < 0 {
		errs = append(errs, fmt.Errorf("-fault-latency: %v is negative", o.faultLatency))
	}
	if !(o.maxErrorRate > 0 && o.maxErrorRate < 1) {
		errs = append(errs, fmt.Errorf("-max-error-rate: %v is outside (0, 1)", o.maxErrorRate))
	}
	if !(o.latencyTolerance >= 0 && o.latencyTolerance < 1) {
		errs = append(errs, fmt.Errorf("-latency-tolerance: %v is outside [0, 1)", o.latencyTolerance))
	}
	if o.maxP99 <= 0 {
		errs = append(errs, fmt.Errorf("-max-p99: %v must be positive", o.maxP99))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(stderr, err)
		return o, err
	}
	o.hold = o.scale(o.hold)
	o.faultAfter = o.scale(o.faultAfter)
	for i := range o.steps {
		o.steps[i].Hold = o.hold
	}
	return o, nil
}

func (o options) scale(d time.Duration) time.Duration { return time.Duration(float64(d) / o.speed) }

// service is one version of the demo web service.
type service struct {
	version string
	url     *url.URL
	srv     *http.Server
	// faultAt, when set, is when the version starts to misbehave.
	faultAt      atomic.Pointer[time.Time]
	faultErrors  float64
	faultLatency time.Duration
}

func startService(version string, faultErrors float64, faultLatency time.Duration) (*service, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &service{version: version, faultErrors: faultErrors, faultLatency: faultLatency}
	s.url = &url.URL{Scheme: "http", Host: l.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(l)
	return s, nil
}

func (s *service) faulty() bool {
	at := s.faultAt.Load()
	return at != nil && !time.Now().Before(*at)
}

func (s *service) serve(w http.ResponseWriter, r *http.Request) {
	// A few milliseconds of log-normal work: median 2 ms, p99 about 8 ms.
	d := time.Duration(2e6 * math.Exp(0.6*rand.NormFloat64()))
	if s.faulty() {
		if rand.Float64() < s.faultErrors { // errors come fast, as from a crashing dependency
			time.Sleep(d)
			http.Error(w, "internal error in "+s.version, http.StatusInternalServerError)
			return
		}
		d += s.faultLatency // the rest are slow
	}
	time.Sleep(d)
	fmt.Fprintf(w, "hello from %s\n", s.version)
}

// loadGenerator sends rps requests per second to target until stopped.
type loadGenerator struct {
	sent, failed atomic.Int64
	stop         context.CancelFunc
	done         sync.WaitGroup
}

func startLoad(ctx context.Context, target string, rps int) *loadGenerator {
	ctx, cancel := context.WithCancel(ctx)
	g := &loadGenerator{stop: cancel}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
	}
	const workers = 32
	ticks := make(chan struct{}, workers)
	g.done.Add(workers + 1)
	go func() { // the pacer: one token per request, dropped when workers lag
		defer g.done.Done()
		defer close(ticks)
		interval := time.Second / time.Duration(rps)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case ticks <- struct{}{}:
				default:
				}
			}
		}
	}()
	for range workers {
		go func() {
			defer g.done.Done()
			for range ticks {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
				resp, err := client.Do(req)
				g.sent.Add(1)
				if err != nil {
					g.failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	return g
}

func (g *loadGenerator) Stop() {
	g.stop()
	g.done.Wait()
}

// release is the record of one rollout for the summary.
type release struct {
	stable, canary string
	outcome        ramp.Phase
	reason         string
	duration       time.Duration
	requests       [2]int64 // stable, canary
	errors         [2]int64
	faultAt        time.Time
	zeroAt         time.Time // when the canary got its last share of traffic taken away
	live           string    // the version with all traffic afterwards
	interrupted    bool      // the user's interrupt rolled it back
}

// run plays the demo and returns the exit status. Cancelling ctx is the
// user's interrupt: the release in flight is rolled back, a line says so,
// the summary follows and run returns 130.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	interrupted, err := demo(ctx, o, stdout)
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	case interrupted:
		return exitInterrupted
	}
	return 0
}

// demo plays the releases until they are done or ctx is cancelled (an
// interrupt). The servers, the load and the rollouts run on a context of
// their own, so that an interrupt can still roll back the release in flight.
func demo(ctx context.Context, o options, stdout io.Writer) (interrupted bool, err error) {
	runCtx := context.WithoutCancel(ctx)
	versions := []string{"v1", "v2", "v3"}
	services := map[string]*service{}
	backends := map[string]http.Handler{}
	for _, v := range versions {
		s, err := startService(v, o.faultErrors, o.faultLatency)
		if err != nil {
			return false, err
		}
		defer s.srv.Close()
		services[v] = s
		proxy, err := traffic.NewBackend(s.url, traffic.BackendOptions{})
		if err != nil {
			return false, err
		}
		backends[v] = proxy
	}
	recorder, err := analysis.NewRecorder(analysis.RecorderOptions{SliceDuration: time.Second, Slices: 13}, versions...)
	if err != nil {
		return false, err
	}
	splitter, err := traffic.NewSplitter(backends, traffic.Options{
		Route:    traffic.Route{Weights: []traffic.Weight{{Backend: "v1", Percent: 100}}},
		Observer: recorder,
	})
	if err != nil {
		return false, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false, err
	}
	front := &http.Server{Handler: splitter, ReadHeaderTimeout: 5 * time.Second}
	go front.Serve(l)
	defer front.Close()

	load := startLoad(runCtx, "http://"+l.Addr().String()+"/", o.rps)
	defer load.Stop()

	ui := newUI(stdout, o.plain, recorder)
	activeUI.Store(ui)
	defer ui.close() // restores the terminal on every way out, a panic too
	ui.println("ramp demo: 3 versions on loopback, %d req/s through a traffic.Splitter at http://%s", o.rps, l.Addr())

	var releases []*release
	live := "v1"
	for i, pair := range [][2]string{{"v1", "v2"}, {"v2", "v3"}} {
		if ctx.Err() != nil {
			break
		}
		faulty := i == 1
		rel, err := playRelease(ctx, o, pair[0], pair[1], splitter, recorder, services[pair[1]], faulty, ui)
		if err != nil {
			return false, err
		}
		releases = append(releases, rel)
		live = rel.live
	}
	ui.finish()
	if ctx.Err() != nil {
		ui.println("%s", interruptLine(releases, live))
	}
	printSummary(ui, releases, load)
	return ctx.Err() != nil, nil
}

// interruptLine says what the interrupt did: which release it rolled back,
// and which version serves all traffic now.
func interruptLine(rels []*release, live string) string {
	if n := len(rels); n > 0 && rels[n-1].interrupted && rels[n-1].outcome == ramp.RolledBack {
		return fmt.Sprintf("interrupted: %s rolled back, %s serves all traffic", rels[n-1].canary, live)
	}
	return fmt.Sprintf("interrupted: no release in flight, %s serves all traffic", live)
}

func playRelease(ctx context.Context, o options, stable, canary string, splitter *traffic.Splitter,
	recorder *analysis.Recorder, svc *service, faulty bool, ui *ui) (*release, error) {
	rel := &release{stable: stable, canary: canary}
	thresholds, err := analysis.NewThresholds(recorder,
		analysis.ErrorRate(o.maxErrorRate),
		analysis.LatencyQuantile(0.99, o.maxP99),
	)
	if err != nil {
		return nil, err
	}
	// Measure every third of a step; pass on two good measurements.
	interval := max(o.hold/3, 50*time.Millisecond)
	steps := make([]strategy.Step, len(o.steps))
	percents := make([]float64, len(o.steps))
	for i, s := range o.steps {
		s.Analysis = &strategy.Analysis{Policy: analysis.Policy{Interval: interval, Count: 2}}
		steps[i], percents[i] = s, s.Percent
	}
	guard, err := newGuard(recorder, o)
	if err != nil {
		return nil, err
	}
	startTotals := [2]analysis.Window{recorder.Total(stable), recorder.Total(canary)}
	ui.startRelease(stable, canary, percents)
	runCtx := context.WithoutCancel(ctx)
	r, err := ramp.New(runCtx, ramp.Config{
		Stable: stable, Canary: canary,
		Strategy:         strategy.Canary{Steps: steps},
		Router:           splitter,
		Analyzer:         thresholds,
		Triggers:         []rollback.Trigger{guard},
		ProgressDeadline: 20 * o.hold,
		OnEvent:          ui.event,
	})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if faulty {
		at := start.Add(o.faultAfter)
		svc.faultAt.Store(&at)
		rel.faultAt = at
	}
	ui.track(r)
	stopAbort := abortOnInterrupt(ctx, r, ui, &rel.interrupted)
	err = r.Run(runCtx)
	stopAbort()
	if err != nil {
		return nil, err
	}
	st := r.Status()
	rel.duration = time.Since(start)
	rel.outcome, rel.reason, rel.live = st.Phase, st.Reason, st.Live
	if st.Phase == ramp.RolledBack {
		rel.zeroAt = st.FinishedAt
	}
	ui.untrack()
	for i, v := range []string{stable, canary} {
		tot := recorder.Total(v)
		rel.requests[i] = tot.Requests - startTotals[i].Requests
		rel.errors[i] = tot.Errors - startTotals[i].Errors
	}
	// Let the next release start from a settled state.
	select {
	case <-time.After(min(o.hold/3, time.Second)):
	case <-ctx.Done():
	}
	return rel, nil
}

// abortGrace bounds how long an interrupt waits for the rollback.
const abortGrace = 10 * time.Second

// abortOnInterrupt rolls r back when ctx is cancelled (the user pressed
// Ctrl-C) and records that in *interrupted. The returned function stops
// watching and waits for an abort under way.
func abortOnInterrupt(ctx context.Context, r *ramp.Rollout, ui *ui, interrupted *bool) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer ui.r.RestoreOnPanic()
		select {
		case <-ctx.Done():
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortGrace)
			defer cancel()
			// ErrPhase: the release ended on its own a moment before.
			if err := r.Abort(actx, "interrupted by the user"); err == nil {
				*interrupted = true
			}
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// printSummary prints the table of releases. It fits in 80 columns; on a
// narrower terminal the view wraps its lines.
func printSummary(u *ui, rels []*release, load *loadGenerator) {
	u.println("")
	u.println("Summary")
	const row = "%-9s  %-11s  %8s  %17s  %11s  %14s"
	u.println(row, "release", "outcome", "duration", "requests old/new", "5xx old/new", "fault→rollback")
	for _, r := range rels {
		ttr := "-"
		if !r.faultAt.IsZero() && r.zeroAt.After(r.faultAt) && !r.interrupted {
			ttr = r.zeroAt.Sub(r.faultAt).Round(time.Millisecond).String()
		}
		u.println(row, r.stable+" → "+r.canary, r.outcome, r.duration.Round(100*time.Millisecond),
			fmt.Sprintf("%d / %d", r.requests[0], r.requests[1]),
			fmt.Sprintf("%d / %d", r.errors[0], r.errors[1]), ttr)
	}
	for _, r := range rels {
		if r.outcome == ramp.RolledBack {
			u.println("")
			u.println("%s → %s rolled back: %s", r.stable, r.canary, r.reason)
		}
	}
	u.println("")
	u.println("load generator: %d requests sent, %d transport errors", load.sent.Load(), load.failed.Load())
}

// newGuard watches the new version's live outcomes and fires the moment a
// sequential test is confident its 5xx rate is over the limit, its p99 is
// over the limit, or its latency distribution is worse than the stable
// version's. Comparing with the stable version, which runs on the same
// machine, keeps a busy machine from looking like a bad release.
func newGuard(rec *analysis.Recorder, o options) (*rollback.Guard, error) {
	g := &rollback.Guard{
		Source:           rec,
		MaxErrorRate:     o.maxErrorRate,
		MaxLatency:       o.maxP99,
		LatencyQuantile:  0.99,
		CompareLatency:   true,
		LatencyTolerance: o.latencyTolerance,
	}
	return g, g.Validate()
}
