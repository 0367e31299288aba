package rollback

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/traffic"
)

// cancelScenario sends n requests through a real Splitter into a Recorder:
// 30% of them from clients that have gone away (their context done), which
// the backends answer 502 as httputil.ReverseProxy does. slow makes the
// canary's completed requests take 300 ms (recorded through the recorder
// directly, as the splitter times real handlers).
func cancelScenario(t *testing.T, rec *analysis.Recorder, n int) {
	t.Helper()
	proxyLike := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Err() != nil {
			w.WriteHeader(http.StatusBadGateway) // ReverseProxy's answer to a cancelled request
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	sp, err := traffic.NewSplitter(map[string]http.Handler{"v1": proxyLike, "v2": proxyLike},
		traffic.Options{Observer: rec, Route: traffic.Route{Weights: []traffic.Weight{{Backend: "v1", Percent: 50}, {Backend: "v2", Percent: 50}}}})
	require.NoError(t, err)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range n {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if i%10 < 3 {
			req = req.WithContext(gone)
		}
		sp.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// Clients cancel 30% of requests on both versions: a healthy canary is
// neither rolled back nor failed (issue 12, §2).
func TestGuardClientCancelsHealthy(t *testing.T) {
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
	require.NoError(t, err)
	g := Guard{Source: rec, MaxErrorRate: 0.01, CompareErrorRate: true, MaxLatency: 200 * time.Millisecond}
	run, err := g.start(target)
	require.NoError(t, err)
	for range 50 {
		cancelScenario(t, rec, 200)
		require.Empty(t, run.poll(), "a healthy canary whose clients cancel is not rolled back")
	}
	w := rec.Total("v2")
	assert.Zero(t, w.Errors, "a client that went away is no server error")
	assert.Greater(t, w.Gone, int64(1000))

	th, err := analysis.NewThresholds(rec, analysis.ErrorRate(0.01), analysis.LatencyQuantile(0.99, 200*time.Millisecond))
	require.NoError(t, err)
	res, err := th.Analyze(context.Background(), analysis.Query{Canary: "v2", Baseline: "v1"})
	require.NoError(t, err)
	assert.Equal(t, analysis.Pass, res.Verdict, res.Reason)
}

// The same, with the canary slowed past the limit: rolled back on latency,
// the gone clients that waited past the limit counting as slow.
func TestGuardClientCancelsSlowCanary(t *testing.T) {
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
	require.NoError(t, err)
	g := Guard{Source: rec, MaxErrorRate: 0.01, CompareErrorRate: true, MaxLatency: 200 * time.Millisecond}
	run, err := g.start(target)
	require.NoError(t, err)
	var reasons []string
	for i := 0; i < 100 && len(reasons) == 0; i++ {
		cancelScenario(t, rec, 20) // the stable version, and the canary's cancels
		for k := range 10 {
			if k < 3 {
				rec.Observe("v2", analysis.StatusClientClosedRequest, 250*time.Millisecond, 0)
			} else {
				rec.Observe("v2", 200, 300*time.Millisecond, 10)
			}
		}
		reasons = run.poll()
	}
	require.NotEmpty(t, reasons, "a slow canary is rolled back")
	assert.Contains(t, reasons[0], "latency over limit 200ms")
}

// A canary that accepts requests and never answers is rolled back on
// latency once its requests have been in flight past the limit, with no
// request ever ending (issue 12, §1).
func TestGuardHungCanary(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk}, "v1", "v2")
	require.NoError(t, err)
	g := Guard{Source: rec, MaxLatency: 200 * time.Millisecond, Clock: clk}
	run, err := g.start(target)
	require.NoError(t, err)
	// Healthy first.
	for range 50 {
		for range 9 {
			rec.Observe("v1", 200, 20*time.Millisecond, 0)
		}
		rec.Finish("v2", rec.Start("v2"), 200, 20*time.Millisecond, 0)
		clk.Advance(10 * time.Millisecond)
		require.Empty(t, run.poll())
	}
	// The canary hangs: one request every 10 ms, none ever ends.
	var fired time.Duration
	for step := range 100 {
		rec.Start("v2")
		clk.Advance(10 * time.Millisecond)
		if r := run.poll(); len(r) > 0 {
			assert.Contains(t, r[0], "latency over limit 200ms")
			fired = time.Duration(step+1) * 10 * time.Millisecond
			break
		}
	}
	require.NotZero(t, fired, "a hung canary is rolled back")
	assert.Less(t, fired, 300*time.Millisecond, "at about the limit plus a few requests")
	t.Logf("hung canary rolled back %v after its first hung request", fired)
}

// A guard over a source that signals errors wakes on the canary's first
// 5xx, not at its next poll.
func TestGuardWakesOnError(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk}, "v1", "v2")
	require.NoError(t, err)
	g := Guard{Source: rec, MaxErrorRate: 0.01, Clock: clk, PollInterval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fired := make(chan string, 4)
	go func() { _ = g.Watch(ctx, target, func(r string) { fired <- r }) }()
	require.NoError(t, clk.BlockUntil(ctx, 1)) // the guard waits on its hour-long poll
	for i := 0; i < 200; i++ {
		rec.Observe("v2", 500, time.Millisecond, 0)
		select {
		case r := <-fired:
			assert.True(t, strings.Contains(r, "5xx rate"))
			return
		case <-time.After(time.Millisecond):
		}
	}
	t.Fatal("the guard did not wake on errors before its poll")
}
