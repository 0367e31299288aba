package rollback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ramp-go/ramp/clock"
)

// Defaults of HealthCheck.
const (
	DefaultProbeTimeout     = time.Second
	DefaultFailureThreshold = 3
	DefaultSuccessThreshold = 1
)

// ErrNotReady is wrapped by HealthCheck.Ready when ReadyTimeout passes
// before the new version passed its probes.
var ErrNotReady = errors.New("rollback: health check not ready")

// maxProbeBody is how much of a probe response is read (and discarded)
// so that the connection can be reused.
const maxProbeBody = 64 << 10

// HealthCheck actively probes the new version's health endpoint over HTTP.
//
// As a Trigger it probes every Interval for as long as the rollout is
// watched and fires once FailureThreshold probes in a row have failed
// (again after each later run of failures). As a Gate, Ready probes until
// SuccessThreshold probes in a row have passed, so that no traffic moves
// to a version that is not up yet ("health checks before traffic").
//
// A probe is a GET (with Header) that passes when it is answered, within
// Timeout, with ExpectedStatus — or any 2xx when ExpectedStatus is 0. A
// probe that hangs is abandoned after Timeout: the request is cancelled
// and the probe fails with "timeout after <Timeout>". Probes never
// overlap: the next starts Interval after the previous started, or at
// once if that one took longer.
//
// Interval is required; every other field has a default, noted on it.
// Fields must not change while the check is in use.
type HealthCheck struct {
	// URL of the health endpoint (http or https), e.g.
	// "http://10.0.0.7:8080/healthz". Exactly one of URL and URLFor is set.
	URL string
	// URLFor derives the URL from the rollout's target, for a check shared
	// by rollouts of several versions:
	//	URLFor: func(t rollback.Target) string { return "http://" + t.Canary + ".svc:8080/healthz" }
	URLFor func(t Target) string
	// Interval between probe starts. Required (> 0).
	Interval time.Duration
	// Timeout bounds one probe. 0 means DefaultProbeTimeout (1 s).
	Timeout time.Duration
	// ExpectedStatus is the status a healthy endpoint answers; 0 means
	// any 2xx.
	ExpectedStatus int
	// FailureThreshold is how many failed probes in a row fire the
	// trigger. 0 means DefaultFailureThreshold (3).
	FailureThreshold int
	// SuccessThreshold is how many passed probes in a row make Ready
	// return. 0 means DefaultSuccessThreshold (1).
	SuccessThreshold int
	// ReadyTimeout bounds Ready; past it Ready returns an error wrapping
	// ErrNotReady. 0 means no bound other than ctx.
	ReadyTimeout time.Duration
	// Header is added to every probe (a Host or an auth header, say).
	Header http.Header
	// Client sends the probes; nil means a default client. Its own
	// Timeout, if any, applies on top of Timeout.
	Client *http.Client
	// Logger, when set, logs failed probes at debug level and the
	// trigger firing at warning level. nil: silent.
	Logger *slog.Logger
	// Clock is the time source; nil means the system clock.
	Clock clock.Clock
}

var defaultProbeClient = &http.Client{}

// Validate reports every problem with h at once, naming the field and
// value.
func (h *HealthCheck) Validate() error {
	var errs []error
	switch {
	case h.URL != "" && h.URLFor != nil:
		errs = append(errs, errors.New("health check: url and url func are both set: set one"))
	case h.URL == "" && h.URLFor == nil:
		errs = append(errs, errors.New("health check: url: empty (set URL or URLFor)"))
	case h.URL != "":
		if err := checkProbeURL(h.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if h.Interval <= 0 {
		errs = append(errs, fmt.Errorf("health check: interval: %v must be positive", h.Interval))
	}
	if h.Timeout < 0 {
		errs = append(errs, fmt.Errorf("health check: timeout: %v is negative", h.Timeout))
	}
	if h.ExpectedStatus != 0 && (h.ExpectedStatus < 100 || h.ExpectedStatus > 599) {
		errs = append(errs, fmt.Errorf("health check: expected status: %d is not an HTTP status (100-599)", h.ExpectedStatus))
	}
	if h.FailureThreshold < 0 {
		errs = append(errs, fmt.Errorf("health check: failure threshold: %d must be at least 1 (0 means %d)", h.FailureThreshold, DefaultFailureThreshold))
	}
	if h.SuccessThreshold < 0 {
		errs = append(errs, fmt.Errorf("health check: success threshold: %d must be at least 1 (0 means %d)", h.SuccessThreshold, DefaultSuccessThreshold))
	}
	if h.ReadyTimeout < 0 {
		errs = append(errs, fmt.Errorf("health check: ready timeout: %v is negative", h.ReadyTimeout))
	}
	return errors.Join(errs...)
}

func checkProbeURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it would repeat the URL, password and all
		}
		return fmt.Errorf("health check: url: %q does not parse: %w", maskUserinfo(s), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("health check: url: %q: scheme %q is not http or https", u.Redacted(), u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("health check: url: %q has no host", u.Redacted())
	}
	return nil
}

// maskUserinfo hides what may be a password in a URL that does not parse:
// anything between "://" and the next "@" before the path.
func maskUserinfo(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	auth, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(auth, "@")
	if at < 0 {
		return s
	}
	i := len(s) - len(rest)
	return s[:i] + "xxxxx" + s[i+at:]
}

// redact hides a password in u, so that reasons and logs never show it.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Redacted()
}

