package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// tokenEnv is the environment variable read when -admin-token is not given.
const tokenEnv = "RAMP_ADMIN_TOKEN"

// config is the parsed command line.
type config struct {
	listen, admin                string
	stable, canary               *url.URL
	stableVersion, canaryVersion string
	steps                        []strategy.Step // Hold set from -step-duration where the item has none
	stepDuration                 time.Duration
	maxErrorRate                 float64
	maxP99                       time.Duration
	minSamples                   int64
	sticky                       string
	stickyKey                    func(*http.Request) string // nil: no sticky key
	adminToken                   string
	statePath                    string
	progressDeadline             time.Duration
	rollbackWindow               time.Duration
	drainTimeout                 time.Duration
	maxConns, adminMaxConns      int
	readTimeout, writeTimeout    time.Duration
	idleTimeout                  time.Duration
}

// flagError is a problem the flag package has already reported (with the
// usage text).
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

// parseFlags reads args. Every problem is reported at once, each naming its
// flag; getenv supplies RAMP_ADMIN_TOKEN.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("canaryproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c                                  config
		stableURL, canaryURL, steps        string
		minSamples                         int64
		maxErrorRate                       float64
		stepDuration, maxP99               time.Duration
		progressDeadline, rollbackWindow   time.Duration
		drainTimeout                       time.Duration
		stableVersion, canaryVersion       string
		stableVersionSet, canaryVersionSet bool
	)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "`address` the proxy serves on")
	fs.StringVar(&c.admin, "admin", "127.0.0.1:8081", "`address` of the admin API and status page")
	fs.StringVar(&stableURL, "stable", "", "`URL` of the stable upstream (required)")
	fs.StringVar(&canaryURL, "canary", "", "`URL` of the canary upstream (required)")
	fs.StringVar(&stableVersion, "stable-version", "stable", "version `label` of the stable upstream, used in metrics, status and the state file")
	fs.StringVar(&canaryVersion, "canary-version", "canary", "version `label` of the canary upstream")
	fs.StringVar(&steps, "steps", "10,50,100", "canary `shares` in percent, rising (decimals allowed; an item may set its own hold as in 5:10m)")
	fs.DurationVar(&stepDuration, "step-duration", time.Minute, "how long each step lasts before its analysis decides")
	fs.Float64Var(&maxErrorRate, "max-error-rate", 0.01, "largest allowed share of 5xx responses from the canary, 0 to 1")
	fs.DurationVar(&maxP99, "max-p99", 500*time.Millisecond, "largest allowed p99 latency of the canary")
	fs.Int64Var(&minSamples, "min-samples", analysis.DefaultMinSamples, "canary requests a step needs before its analysis can pass")
	fs.StringVar(&c.sticky, "sticky", "", "keep clients on one version by `key`: header:NAME, cookie:NAME or ip (empty: every request is drawn at random)")
	fs.StringVar(&c.adminToken, "admin-token", "", "bearer `token` required by the admin operations (default $"+tokenEnv+"; none: operations are refused)")
	fs.StringVar(&c.statePath, "state", "", "`file` that keeps the rollout's state across restarts (requires -stable-version and -canary-version)")
	fs.DurationVar(&progressDeadline, "progress-deadline", 10*time.Minute, "roll back when a step makes no progress (analysis without a verdict) for this long")
	fs.DurationVar(&rollbackWindow, "rollback-window", time.Hour, "after success, POST /abort still returns all traffic to stable for this long (0: never)")
	fs.DurationVar(&drainTimeout, "drain-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long in-flight requests may take to finish")
	fs.IntVar(&c.maxConns, "max-conns", 0, "most client connections the proxy holds at once; more wait to be accepted (0: from the open-file limit)")
	fs.IntVar(&c.adminMaxConns, "admin-max-conns", 32, "most connections the admin API holds at once")
	fs.DurationVar(&c.readTimeout, "read-timeout", time.Minute, "longest a client may take to send a whole request, headers and body (a slow upstream is not cut by it)")
	fs.DurationVar(&c.writeTimeout, "write-timeout", time.Minute, "longest one write of a response may block on a client that does not read (a response that keeps flowing is never cut)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", time.Minute, "close a keep-alive connection idle this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: canaryproxy -stable URL -canary URL [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, flagError{err}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "stable-version":
			stableVersionSet = true
		case "canary-version":
			canaryVersionSet = true
		}
	})

	var errs []error
	bad := func(flagName, format string, args ...any) {
		errs = append(errs, fmt.Errorf("-%s: "+format, append([]any{flagName}, args...)...))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args()))
	}
	for _, u := range []struct {
		flag, raw string
		dst       **url.URL
	}{{"stable", stableURL, &c.stable}, {"canary", canaryURL, &c.canary}} {
		parsed, err := parseUpstream(u.raw)
		if err != nil {
			bad(u.flag, "%v", err)
			continue
		}
		*u.dst = parsed
	}
	for _, a := range []struct{ flag, addr string }{{"listen", c.listen}, {"admin", c.admin}} {
		if !strings.Contains(a.addr, ":") {
			bad(a.flag, "%q is not host:port (e.g. 127.0.0.1:8080 or :8080)", a.addr)
		}
	}
	if c.listen == c.admin && c.listen != "" && !strings.HasSuffix(c.listen, ":0") {
		bad("admin", "%q is also the -listen address", c.admin)
	}

	c.stableVersion, c.canaryVersion = stableVersion, canaryVersion
	for _, v := range []struct{ flag, label string }{{"stable-version", stableVersion}, {"canary-version", canaryVersion}} {
		switch {
		case v.label == "":
			bad(v.flag, "empty label")
		case strings.ContainsAny(v.label, " \t\r\n"):
			bad(v.flag, "%q contains white space", v.label)
		case strings.EqualFold(v.label, "latest"):
			bad(v.flag, "%q is not an immutable release name", v.label)
		}
	}
	if stableVersion != "" && stableVersion == canaryVersion {
		bad("canary-version", "%q is the same as -stable-version", canaryVersion)
	}
	if c.statePath != "" && (!stableVersionSet || !canaryVersionSet) {
		// The state file is keyed by the labels: with the defaults, a restart
		// with another -canary URL would resume the previous release.
		bad("state", "also set -stable-version and -canary-version, which name the release the state file belongs to")
	}

	parsed, err := strategy.ParseSteps(steps)
	if err != nil {
		bad("steps", "%q: %v", steps, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	c.stepDuration = stepDuration
	if stepDuration <= 0 {
		bad("step-duration", "%v must be positive", stepDuration)
	}
	for i := range parsed {
		if parsed[i].Hold == 0 {
			parsed[i].Hold = stepDuration
		}
	}
	c.steps = parsed

	c.maxErrorRate = maxErrorRate
	if math.IsNaN(maxErrorRate) || maxErrorRate < 0 || maxErrorRate > 1 {
		bad("max-error-rate", "%v is outside [0, 1] (0.01 is 1%%)", maxErrorRate)
	}
	c.maxP99 = maxP99
	if maxP99 <= 0 {
		bad("max-p99", "%v must be positive", maxP99)
	}
	c.minSamples = minSamples
	if minSamples < 1 {
		bad("min-samples", "%d must be at least 1", minSamples)
	}
	c.progressDeadline, c.rollbackWindow, c.drainTimeout = progressDeadline, rollbackWindow, drainTimeout
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"progress-deadline", progressDeadline}, {"rollback-window", rollbackWindow}, {"drain-timeout", drainTimeout}} {
		if d.v < 0 {
			bad(d.flag, "%v is negative", d.v)
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"read-timeout", c.readTimeout}, {"write-timeout", c.writeTimeout}, {"idle-timeout", c.idleTimeout}} {
		if d.v <= 0 {
			bad(d.flag, "%v must be positive", d.v)
		}
	}
	if c.maxConns < 0 {
		bad("max-conns", "%d is negative", c.maxConns)
	}
	if c.adminMaxConns < 1 {
		bad("admin-max-conns", "%d must be at least 1", c.adminMaxConns)
	}
	if progressDeadline == 0 {
		bad("progress-deadline", "must be positive")
	}

	key, err := parseSticky(c.sticky)
	if err != nil {
		bad("sticky", "%v", err)
	}
	c.stickyKey = key

	if c.adminToken == "" && getenv != nil {
		c.adminToken = getenv(tokenEnv)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

// parseUpstream reads an upstream URL: http or https, with a host.
func parseUpstream(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("missing: the URL of the upstream is required")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a URL: %v", raw, errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: scheme must be http or https", raw)
	case u.Host == "":
		return nil, fmt.Errorf("%q: no host", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q: a query or fragment cannot be prefixed to requests", raw)
	}
	return u, nil
}

// parseSticky reads the -sticky forms: "", "header:NAME", "cookie:NAME", "ip".
func parseSticky(s string) (func(*http.Request) string, error) {
	if s == "" {
		return nil, nil
	}
	if s == "ip" {
		return traffic.ClientIPKey, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || (kind != "header" && kind != "cookie") {
		return nil, fmt.Errorf("%q: want header:NAME, cookie:NAME or ip", s)
	}
	if !isToken(name) {
		return nil, fmt.Errorf("%q: %q is not a valid %s name", s, name, kind)
	}
	if kind == "header" {
		return traffic.HeaderKey(name), nil
	}
	return traffic.CookieKey(name), nil
}

// isToken reports whether s is an RFC 9110 token (section 5.6.2), the
// syntax of header and cookie names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
