package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic/haproxy"
)

// Default queries, written for the metrics of HAProxy's built-in
// Prometheus exporter ("http-request use-service prometheus-exporter"). In
// them {{backend}} is the HAProxy server being measured (the canary's or
// the stable's), {{proxy}} the HAProxy backend and {{window}} the time
// since the step's weights were applied.
const (
	defaultErrorRateQuery = `(sum(rate(haproxy_server_http_responses_total{proxy="{{proxy}}",server="{{backend}}",code="5xx"}[{{window}}])) or vector(0))` +
		` / sum(rate(haproxy_server_http_responses_total{proxy="{{proxy}}",server="{{backend}}"}[{{window}}]))`
	defaultCountQuery   = `sum(increase(haproxy_server_http_responses_total{proxy="{{proxy}}",server="{{backend}}"}[{{window}}]))`
	defaultLatencyQuery = `max(max_over_time(haproxy_server_response_time_average_seconds{proxy="{{proxy}}",server="{{backend}}"}[{{window}}]))`
)

// options are the parsed command line.
type options struct {
	haproxyAddr    string
	haproxyTimeout time.Duration
	backend        string
	stableServer   string
	canaryServer   string
	stableVersion  string
	canaryVersion  string

	prometheusURL   string
	bearerTokenFile string
	queryTimeout    time.Duration
	errorRateQuery  string
	maxErrorRate    float64
	countQuery      string
	minRequests     float64
	latencyQuery    string
	maxLatency      time.Duration

	steps            []strategy.Step
	stepDuration     time.Duration
	interval         time.Duration
	initialDelay     time.Duration
	passes           int
	failureLimit     int
	progressDeadline time.Duration
	rollbackTimeout  time.Duration

	controls controls // lock, windows, pipeline, identity: controls.go
}

// usageError lists the problems with a command line (exit code 2), each
// naming its flag.
type usageError struct{ problems []error }

func (e *usageError) Error() string { return errors.Join(e.problems...).Error() }

const usageHead = `deploytool shifts traffic from a stable server to a canary server of one
HAProxy backend, step by step, through HAProxy's runtime API, and judges
every step with Prometheus queries. A step that fails its analysis rolls
all traffic back to the stable server at once. SIGINT or SIGTERM rolls back
too, before the tool exits (a second signal exits at once).

Usage:
  deploytool -haproxy ADDR -backend NAME -stable-server S -canary-server C \
             -prometheus URL [flags]

HAProxy needs "stats socket <path> level admin" (or "stats socket
ipv4@host:port level admin") in its global section and a backend with a
dynamic algorithm (roundrobin, the default) holding both servers.

Queries are PromQL templates: {{backend}} is the HAProxy server measured,
{{proxy}} the HAProxy backend, {{window}} the time since the step began.
The defaults read HAProxy's built-in Prometheus exporter.

Exit status: 0 promoted, 3 rolled back (analysis failed, no data until the
progress deadline, or interrupted), 2 bad usage, 1 any other error;
4 the -lock is held by another run (named), 5 outside the -windows
deployment window, 6 the pipeline refuses the release in -env (not yet
successful in the environment before, a different build under the label,
no approval, or an earlier failure).

Release controls: deploytool promote -env prod -history releases.json
  -canary-version v1.4.0 -digest sha256:… -approved-by alice [flags]
runs the rollout as environment prod of the -envs pipeline, only if the
release succeeded in the environment before, and prints the four keys.

Flags:
`