// target validates h and resolves the URL for t.
func (h *HealthCheck) target(t Target) (string, error) {
	if err := h.Validate(); err != nil {
		return "", err
	}
	if h.URLFor == nil {
		return h.URL, nil
	}
	u := h.URLFor(t)
	if err := checkProbeURL(u); err != nil {
		return "", fmt.Errorf("url func for canary %q: %w", t.Canary, err)
	}
	return u, nil
}

// Watch probes until ctx is done and fires after FailureThreshold failed
// probes in a row. It returns a configuration error at once, else nil when
// ctx is done.
func (h *HealthCheck) Watch(ctx context.Context, t Target, fire func(reason string)) error {
	u, err := h.target(t)
	if err != nil {
		return err
	}
	shown := redact(u)
	threshold := h.FailureThreshold
	if threshold == 0 {
		threshold = DefaultFailureThreshold
	}
	clk := clock.Or(h.Clock)
	failures := 0
	for {
		next := clk.NewTimer(h.Interval)
		err := h.probe(ctx, clk, u)
		if ctx.Err() != nil {
			next.Stop()
			return nil
		}
		if err == nil {
			failures = 0
		} else {
			failures++
			h.debug(ctx, u, err, failures)
			if failures == threshold {
				reason := fmt.Sprintf("health check %s failed %d times in a row: last error: %v", shown, failures, err)
				if h.Logger != nil {
					h.Logger.LogAttrs(ctx, slog.LevelWarn, "health check: firing", slog.String("canary", t.Canary), slog.String("reason", reason))
				}
				fire(reason)
			}
		}
		select {
		case <-ctx.Done():
			next.Stop()
			return nil
		case <-next.C():
		}
	}
}

// Ready probes until SuccessThreshold probes in a row have passed and then
// returns nil. It returns an error wrapping ErrNotReady (with the last
// failure) when ReadyTimeout passes first, an error wrapping ctx.Err()
// when ctx is done first, and a configuration error at once.
func (h *HealthCheck) Ready(ctx context.Context, t Target) error {
	u, err := h.target(t)
	if err != nil {
		return err
	}
	need := h.SuccessThreshold
	if need == 0 {
		need = DefaultSuccessThreshold
	}
	clk := clock.Or(h.Clock)
	var deadline <-chan time.Time
	if h.ReadyTimeout > 0 {
		dt := clk.NewTimer(h.ReadyTimeout)
		defer dt.Stop()
		deadline = dt.C()
	}
	passed, probes := 0, 0
	var last error
	notReady := func() string {
		s := fmt.Sprintf("health check %s: %d of %d probes in a row passed after %d probes", redact(u), passed, need, probes)
		if last != nil {
			s += fmt.Sprintf("; last error: %v", last)
		}
		return s
	}
	for {
		next := clk.NewTimer(h.Interval)
		// A probe in flight when the ready timeout passes is cancelled too.
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- h.probe(pctx, clk, u) }()
		var err error
		late := false
		select {
		case err = <-done:
			cancel()
		case <-deadline:
			// A probe that ended before the deadline was seen counts (both
			// may be ready at once: select would pick either).
			select {
			case err = <-done:
				late = true
			default:
				cancel()
				<-done
				next.Stop()
				return fmt.Errorf("%w after %v: %s", ErrNotReady, h.ReadyTimeout, notReady())
			}
			cancel()
		}
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			next.Stop() // the probe was cut short: it says nothing
			return fmt.Errorf("%s: %w", notReady(), ctx.Err())
		}
		probes++
		if err == nil {
			passed++
			if passed >= need {
				next.Stop()
				return nil
			}
		} else {
			passed, last = 0, err
			h.debug(ctx, u, err, 0)
		}
		if late {
			next.Stop()
			return fmt.Errorf("%w after %v: %s", ErrNotReady, h.ReadyTimeout, notReady())
		}
		select {
		case <-ctx.Done():
			next.Stop()
			return fmt.Errorf("%s: %w", notReady(), ctx.Err())
		case <-deadline:
			next.Stop()
			return fmt.Errorf("%w after %v: %s", ErrNotReady, h.ReadyTimeout, notReady())
		case <-next.C():
		}
	}
}

// probe makes one request and reports why it failed, or nil. It returns
// within Timeout of the clock: a hanging request is cancelled.
func (h *HealthCheck) probe(ctx context.Context, clk clock.Clock, u string) error {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = DefaultProbeTimeout
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := clk.NewTimer(timeout)
	defer timer.Stop()
	done := make(chan error, 1)
	go func() { done <- h.do(rctx, u) }()
	select {
	case err := <-done:
		return err
	case <-timer.C():
		cancel()
		<-done
		return fmt.Errorf("timeout after %v", timeout)
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

func (h *HealthCheck) do(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	for k, vs := range h.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if host := h.Header.Get("Host"); host != "" {
		req.Host = host
	}
	c := h.Client
	if c == nil {
		c = defaultProbeClient
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in every reason
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	resp.Body.Close()
	switch {
	case h.ExpectedStatus != 0 && resp.StatusCode != h.ExpectedStatus:
		return fmt.Errorf("status %d, want %d", resp.StatusCode, h.ExpectedStatus)
	case h.ExpectedStatus == 0 && (resp.StatusCode < 200 || resp.StatusCode > 299):
		return fmt.Errorf("status %d, want 2xx", resp.StatusCode)
	}
	return nil
}

func (h *HealthCheck) debug(ctx context.Context, u string, err error, inARow int) {
	if h.Logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("url", redact(u)), slog.String("error", err.Error())}
	if inARow > 0 {
		attrs = append(attrs, slog.Int("in_a_row", inARow))
	}
	h.Logger.LogAttrs(ctx, slog.LevelDebug, "health check: probe failed", attrs...)
}
