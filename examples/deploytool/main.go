package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	promq "github.com/ramp-go/ramp/analysis/prometheus"
	"github.com/ramp-go/ramp/lock"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
	"github.com/ramp-go/ramp/traffic/haproxy"
)

// Exit codes.
const (
	exitPromoted   = 0
	exitError      = 1
	exitUsage      = 2
	exitRolledBack = 3
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		cancel(fmt.Errorf("received %v", <-sigs)) // run rolls back
		s := <-sigs
		fmt.Fprintf(os.Stderr, "deploytool: received %v again: exiting without waiting for the rollback; check HAProxy's weights\n", s)
		os.Exit(exitError)
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole tool: it parses args, shifts traffic and returns the
// exit code. When ctx ends (SIGINT, SIGTERM) it rolls back before
// returning.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "promote" { // the promote command
		args = append([]string{"-promote"}, args[1:]...)
	}
	o, err := parseFlags(args, stdout)
	var usage *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitPromoted
	case errors.As(err, &usage):
		for _, e := range usage.problems {
			fmt.Fprintf(stderr, "deploytool: %v\n", e)
		}
		fmt.Fprintln(stderr, "deploytool: run deploytool -h for help")
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "deploytool: %v\n", err)
		return exitError
	}
	out := &lockedWriter{w: stdout}
	defer out.close() // an event delivered late (Run stopped waiting) prints nothing after run returns
	return controlled(ctx, o, out, stderr)
}

