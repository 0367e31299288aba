package rollback

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
)

// Modes of a fake health endpoint.
const (
	up int32 = iota
	down
	hang
)

type endpoint struct {
	*httptest.Server
	mode     atomic.Int32
	hits     atomic.Int32 // requests answered (or abandoned)
	inflight atomic.Int32 // requests hanging now
	path     atomic.Value // last path asked
}

func newEndpoint(t *testing.T) *endpoint {
	e := &endpoint{}
	release := make(chan struct{})
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.path.Store(r.URL.Path)
		mode := e.mode.Load()
		defer e.hits.Add(1) // counted once the answer is decided
		switch mode {
		case down:
			w.WriteHeader(http.StatusServiceUnavailable)
		case hang:
			e.inflight.Add(1)
			defer e.inflight.Add(-1)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(func() { close(release); e.Close() })
	return e
}

// counted is a slog.Handler that counts the records logged.
type counted struct{ n atomic.Int32 }

func (c *counted) Enabled(context.Context, slog.Level) bool  { return true }
func (c *counted) Handle(context.Context, slog.Record) error { c.n.Add(1); return nil }
func (c *counted) WithAttrs([]slog.Attr) slog.Handler        { return c }
func (c *counted) WithGroup(string) slog.Handler             { return c }

// probeDone waits until probe number n has been answered and the probe's
// timeout timer is stopped again, leaving timers armed.
func probeDone(t *testing.T, clk *clock.Fake, e *endpoint, n int32, timers int) {
	t.Helper()
	waitFor(t, "probe answered", func() bool { return e.hits.Load() >= n && clk.Waiters() == timers })
}

func TestHealthCheckFiresAfterConsecutiveFailures(t *testing.T) {
	e := newEndpoint(t)
	clk := clock.NewFake(t0)
	h := &HealthCheck{URL: e.URL + "/healthz", Interval: 5 * time.Second, Clock: clk}
	f := newFires()
	var hitsAtFire []int32
	fire := func(r string) {
		hitsAtFire = append(hitsAtFire, e.hits.Load())
		f.fire(r)
	}
	stop := watch(t, TriggerFunc(func(ctx context.Context, tg Target, _ func(string)) error {
		return h.Watch(ctx, tg, fire)
	}), target, f)
	// Probes: up, down, down, up (resets), down, down, down → fire at
	// probe 7; probe 8 (still down) does not fire again.
	modes := []int32{up, down, down, up, down, down, down, down}
	for i, m := range modes {
		e.mode.Store(m)
		if i > 0 {
			clk.Advance(5 * time.Second)
		}
		probeDone(t, clk, e, int32(i+1), 1)
	}
	assert.Equal(t, "health check "+e.URL+"/healthz failed 3 times in a row: last error: status 503, want 2xx", f.next(t))
	require.NoError(t, stop())
	assert.Equal(t, []int32{7}, hitsAtFire)
}

func TestHealthCheckHangingEndpointTimesOut(t *testing.T) {
	e := newEndpoint(t)
	e.mode.Store(hang)
	clk := clock.NewFake(t0)
	h := &HealthCheck{URL: e.URL, Interval: 5 * time.Second, Timeout: time.Second, FailureThreshold: 2, Clock: clk}
	f := newFires()
	watch(t, h, target, f)
	for i := range 2 {
		// The probe hangs: the interval and the timeout timer are armed.
		waitFor(t, "probe hanging", func() bool { return e.inflight.Load() == 1 && clk.Waiters() == 2 })
		clk.Advance(time.Second) // the timeout passes
		waitFor(t, "probe abandoned", func() bool {
			return e.inflight.Load() == 0 && e.hits.Load() == int32(i+1) && clk.Waiters() == 1
		})
		if i == 0 {
			clk.Advance(4 * time.Second)
		}
	}
	assert.Equal(t, "health check "+e.URL+" failed 2 times in a row: last error: timeout after 1s", f.next(t))
}

func TestHealthCheckExpectedStatusAndURLFor(t *testing.T) {
	e := newEndpoint(t)
	clk := clock.NewFake(t0)
	h := &HealthCheck{
		URLFor:           func(t Target) string { return e.URL + "/health/" + t.Canary },
		ExpectedStatus:   http.StatusNoContent,
		Interval:         time.Second,
		FailureThreshold: 1,
		Clock:            clk,
	}
	f := newFires()
	watch(t, h, Target{Stable: "v1", Canary: "v9"}, f)
	assert.Equal(t, "health check "+e.URL+"/health/v9 failed 1 times in a row: last error: status 200, want 204", f.next(t))
	assert.Equal(t, "/health/v9", e.path.Load())
}

func TestHealthCheckConnectionRefused(t *testing.T) {
	e := newEndpoint(t)
	u := e.URL
	e.Close() // nothing listens any more
	h := &HealthCheck{URL: u, Interval: time.Second, FailureThreshold: 1, Clock: clock.NewFake(t0)}
	f := newFires()
	watch(t, h, target, f)
	r := f.next(t)
	assert.True(t, strings.HasPrefix(r, "health check "+u+" failed 1 times in a row: last error: "), r)
	assert.Contains(t, r, "refused")
}

func TestHealthCheckRedactsPassword(t *testing.T) {
	e := newEndpoint(t)
	e.mode.Store(down)
	u := strings.Replace(e.URL, "http://", "http://probe:hunter2@", 1)
	h := &HealthCheck{URL: u, Interval: time.Second, FailureThreshold: 1, Clock: clock.NewFake(t0)}
	f := newFires()
	watch(t, h, target, f)
	r := f.next(t)
	assert.NotContains(t, r, "hunter2")
	assert.Contains(t, r, "probe:xxxxx@")
}

func TestHealthCheckHeader(t *testing.T) {
	var host, token atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		token.Store(r.Header.Get("X-Token"))
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	h := &HealthCheck{URL: srv.URL, Interval: time.Second, FailureThreshold: 1, Clock: clock.NewFake(t0),
		Header: http.Header{"Host": {"canary.internal"}, "X-Token": {"t"}}}
	f := newFires()
	watch(t, h, target, f)
	f.next(t)
	assert.Equal(t, "canary.internal", host.Load())
	assert.Equal(t, "t", token.Load())
}

func TestHealthCheckReady(t *testing.T) {
	e := newEndpoint(t)
	e.mode.Store(down)
	clk := clock.NewFake(t0)
	h := &HealthCheck{URL: e.URL, Interval: 2 * time.Second, SuccessThreshold: 3, Clock: clk}
	done := make(chan error, 1)
	go func() { done <- h.Ready(context.Background(), target) }()
	// down, up, down (resets), up, up, up → ready after probe 6.
	modes := []int32{down, up, down, up, up, up}
	for i, m := range modes {
		e.mode.Store(m)
		if i > 0 {
			clk.Advance(2 * time.Second)
		}
		if i < len(modes)-1 {
			probeDone(t, clk, e, int32(i+1), 1)
			select {
			case err := <-done:
				t.Fatalf("ready after %d probes: %v", i+1, err)
			default:
			}
		}
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	assert.Equal(t, int32(6), e.hits.Load())
	assert.Equal(t, 0, clk.Waiters(), "every timer stopped")
}

func TestHealthCheckReadyTimeout(t *testing.T) {
	e := newEndpoint(t)
	e.mode.Store(down)
	clk := clock.NewFake(t0)
	var failed counted
	h := &HealthCheck{URL: e.URL, Interval: 2 * time.Second, ReadyTimeout: 5 * time.Second, Clock: clk, Logger: slog.New(&failed)}
	done := make(chan error, 1)
	go func() { done <- h.Ready(context.Background(), target) }()
	for i := range 3 { // probes at 0, 2, 4 s; the deadline at 5 s
		if i > 0 {
			clk.Advance(2 * time.Second)
		}
		// Ready has counted the probe (it logs the failure): the probe's
		// timer stopping comes a moment before Ready receives its result.
		waitFor(t, "probe counted", func() bool { return failed.n.Load() == int32(i+1) && clk.Waiters() == 2 })
	}
	clk.Advance(time.Second)
	err := <-done
	require.ErrorIs(t, err, ErrNotReady)
	assert.Equal(t, "rollback: health check not ready after 5s: health check "+e.URL+": 0 of 1 probes in a row passed after 3 probes; last error: status 503, want 2xx", err.Error())
}

func TestHealthCheckReadyTimeoutDuringHangingProbe(t *testing.T) {
	e := newEndpoint(t)
	e.mode.Store(hang)
	clk := clock.NewFake(t0)
	h := &HealthCheck{URL: e.URL, Interval: time.Minute, Timeout: 30 * time.Second, ReadyTimeout: 10 * time.Second, Clock: clk}
	done := make(chan error, 1)
	go func() { done <- h.Ready(context.Background(), target) }()
	waitFor(t, "probe hanging", func() bool { return e.inflight.Load() == 1 && clk.Waiters() == 3 })
	clk.Advance(10 * time.Second)
	err := <-done
	require.ErrorIs(t, err, ErrNotReady)
	waitFor(t, "hanging request cancelled", func() bool { return e.inflight.Load() == 0 })
}

func TestHealthCheckReadyCancelled(t *testing.T) {
	e := newEndpoint(t)
	e.mode.Store(down)
	clk := clock.NewFake(t0)
	h := &HealthCheck{URL: e.URL, Interval: time.Second, Clock: clk}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Ready(ctx, target) }()
	probeDone(t, clk, e, 1, 1)
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "last error: status 503")
}

