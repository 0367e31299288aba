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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

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
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	if err := demo(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, o options, stdout io.Writer) error {
	versions := []string{"v1", "v2", "v3"}
	services := map[string]*service{}
	backends := map[string]http.Handler{}
	for _, v := range versions {
		s, err := startService(v, o.faultErrors, o.faultLatency)
		if err != nil {
			return err
		}
		defer s.srv.Close()
		services[v] = s
		proxy, err := traffic.NewBackend(s.url, traffic.BackendOptions{})
		if err != nil {
			return err
		}
		backends[v] = proxy
	}
	recorder, err := analysis.NewRecorder(analysis.RecorderOptions{SliceDuration: time.Second, Slices: 13}, versions...)
	if err != nil {
		return err
	}
	splitter, err := traffic.NewSplitter(backends, traffic.Options{
		Route:    traffic.Route{Weights: []traffic.Weight{{Backend: "v1", Percent: 100}}},
		Observer: recorder,
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	front := &http.Server{Handler: splitter, ReadHeaderTimeout: 5 * time.Second}
	go front.Serve(l)
	defer front.Close()

	load := startLoad(ctx, "http://"+l.Addr().String()+"/", o.rps)
	defer load.Stop()

	ui := newUI(stdout, o.plain, recorder)
	fmt.Fprintf(stdout, "ramp demo: 3 versions on loopback, %d req/s through a traffic.Splitter at http://%s\n", o.rps, l.Addr())

	var releases []*release
	for i, pair := range [][2]string{{"v1", "v2"}, {"v2", "v3"}} {
		faulty := i == 1
		rel, err := playRelease(ctx, o, pair[0], pair[1], splitter, recorder, services[pair[1]], faulty, ui)
		if err != nil {
			return err
		}
		releases = append(releases, rel)
	}
	ui.close()
	printSummary(stdout, releases, load)
	return nil
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
	for i, s := range o.steps {
		s.Analysis = &strategy.Analysis{Policy: analysis.Policy{Interval: interval, Count: 2}}
		steps[i] = s
	}
	guard, err := newGuard(recorder, o)
	if err != nil {
		return nil, err
	}
	startTotals := [2]analysis.Window{recorder.Total(stable), recorder.Total(canary)}
	ui.startRelease(stable, canary, len(steps))
	r, err := ramp.New(ctx, ramp.Config{
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
	if err := r.Run(ctx); err != nil {
		return nil, err
	}
	st := r.Status()
	rel.duration = time.Since(start)
	rel.outcome, rel.reason = st.Phase, st.Reason
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
	time.Sleep(min(o.hold/3, time.Second))
	return rel, nil
}

func printSummary(w io.Writer, rels []*release, load *loadGenerator) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Summary")
	fmt.Fprintf(w, "%-9s  %-12s  %8s  %21s  %15s  %14s\n", "release", "outcome", "duration", "requests stable/new", "5xx stable/new", "fault→rollback")
	for _, r := range rels {
		ttr := "-"
		if !r.faultAt.IsZero() && !r.zeroAt.IsZero() {
			ttr = r.zeroAt.Sub(r.faultAt).Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "%-9s  %-12s  %8s  %21s  %15s  %14s\n",
			r.stable+" → "+r.canary, r.outcome, r.duration.Round(100*time.Millisecond),
			fmt.Sprintf("%d / %d", r.requests[0], r.requests[1]),
			fmt.Sprintf("%d / %d", r.errors[0], r.errors[1]), ttr)
	}
	for _, r := range rels {
		if r.outcome == ramp.RolledBack {
			fmt.Fprintf(w, "\n%s → %s rolled back: %s\n", r.stable, r.canary, r.reason)
		}
	}
	fmt.Fprintf(w, "\nload generator: %d requests sent, %d transport errors\n", load.sent.Load(), load.failed.Load())
}

// ui shows progress: a redrawn panel on a terminal, plain lines otherwise.
type ui struct {
	w        io.Writer
	live     bool
	recorder *analysis.Recorder

	mu       sync.Mutex
	stable   string
	canary   string
	steps    int
	rollout  *ramp.Rollout
	verdicts []string
	drawn    int // lines of the live panel on screen
	last     map[string]analysis.Window
	lastAt   time.Time
	rates    map[string]float64
	stop     chan struct{}
	done     chan struct{}
}

func newUI(w io.Writer, plain bool, rec *analysis.Recorder) *ui {
	u := &ui{w: w, recorder: rec, last: map[string]analysis.Window{}, rates: map[string]float64{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if f, ok := w.(*os.File); ok && !plain {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" {
			u.live = true
		}
	}
	go u.loop()
	return u
}

func (u *ui) loop() {
	defer close(u.done)
	period := time.Second
	if u.live {
		period = 250 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			u.mu.Lock()
			u.sample()
			if u.live {
				u.redrawLocked()
			} else if u.rollout != nil {
				fmt.Fprintln(u.w, u.statsLine())
			}
			u.mu.Unlock()
		}
	}
}

func (u *ui) close() {
	close(u.stop)
	<-u.done
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.live {
		u.redrawLocked()
	}
}

func (u *ui) startRelease(stable, canary string, steps int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stable, u.canary, u.steps = stable, canary, steps
	u.verdicts = nil
	u.printLocked(fmt.Sprintf("── release %s → %s ──", stable, canary))
}

func (u *ui) track(r *ramp.Rollout) {
	u.mu.Lock()
	u.rollout = r
	u.mu.Unlock()
}

func (u *ui) untrack() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.live {
		u.redrawLocked()
		u.drawn = 0 // keep the final panel on screen
	}
	u.rollout = nil
}

// event is the rollout's OnEvent callback.
func (u *ui) event(e ramp.Event) {
	var line string
	switch e.Kind {
	case ramp.EventStepStarted:
		line = fmt.Sprintf("%s: %s gets %.2f%% of traffic", strategy.StepText(e.Step, u.steps), u.canaryName(), e.Percent)
	case ramp.EventAnalysis:
		line = fmt.Sprintf("%s analysis %s: %s", strategy.StepText(e.Step, u.steps), e.Result.Verdict, e.Result.Reason)
	case ramp.EventRollingBack:
		line = "ROLLING BACK: " + e.Reason
	case ramp.EventRolledBack:
		line = fmt.Sprintf("rolled back: all traffic on %s", u.stableName())
	case ramp.EventSucceeded:
		line = fmt.Sprintf("succeeded: %s takes all traffic", u.canaryName())
	case ramp.EventRouterError, ramp.EventTriggerError:
		line = e.Kind.String() + ": " + e.Reason
	default:
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	stamp := e.Time.Format("15:04:05.000")
	u.verdicts = append(u.verdicts, stamp+"  "+line)
	if len(u.verdicts) > 6 {
		u.verdicts = u.verdicts[len(u.verdicts)-6:]
	}
	if !u.live {
		fmt.Fprintln(u.w, stamp, line)
	}
}

func (u *ui) canaryName() string { u.mu.Lock(); defer u.mu.Unlock(); return u.canary }
func (u *ui) stableName() string { u.mu.Lock(); defer u.mu.Unlock(); return u.stable }

func (u *ui) printLocked(s string) {
	if u.live {
		u.clearLocked()
	}
	fmt.Fprintln(u.w, s)
}

// sample turns the recorder's totals into request rates.
func (u *ui) sample() {
	now := time.Now()
	for _, v := range u.recorder.Backends() {
		tot := u.recorder.Total(v)
		if prev, ok := u.last[v]; ok && !u.lastAt.IsZero() {
			u.rates[v] = float64(tot.Requests-prev.Requests) / now.Sub(u.lastAt).Seconds()
		}
		u.last[v] = tot
	}
	u.lastAt = now
}

func (u *ui) versionStats(v string) (rate, errRate float64, p99 time.Duration) {
	now := time.Now()
	w := u.recorder.Window(v, now.Add(-3*time.Second), now)
	if w.Latency != nil {
		p99 = w.Latency.Quantile(0.99)
	}
	return u.rates[v], w.ErrorRate(), p99
}

func (u *ui) statsLine() string {
	st := u.rollout.Status()
	var b strings.Builder
	fmt.Fprintf(&b, "  %s %s %s %.2f%%", st.Phase, strategy.StepText(st.Step, u.steps), u.canary, st.Percent)
	for _, v := range []string{u.stable, u.canary} {
		rate, er, p99 := u.versionStats(v)
		fmt.Fprintf(&b, " | %s %.0f req/s 5xx %.2f%% p99 %s", v, rate, 100*er, p99.Round(100*time.Microsecond))
	}
	return b.String()
}

func (u *ui) clearLocked() {
	if u.drawn > 0 {
		fmt.Fprintf(u.w, "\x1b[%dA\x1b[J", u.drawn)
		u.drawn = 0
	}
}

func (u *ui) redrawLocked() {
	if u.rollout == nil {
		return
	}
	u.clearLocked()
	st := u.rollout.Status()
	const width = 40
	filled := int(math.Round(st.Percent / 100 * width))
	lines := []string{
		fmt.Sprintf("  phase %-12s %s", st.Phase, strategy.StepText(st.Step, u.steps)),
		fmt.Sprintf("  %s [%s%s] %6.2f%%", u.canary, strings.Repeat("█", filled), strings.Repeat("░", width-filled), st.Percent),
		fmt.Sprintf("  %-8s %9s %8s %10s", "version", "req/s", "5xx", "p99"),
	}
	for _, v := range []string{u.stable, u.canary} {
		rate, er, p99 := u.versionStats(v)
		lines = append(lines, fmt.Sprintf("  %-8s %9.0f %7.2f%% %10s", v, rate, 100*er, p99.Round(100*time.Microsecond)))
	}
	lines = append(lines, u.verdicts...)
	for _, l := range lines {
		fmt.Fprintln(u.w, l)
	}
	u.drawn = len(lines)
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