func deploy(ctx context.Context, o *options, out *lockedWriter, stderr io.Writer) int {
	start := time.Now()
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "deploytool: "+format+"\n", a...)
		return exitError
	}
	servers := map[string]string{o.stableVersion: o.stableServer, o.canaryVersion: o.canaryServer}
	router, err := haproxy.New(haproxy.Config{
		Addr: o.haproxyAddr, Timeout: o.haproxyTimeout, Backend: o.backend, Servers: servers,
	})
	if err != nil {
		return fail("%v", err)
	}
	client, err := promq.NewClient(promq.Options{URL: o.prometheusURL, BearerTokenFile: o.bearerTokenFile, Timeout: o.queryTimeout})
	if err != nil {
		fmt.Fprintf(stderr, "deploytool: -prometheus: %v\n", err)
		return exitUsage
	}
	analyzer, code := buildAnalyzer(o, client, stderr)
	if analyzer == nil {
		return code
	}

	// Preflight: both ends answer before any traffic moves.
	before, err := router.Current(ctx)
	if err != nil {
		return fail("haproxy: %v", err)
	}
	if _, err := client.Query(ctx, "vector(1)", time.Time{}); err != nil {
		return fail("prometheus: %v", err)
	}

	name := func(label string) string {
		if s := servers[label]; s != label {
			return fmt.Sprintf("%s (server %s)", label, s)
		}
		return label
	}
	out.printf("deploytool: %s → %s in HAProxy backend %s: steps %s, each held %v unless it says otherwise; analysis every %v from %s\n",
		name(o.stableVersion), name(o.canaryVersion), o.backend, stepList(o.steps), o.stepDuration, o.interval, o.prometheusURL)
	out.printf("deploytool: HAProxy before: %s\n", describeRoute(before))

	canary := strategy.Canary{Steps: make([]strategy.Step, len(o.steps))}
	for i, s := range o.steps {
		if s.Hold == 0 {
			s.Hold = o.stepDuration
		}
		s.Analysis = &strategy.Analysis{Policy: analysis.Policy{
			Interval: o.interval, InitialDelay: o.initialDelay, Count: o.passes, FailureLimit: o.failureLimit,
		}}
		canary.Steps[i] = s
	}

	finished := make(chan struct{})
	var once sync.Once
	stamp := func(t time.Time) string { return fmt.Sprintf("[%6.1fs]", t.Sub(start).Seconds()) }
	windowHeld := false // OnEvent is called from one goroutine
	onEvent := func(e ramp.Event) {
		if o.controls.observe != nil {
			o.controls.observe(e)
		}
		step := strategy.StepText(e.Step, len(canary.Steps))
		if windowHeld && (e.Kind == ramp.EventStarted || e.Kind == ramp.EventStepStarted || e.Kind == ramp.EventSucceeded) {
			windowHeld = false
			out.printf("deploytool: window open again: going on\n")
		}
		switch e.Kind {
		case ramp.EventStepStarted:
			w, _ := haproxy.Weights([]float64{e.Percent, 100 - e.Percent})
			out.printf("%s %s: %s gets %.2f%% (HAProxy weights %s=%d %s=%d)\n", stamp(e.Time), step,
				o.canaryVersion, e.Percent, o.canaryServer, w[0], o.stableServer, w[1])
		case ramp.EventAnalysis:
			out.printf("%s %s: analysis %s: %s\n", stamp(e.Time), step, e.Result.Verdict, stripQueries(e.Reason))
		case ramp.EventPaused, ramp.EventResumed, ramp.EventPromoted:
			out.printf("%s %s: %s: %s\n", stamp(e.Time), step, e.Kind, e.Reason)
		case ramp.EventWindowClosed:
			why := strings.TrimPrefix(e.Reason, "deployment window closed: ")
			if e.Step < 0 {
				out.printf("deploytool: waiting for the deployment window: %s\n", why)
			} else {
				out.printf("deploytool: window closed: holding the current step: %s\n", why)
			}
			windowHeld = true
		case ramp.EventWindowOverride:
			out.printf("%s %s: %s\n", stamp(e.Time), step, e.Reason)
		case ramp.EventRouterError, ramp.EventTriggerError:
			out.printf("%s %s: %s: %s\n", stamp(e.Time), step, strings.ReplaceAll(e.Kind.String(), "_", " "), e.Reason)
		case ramp.EventRollingBack:
			out.printf("%s rolling back: %s\n", stamp(e.Time), e.Reason)
		case ramp.EventRolledBack:
			out.printf("%s rolled back: %s has all traffic\n", stamp(e.Time), o.stableVersion)
			once.Do(func() { close(finished) })
		case ramp.EventSucceeded:
			out.printf("%s promoted: %s has all traffic\n", stamp(e.Time), o.canaryVersion)
			once.Do(func() { close(finished) })
		}
	}

	cfg := ramp.Config{
		Stable:           o.stableVersion,
		Canary:           o.canaryVersion,
		Strategy:         canary,
		Router:           router,
		Analyzer:         labelsToServers(analyzer, servers),
		ProgressDeadline: o.progressDeadline,
		OnEvent:          onEvent,
		Lock:             o.controls.engineLock,
		Release:          o.controls.id,
	}
	if o.controls.historyFile == "" && o.controls.env == "" {
		// Outside a pipeline the label is a backend name, not checked as
		// a release's identity (controls.check).
		cfg.Release.Label = ""
	}
	if cal := o.controls.calendar; cal != nil {
		cfg.Window = cal
		if o.controls.windowWait > 0 {
			cfg.WindowClosed = ramp.WaitForWindow
		}
	}
	rollout, err := ramp.New(ctx, cfg)
	if err != nil {
		return fail("%v", err)
	}

	// The rollout runs on a context of its own: a signal asks it to roll
	// back (Abort) rather than stopping it halfway.
	runErr := make(chan error, 1)
	var cancelRun context.CancelFunc
	startRun := func() {
		runCtx, cancel := context.WithCancel(context.Background())
		cancelRun = cancel
		go func() { runErr <- rollout.Run(runCtx) }()
	}
	startRun()
	defer func() { cancelRun() }()
	var waited <-chan time.Time // -window-wait: the rollout must start by then
	if cfg.WindowClosed == ramp.WaitForWindow {
		t := time.NewTimer(time.Until(start.Add(o.controls.windowWait)))
		defer t.Stop()
		waited = t.C
	}

	for done := false; !done; {
		select {
		case <-waited:
			waited = nil
			if rollout.Status().Phase != ramp.Pending {
				continue // it started in time
			}
			cancelRun()
			if err = <-runErr; !errors.Is(err, context.Canceled) {
				done = true // Run had returned on its own (the lock, say)
				continue
			}
			if st := rollout.Status(); st.Phase == ramp.Pending {
				// Nothing started (Run stopped waiting): nothing to undo.
				fmt.Fprintf(stderr, "deploytool: outside the deployment window after waiting %v: %s\n", o.controls.windowWait,
					strings.TrimPrefix(reasonOr(st.Waiting, "it did not open"), "deployment window closed: "))
				return exitWindowClosed
			}
			// The window opened as the wait ended: carry on.
			startRun()
		case err = <-runErr:
			done = true
		case <-ctx.Done():
			done = true
			reason := "interrupted"
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
				reason += ": " + c.Error()
			}
			out.printf("%s %s: rolling back\n", stamp(time.Now()), reason)
			actx, cancel := context.WithTimeout(context.Background(), o.rollbackTimeout)
			aerr := rollout.Abort(actx, reason)
			cancel()
			if aerr != nil && !errors.Is(aerr, ramp.ErrPhase) {
				cancelRun()
				<-runErr
				return fail("rollback after %s did not complete within %v: %v; traffic may still reach %s: check HAProxy",
					reason, o.rollbackTimeout, aerr, o.canaryVersion)
			}
			err = <-runErr
		}
	}
	var held *lock.HeldError
	switch {
	case errors.As(err, &held):
		fmt.Fprintf(stderr, "deploytool: %v\n", held)
		return exitLockHeld
	case errors.Is(err, ramp.ErrWindowClosed):
		fmt.Fprintf(stderr, "deploytool: outside the deployment window: %s\n", strings.TrimPrefix(err.Error(), ramp.ErrWindowClosed.Error()+": "))
		return exitWindowClosed
	case err != nil:
		return fail("rollout: %v", err)
	}
	select { // the last event line comes before the summary
	case <-finished:
	case <-time.After(5 * time.Second):
	}

	st := rollout.Status()
	rctx, cancel := context.WithTimeout(context.Background(), o.haproxyTimeout*4)
	after, cerr := router.Current(rctx)
	cancel()
	if cerr != nil {
		fmt.Fprintf(stderr, "deploytool: reading HAProxy's weights after the rollout: %v\n", cerr)
	} else {
		out.printf("deploytool: HAProxy after: %s\n", describeRoute(after))
	}
	if line := describeRevision(st.History, o.canaryVersion); line != "" {
		out.printf("deploytool: history: %s\n", line)
	}
	took := time.Since(start).Round(100 * time.Millisecond)
	switch st.Phase {
	case ramp.Succeeded:
		out.printf("deploytool: promoted %s in %v\n", o.canaryVersion, took)
		return exitPromoted
	case ramp.RolledBack:
		out.printf("deploytool: rolled back %s after %v: %s\n", o.canaryVersion, took, stripQueries(st.Reason))
		return exitRolledBack
	}
	return fail("rollout ended in phase %s: %s", st.Phase, st.Reason)
}