// parseFlags reads the command line. -h prints the help to stdout and
// returns flag.ErrHelp; problems come back as a *usageError.
func parseFlags(args []string, stdout io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("deploytool", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, help below
	fs.Usage = func() {}
	var steps, maxErrorRate string
	fs.StringVar(&o.haproxyAddr, "haproxy", "", "HAProxy runtime API: a Unix socket `path` or host:port (required)")
	fs.DurationVar(&o.haproxyTimeout, "haproxy-timeout", haproxy.DefaultTimeout, "timeout of each runtime API command")
	fs.StringVar(&o.backend, "backend", "", "HAProxy backend `name` holding both servers (required)")
	fs.StringVar(&o.stableServer, "stable-server", "", "HAProxy `server` running the stable version (required)")
	fs.StringVar(&o.canaryServer, "canary-server", "", "HAProxy `server` running the new version (required)")
	fs.StringVar(&o.stableVersion, "stable-version", "", "`label` of the stable version in output (default: the stable server's name)")
	fs.StringVar(&o.canaryVersion, "canary-version", "", "`label` of the new version in output (default: the canary server's name)")
	fs.StringVar(&o.prometheusURL, "prometheus", "", "Prometheus base `URL`, e.g. http://prometheus:9090 (required)")
	fs.StringVar(&o.bearerTokenFile, "prometheus-token-file", "", "`file` holding a bearer token for Prometheus, read for every query")
	fs.DurationVar(&o.queryTimeout, "query-timeout", 10*time.Second, "timeout of each Prometheus query")
	fs.StringVar(&o.errorRateQuery, "error-rate-query", defaultErrorRateQuery, "PromQL `template` of the canary's error rate, a ratio in [0, 1]")
	fs.StringVar(&maxErrorRate, "max-error-rate", "1%", "largest error rate that passes, as a `ratio` (0.01) or a percentage (1%)")
	fs.StringVar(&o.countQuery, "count-query", defaultCountQuery, "PromQL `template` of the number of requests behind the error rate")
	fs.Float64Var(&o.minRequests, "min-requests", 20, "fewest requests in a step's window worth judging; fewer is no data (0: no minimum)")
	fs.StringVar(&o.latencyQuery, "latency-query", defaultLatencyQuery, "PromQL `template` of the canary's latency in seconds")
	fs.DurationVar(&o.maxLatency, "max-latency", 0, "largest latency that passes, e.g. 250ms (0: latency is not judged)")
	fs.StringVar(&steps, "steps", "10,50,100", "canary `shares` in percent, rising; an item may carry its own hold, as in 5:10m")
	fs.DurationVar(&o.stepDuration, "step-duration", 30*time.Second, "how long each step is held (unless the step names its own hold)")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "time between two analyses of a step")
	fs.DurationVar(&o.initialDelay, "initial-delay", 0, "time from a step's start to its first analysis (0: one -interval)")
	fs.IntVar(&o.passes, "passes", 1, "passing analyses a step needs before it may be left")
	fs.IntVar(&o.failureLimit, "failure-limit", 0, "failing analyses a step tolerates; one more rolls back")
	fs.DurationVar(&o.progressDeadline, "progress-deadline", 5*time.Minute, "how long a step may lack a verdict (no data) or HAProxy may keep failing before rolling back")
	fs.DurationVar(&o.rollbackTimeout, "rollback-timeout", 2*time.Minute, "how long an interrupted run waits for the rollback to complete")
	var controlRaw controlFlags
	addControlFlags(fs, &o.controls, &controlRaw)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageHead)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, &usageError{problems: []error{err}}
	}

	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("-%s: "+format, append([]any{name}, a...)...))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q (every setting is a flag)", fs.Arg(0)))
	}
	for _, f := range []struct{ name, val string }{
		{"haproxy", o.haproxyAddr}, {"backend", o.backend}, {"stable-server", o.stableServer},
		{"canary-server", o.canaryServer}, {"prometheus", o.prometheusURL},
	} {
		if strings.TrimSpace(f.val) == "" {
			bad(f.name, "required")
		}
	}
	for _, f := range []struct{ name, val string }{
		{"backend", o.backend}, {"stable-server", o.stableServer}, {"canary-server", o.canaryServer},
	} {
		if f.val != "" {
			if err := haproxy.ValidName(f.name, f.val); err != nil {
				bad(f.name, "%v", err)
			}
		}
	}
	if o.stableServer != "" && o.stableServer == o.canaryServer {
		bad("canary-server", "%q is also the stable server", o.canaryServer)
	}
	for _, f := range []struct{ name, val string }{{"stable-version", o.stableVersion}, {"canary-version", o.canaryVersion}} {
		// The labels ramp.New would refuse, caught here so that nothing
		// starts (no HAProxy or Prometheus call) with a bad command line.
		// A label left to default is its server's name, checked above.
		switch {
		case strings.TrimSpace(f.val) != f.val || strings.ContainsAny(f.val, " \t\r\n"):
			bad(f.name, "%q contains white space", f.val)
		case strings.EqualFold(f.val, "latest"):
			bad(f.name, "%q is not an immutable release name", f.val)
		}
	}
	if o.stableVersion == "" {
		o.stableVersion = o.stableServer
	}
	if o.canaryVersion == "" {
		o.canaryVersion = o.canaryServer
	}
	if o.stableVersion != "" && o.stableVersion == o.canaryVersion && o.stableServer != o.canaryServer {
		bad("canary-version", "%q is also the stable version", o.canaryVersion)
	}
	if o.prometheusURL != "" {
		if u, err := url.Parse(o.prometheusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("prometheus", "%q is not an http(s) URL", o.prometheusURL)
		}
	}
	if r, err := parseRatio(maxErrorRate); err != nil {
		bad("max-error-rate", "%v", err)
	} else {
		o.maxErrorRate = r
	}
	if strings.TrimSpace(o.errorRateQuery) == "" {
		bad("error-rate-query", "empty")
	}
	if !(o.minRequests >= 0) || math.IsInf(o.minRequests, 0) {
		bad("min-requests", "%v must be a number >= 0", o.minRequests)
	}
	if o.minRequests > 0 && strings.TrimSpace(o.countQuery) == "" {
		bad("count-query", "empty while -min-requests is %v", o.minRequests)
	}
	if o.maxLatency < 0 {
		bad("max-latency", "%v is negative", o.maxLatency)
	}
	if o.maxLatency > 0 && strings.TrimSpace(o.latencyQuery) == "" {
		bad("latency-query", "empty while -max-latency is %v", o.maxLatency)
	}
	for _, d := range []struct {
		name string
		val  time.Duration
		min  time.Duration
	}{
		{"haproxy-timeout", o.haproxyTimeout, time.Millisecond},
		{"query-timeout", o.queryTimeout, time.Millisecond},
		{"step-duration", o.stepDuration, time.Millisecond},
		{"interval", o.interval, time.Millisecond},
		{"progress-deadline", o.progressDeadline, time.Millisecond},
		{"rollback-timeout", o.rollbackTimeout, time.Millisecond},
	} {
		if d.val < d.min {
			bad(d.name, "%v must be positive", d.val)
		}
	}
	if o.initialDelay < 0 {
		bad("initial-delay", "%v is negative", o.initialDelay)
	}
	if o.passes < 1 {
		bad("passes", "%d must be at least 1", o.passes)
	}
	if o.failureLimit < 0 {
		bad("failure-limit", "%d is negative", o.failureLimit)
	}
	if s, err := strategy.ParseSteps(steps); err != nil {
		for _, e := range unjoin(err) {
			bad("steps", "%s", strings.TrimPrefix(e.Error(), "steps: "))
		}
	} else {
		o.steps = s
	}
	o.controls.check(&controlRaw, o.canaryVersion, bad)
	if len(errs) > 0 {
		return nil, &usageError{problems: errs}
	}
	if o.initialDelay == 0 {
		o.initialDelay = o.interval
	}
	return o, nil
}

// parseRatio reads "0.01" or "1%" as 0.01; it must lie in [0, 1].
func parseRatio(s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if p, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = strings.TrimSpace(p), 0.01
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a ratio (want e.g. 0.01 or 1%%)", s)
	}
	v *= scale
	if v < 0 || v > 1 {
		return 0, fmt.Errorf("%q is outside [0, 1] (0%%–100%%)", s)
	}
	return v, nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
