package prometheus_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/analysis/prometheus"
	"github.com/ramp-go/ramp/internal/integration"
	"github.com/ramp-go/ramp/traffic"
)

// TestRealPrometheus runs the analyzer against a real Prometheus server
// scraping a Recorder's Collector, fed by a Splitter: a healthy canary must
// pass and a canary answering 20% 5xx must fail, through real PromQL.
func TestRealPrometheus(t *testing.T) {
	integration.Binary(t, "prometheus") // skip before starting anything
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	began := time.Now()

	// The host: a splitter over two backends, observed by a recorder
	// whose collector is served on /metrics.
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{SliceDuration: time.Second}, "stable", "canary")
	require.NoError(t, err)
	col, err := analysis.NewCollector(rec, analysis.CollectorOptions{})
	require.NoError(t, err)
	reg := promclient.NewRegistry()
	require.NoError(t, reg.Register(col))
	exporter := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(exporter.Close)

	var canaryBad atomic.Bool
	var canaryN atomic.Int64
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	canary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every fifth request fails while the canary is bad: 20% 5xx.
		if canaryBad.Load() && canaryN.Add(1)%5 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	split, err := traffic.NewSplitter(map[string]http.Handler{"stable": ok, "canary": canary},
		traffic.Options{Route: traffic.Split("stable", "canary", 50), Observer: rec})
	require.NoError(t, err)

	// Traffic: a steady stream through the splitter until the test ends.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for range 20 {
					split.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	promURL := integration.StartPrometheus(t, exporter.Listener.Addr().String())
	t.Logf("prometheus ready after %v", time.Since(began).Round(time.Millisecond))

	client, err := prometheus.NewClient(prometheus.Options{URL: promURL, Timeout: 5 * time.Second})
	require.NoError(t, err)
	const (
		// "or vector(0)": no 5xx series at all means a rate of 0, not no data.
		errRate = `(sum(rate(ramp_requests_total{backend="{{backend}}",code=~"5.."}[{{window}}])) or vector(0)) / sum(rate(ramp_requests_total{backend="{{backend}}"}[{{window}}]))`
		count   = `sum(increase(ramp_requests_total{backend="{{backend}}"}[{{window}}]))`
		p99     = `histogram_quantile(0.99, sum by (le) (rate(ramp_request_duration_seconds_bucket{backend="{{backend}}"}[{{window}}])))`
	)
	analyzer, err := prometheus.New(prometheus.Config{
		Client: client,
		Metrics: []prometheus.Metric{
			{Name: "5xx rate", Query: errRate, Count: count, MinCount: 50, Unit: prometheus.Ratio,
				Threshold: prometheus.AtMost(0.05), Compare: &prometheus.Comparison{Direction: analysis.Increase, Absolute: 0.02}},
			{Name: "p99 latency", Query: p99, Unit: prometheus.Seconds, Threshold: prometheus.AtMost(1)},
		},
	})
	require.NoError(t, err)

	// analyzeUntil re-runs the analysis over the span since `since` until
	// its verdict is not NoData (Prometheus needs two scrapes in the span
	// for rate()), and returns that result.
	analyzeUntil := func(since time.Time) analysis.Result {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := analyzer.Analyze(context.Background(), analysis.Query{Canary: "canary", Baseline: "stable", Since: since})
			if res.Verdict != analysis.NoData {
				if res.Verdict == analysis.Error {
					require.NoError(t, err, "reason: %s", res.Reason)
				}
				return res
			}
			if time.Now().After(deadline) {
				t.Fatalf("still no data after 10s: %s", res.Reason)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// Phase 1: a healthy canary passes.
	healthyFrom := time.Now()
	res := analyzeUntil(healthyFrom)
	t.Logf("healthy: %s: %s", res.Verdict, res.Reason)
	require.Equal(t, analysis.Pass, res.Verdict, res.Reason)
	m := res.Metrics[0]
	assert.Equal(t, 0.0, m.Canary)
	assert.GreaterOrEqual(t, m.CanaryN, int64(50))
	assert.GreaterOrEqual(t, m.BaselineN, int64(50))
	assert.Equal(t, analysis.Pass, res.Metrics[1].Verdict, res.Metrics[1].Reason)
	assert.Less(t, res.Metrics[1].Canary, 1.0)

	// Phase 2: the canary answers 20% 5xx and fails.
	canaryBad.Store(true)
	badFrom := time.Now()
	res = analyzeUntil(badFrom)
	t.Logf("bad: %s: %s", res.Verdict, res.Reason)
	require.Equal(t, analysis.Fail, res.Verdict, res.Reason)
	m = res.Metrics[0]
	assert.Equal(t, analysis.Fail, m.Verdict)
	assert.InDelta(t, 0.20, m.Canary, 0.07, "a fifth of the canary's requests fail")
	assert.Equal(t, 0.0, m.Baseline)
	assert.Contains(t, m.Reason, "> limit 5.00%")
	assert.Contains(t, m.Reason, `backend="canary"`)

	// Range queries over the whole run give the samples a distribution
	// judge (analysis.Comparison) compares: one point a second, rate over
	// the 3 s before each point: zero while healthy, about 20% once the
	// 3 s are all bad (diluted while they straddle the switch).
	errRate3s := strings.ReplaceAll(errRate, "{{window}}", "3s")
	src, err := prometheus.NewSource(prometheus.SourceConfig{Client: client, Queries: map[string]string{"5xx rate": errRate3s}, Step: time.Second})
	require.NoError(t, err)
	var cs, bs []float64
	deadline := time.Now().Add(5 * time.Second)
	for {
		cs, bs, err = src.Samples(context.Background(), analysis.Query{Canary: "canary", Baseline: "stable", Since: healthyFrom}, "5xx rate")
		require.NoError(t, err)
		if slices.Max(append([]float64{0}, cs...)) > 0.15 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("samples: canary %.3f, baseline %.3f", cs, bs)
	require.NotEmpty(t, cs)
	require.NotEmpty(t, bs)
	assert.Equal(t, 0.0, cs[0], "healthy at first")
	assert.InDelta(t, 0.2, slices.Max(cs), 0.07, "about a fifth of the bad canary's requests fail")
	assert.Equal(t, 0.0, slices.Max(bs), "the baseline never fails")

	// Bad PromQL: Prometheus's own message, quoted.
	_, err = client.Query(context.Background(), `sum(rate(ramp_requests_total{backend=}[1m]))`, time.Time{})
	var apiErr *prometheus.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.Equal(t, "bad_data", apiErr.Type)
	assert.Contains(t, apiErr.Message, "parse error")
	t.Logf("bad PromQL: %v", err)
	t.Logf("total %v", time.Since(began).Round(time.Millisecond))
}