// buildAnalyzer makes the Prometheus analyzer. A template that does not
// parse is a usage error naming its flag.
func buildAnalyzer(o *options, client *promq.Client, stderr io.Writer) (analysis.Analyzer, int) {
	vars := map[string]string{"proxy": o.backend}
	errRate := promq.Metric{
		Name: "error rate", Query: o.errorRateQuery, Unit: promq.Ratio,
		Threshold: promq.AtMost(o.maxErrorRate),
	}
	if o.minRequests > 0 {
		errRate.Count, errRate.MinCount = o.countQuery, o.minRequests
	}
	metrics := []promq.Metric{errRate}
	flags := []string{"-error-rate-query"}
	if errRate.Count != "" {
		// Checked alone first so that a bad template is blamed on its flag.
		if _, err := promq.New(promq.Config{Client: client, Vars: vars, Metrics: []promq.Metric{
			{Name: "count", Query: o.countQuery, Threshold: promq.AtLeast(0)},
		}}); err != nil {
			fmt.Fprintf(stderr, "deploytool: -count-query: %v\n", err)
			return nil, exitUsage
		}
	}
	if o.maxLatency > 0 {
		metrics = append(metrics, promq.Metric{
			Name: "latency", Query: o.latencyQuery, Unit: promq.Seconds,
			Threshold: promq.AtMost(o.maxLatency.Seconds()),
		})
		flags = append(flags, "-latency-query")
	}
	for i, m := range metrics {
		if _, err := promq.New(promq.Config{Client: client, Vars: vars, Metrics: []promq.Metric{m}}); err != nil {
			fmt.Fprintf(stderr, "deploytool: %s: %v\n", flags[i], err)
			return nil, exitUsage
		}
	}
	a, err := promq.New(promq.Config{Client: client, Vars: vars, Metrics: metrics})
	if err != nil {
		fmt.Fprintf(stderr, "deploytool: %v\n", err)
		return nil, exitUsage
	}
	return a, exitPromoted
}