func TestHealthCheckWatchStopsOnCancel(t *testing.T) {
	e := newEndpoint(t)
	e.mode.Store(hang)
	clk := clock.NewFake(t0)
	h := &HealthCheck{URL: e.URL, Interval: time.Second, Clock: clk}
	f := newFires()
	stop := watch(t, h, target, f)
	waitFor(t, "probe hanging", func() bool { return e.inflight.Load() == 1 })
	require.NoError(t, stop())
	assert.Empty(t, f.all())
	assert.Equal(t, 0, clk.Waiters(), "every timer stopped")
}

func TestHealthCheckValidate(t *testing.T) {
	ok := HealthCheck{URL: "http://127.0.0.1:8080/healthz", Interval: time.Second}
	require.NoError(t, ok.Validate())
	for _, tc := range []struct {
		name string
		mod  func(h *HealthCheck)
		want []string
	}{
		{"no url", func(h *HealthCheck) { h.URL = "" }, []string{"url: empty"}},
		{"both urls", func(h *HealthCheck) { h.URLFor = func(Target) string { return "" } }, []string{"url and url func are both set"}},
		{"unparsable", func(h *HealthCheck) { h.URL = "http://[::1" }, []string{`url: "http://[::1" does not parse`}},
		{"scheme", func(h *HealthCheck) { h.URL = "ftp://x/y" }, []string{`scheme "ftp" is not http or https`}},
		{"relative", func(h *HealthCheck) { h.URL = "/healthz" }, []string{`scheme "" is not http or https`}},
		{"no host", func(h *HealthCheck) { h.URL = "http:///healthz" }, []string{"has no host"}},
		{"password hidden", func(h *HealthCheck) { h.URL = "http://u:hunter2@[::1/x" }, []string{`url: "http://xxxxx@[::1/x" does not parse: missing ']' in host`}},
		{"password hidden scheme", func(h *HealthCheck) { h.URL = "ftp://u:hunter2@host/x" }, []string{`url: "ftp://u:xxxxx@host/x": scheme "ftp"`}},
		{"zero interval", func(h *HealthCheck) { h.Interval = 0 }, []string{"interval: 0s must be positive"}},
		{"everything", func(h *HealthCheck) {
			h.Interval, h.Timeout, h.FailureThreshold, h.SuccessThreshold = -time.Second, -1, -2, -3
			h.ExpectedStatus, h.ReadyTimeout = 42, -time.Minute
		}, []string{
			"interval: -1s must be positive", "timeout: -1ns is negative", "failure threshold: -2 must be at least 1",
			"success threshold: -3 must be at least 1", "expected status: 42 is not an HTTP status", "ready timeout: -1m0s is negative",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ok
			tc.mod(&h)
			err := h.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestHealthCheckBadConfigReturnsAtOnce(t *testing.T) {
	h := &HealthCheck{URL: "ftp://x", Interval: time.Second}
	err := h.Watch(context.Background(), target, func(string) { t.Fatal("fired") })
	require.Error(t, err)
	err = h.Ready(context.Background(), target)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNotReady))

	h = &HealthCheck{URLFor: func(t Target) string { return "not a url " + t.Canary }, Interval: time.Second}
	err = h.Watch(context.Background(), target, func(string) { t.Fatal("fired") })
	require.Error(t, err)
	assert.Contains(t, err.Error(), `url func for canary "v2"`)
}