// labelsToServers makes the queries measure HAProxy servers: the rollout
// names versions, and {{backend}} in a query is the version's server.
func labelsToServers(a analysis.Analyzer, servers map[string]string) analysis.Analyzer {
	return analysis.AnalyzerFunc(func(ctx context.Context, q analysis.Query) (analysis.Result, error) {
		if s, ok := servers[q.Canary]; ok {
			q.Canary = s
		}
		if s, ok := servers[q.Baseline]; ok {
			q.Baseline = s
		}
		return a.Analyze(ctx, q)
	})
}

// stripQueries drops the " (query: ...)" quotations from an analysis
// reason, for progress lines a person reads; the rolling-back line keeps
// them as evidence.
func stripQueries(s string) string {
	for _, marker := range []string{" (query: ", " (count query: "} {
		for {
			i := strings.Index(s, marker)
			if i < 0 {
				break
			}
			depth, end := 0, -1
			for j := i + 1; j < len(s) && end < 0; j++ {
				switch s[j] {
				case '(':
					depth++
				case ')':
					if depth--; depth == 0 {
						end = j + 1
					}
				}
			}
			if end < 0 {
				break // unbalanced: leave the rest as it is
			}
			s = s[:i] + s[end:]
		}
	}
	return s
}

func stepList(steps []strategy.Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = fmt.Sprintf("%g%%", s.Percent)
		if s.Hold != 0 {
			parts[i] += fmt.Sprintf(" (hold %v)", s.Hold)
		}
	}
	return strings.Join(parts, ", ")
}

// describeRevision names the release metadata the engine recorded for
// version (from Config.Release), or "" when it recorded none.
func describeRevision(revs []rollback.Revision, version string) string {
	for i := len(revs) - 1; i >= 0; i-- {
		r := revs[i]
		if r.Version != version {
			continue
		}
		var parts []string
		for _, f := range []struct{ name, val string }{{"commit", r.Commit}, {"digest", r.Digest}, {"notes", r.NotesURL}} {
			if f.val != "" {
				parts = append(parts, f.name+" "+f.val)
			}
		}
		for _, f := range []struct {
			name string
			t    time.Time
		}{{"committed", r.CommitTime}, {"built", r.BuildTime}} {
			if !f.t.IsZero() {
				parts = append(parts, f.name+" "+f.t.UTC().Format(time.RFC3339))
			}
		}
		if len(parts) == 0 {
			return ""
		}
		return fmt.Sprintf("%s %s: %s", r.Version, r.Outcome, strings.Join(parts, ", "))
	}
	return ""
}

func describeRoute(r traffic.Route) string {
	parts := make([]string, len(r.Weights))
	for i, w := range r.Weights {
		parts[i] = fmt.Sprintf("%s %.2f%%", w.Backend, w.Percent)
	}
	return strings.Join(parts, ", ")
}

// lockedWriter serialises the lines of the event callback and of run;
// once closed it drops them.
type lockedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (l *lockedWriter) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		fmt.Fprintf(l.w, format, a...)
	}
}

func (l *lockedWriter) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
}

func reasonOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
