package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	promq "github.com/ramp-go/ramp/analysis/prometheus"
	"github.com/ramp-go/ramp/internal/integration"
	"github.com/ramp-go/ramp/traffic/haproxy"
	"github.com/ramp-go/ramp/traffic/haproxy/haproxytest"
)

// site is the system under deployment: two upstream versions behind a real
// HAProxy whose built-in exporter serves Prometheus metrics.
type site struct {
	hp      *haproxytest.Process
	front   string // HAProxy's HTTP frontend
	metrics string // HAProxy's Prometheus exporter
	// failPercent is the share of the canary's answers that are 500s.
	failPercent atomic.Int64
}

func startSite(t *testing.T) *site {
	t.Helper()
	s := &site{front: integration.FreeAddr(t), metrics: integration.FreeAddr(t)}
	stable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "stable")
	}))
	t.Cleanup(stable.Close)
	var n atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// failPercent of every 100 answers fail, spread evenly: any ten
		// consecutive requests hold about failPercent/10 failures.
		if k := n.Add(1); (k*s.failPercent.Load())%100 < s.failPercent.Load() {
			http.Error(w, "canary broke", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "canary")
	}))
	t.Cleanup(canary.Close)
	s.hp = haproxytest.Start(t, fmt.Sprintf(`
frontend fe
    bind %s
    default_backend app

frontend prometheus
    bind %s
    http-request use-service prometheus-exporter if { path /metrics }
    no log

backend app
    balance roundrobin
    server stable %s weight 256
    server canary %s weight 0
`, s.front, s.metrics, stable.Listener.Addr(), canary.Listener.Addr()))
	return s
}

// load sends about perSecond requests a second through HAProxy until the
// test ends, and counts the answers by status.
func (s *site) load(t *testing.T, perSecond int) *sync.Map {
	t.Helper()
	counts := &sync.Map{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 4
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * workers / time.Duration(perSecond))
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				code := 0
				if resp, err := client.Get("http://" + s.front + "/"); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				v, _ := counts.LoadOrStore(code, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	return counts
}

func (s *site) weights(t *testing.T) map[string]int {
	t.Helper()
	c := &haproxy.Client{Addr: s.hp.Socket}
	out := map[string]int{}
	for _, srv := range []string{"stable", "canary"} {
		w, err := c.Weight(context.Background(), "app", srv)
		require.NoError(t, err)
		out[srv] = w.Current
	}
	return out
}

func (s *site) setWeights(t *testing.T, stable, canary int) {
	t.Helper()
	c := &haproxy.Client{Addr: s.hp.Socket}
	require.NoError(t, c.SetWeight(context.Background(), "app", "stable", stable))
	require.NoError(t, c.SetWeight(context.Background(), "app", "canary", canary))
}

// deployRun is one run of the tool, in process.
type deployRun struct {
	code   int
	stdout string
	stderr string
	took   time.Duration
}

func (d deployRun) lines() []string { return strings.Split(strings.TrimRight(d.stdout, "\n"), "\n") }

func runTool(ctx context.Context, args ...string) deployRun {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, args, &stdout, &stderr)
	return deployRun{code: code, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
}

// TestEndToEnd deploys twice through a real HAProxy judged by a real
// Prometheus: a healthy version is promoted (exit 0, all weight on the
// canary server), a version answering 30% 5xx is rolled back (exit 3, all
// weight back on the stable server) with the failing analysis as reason.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy and prometheus")
	}
	integration.Binary(t, "prometheus") // skip before starting anything
	began := time.Now()
	s := startSite(t)
	promURL := integration.StartPrometheus(t, s.metrics)
	counts := s.load(t, 200)
	waitForScrapes(t, promURL, `count_over_time(haproxy_server_http_responses_total{proxy="app",server="canary",code="5xx"}[1m])`, 3)
	t.Logf("haproxy, prometheus and load up after %v", time.Since(began).Round(time.Millisecond))

	args := func(version string) []string {
		return []string{
			"-haproxy", s.hp.Socket, "-backend", "app",
			"-stable-server", "stable", "-canary-server", "canary",
			"-stable-version", "v1", "-canary-version", version,
			"-prometheus", promURL,
			"-steps", "10,50,100", "-step-duration", "3s", "-interval", "1s", "-initial-delay", "2s",
			"-max-error-rate", "1%", "-min-requests", "10", "-max-latency", "1s",
			"-progress-deadline", "20s",
		}
	}

	// Run 1: a healthy version is promoted.
	healthy := runTool(context.Background(), args("v2")...)
	t.Logf("healthy run: exit %d after %v; output:\n%s%s", healthy.code, healthy.took.Round(time.Millisecond), healthy.stdout, healthy.stderr)
	require.Equal(t, exitPromoted, healthy.code, "stderr: %s", healthy.stderr)
	assert.Equal(t, map[string]int{"stable": 0, "canary": 256}, s.weights(t), "HAProxy's weights after promotion")
	assert.Contains(t, healthy.stdout, "step 1 of 3: v2 gets 10.00% (HAProxy weights canary=28 stable=252)")
	assert.Contains(t, healthy.stdout, "step 3 of 3: v2 gets 100.00%")
	assert.Contains(t, healthy.stdout, "analysis pass")
	assert.Contains(t, healthy.stdout, "HAProxy after: v1 0.00%, v2 100.00%")
	assert.Contains(t, healthy.stdout, "deploytool: promoted v2 in")
	assert.NotContains(t, healthy.stdout, "analysis fail")

	// Run 2: the next version, deployed onto the canary server, answers
	// 30% of its requests with 500.
	s.setWeights(t, 256, 0)
	s.failPercent.Store(30)
	faulty := runTool(context.Background(), args("v3")...)
	t.Logf("faulty run: exit %d after %v; output:\n%s%s", faulty.code, faulty.took.Round(time.Millisecond), faulty.stdout, faulty.stderr)
	require.Equal(t, exitRolledBack, faulty.code, "stderr: %s", faulty.stderr)
	assert.Equal(t, map[string]int{"stable": 256, "canary": 0}, s.weights(t), "HAProxy's weights after rollback")
	assert.Contains(t, faulty.stdout, "analysis fail")
	assert.Contains(t, faulty.stdout, "rolling back: analysis failed at step 1 of 3 (10.00%)")
	assert.Contains(t, faulty.stdout, "error rate")
	assert.Contains(t, faulty.stdout, "HAProxy after: v1 100.00%, v3 0.00%")
	assert.Contains(t, faulty.stdout, "deploytool: rolled back v3 after")
	assert.NotContains(t, faulty.stdout, "step 2 of 3", "a failing first step must not be left")

	total := map[int]int64{}
	counts.Range(func(k, v any) bool { total[k.(int)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("requests through HAProxy by status: %v; whole test %v", total, time.Since(began).Round(time.Millisecond))
	assert.Zero(t, total[0], "requests that failed to get any answer (HAProxy without a server?)")
	assert.Zero(t, total[http.StatusServiceUnavailable], "503s: HAProxy had no server")
}

// waitForScrapes waits until query, evaluated by Prometheus, is at least
// min: Prometheus has scraped the exporter often enough for rate().
func waitForScrapes(t *testing.T, promURL, query string, min float64) {
	t.Helper()
	client, err := promq.NewClient(promq.Options{URL: promURL, Timeout: 2 * time.Second})
	require.NoError(t, err)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Query(context.Background(), query, time.Time{})
		if err == nil {
			if v, ok := resp.Value.(model.Vector); ok && len(v) == 1 && float64(v[0].Value) >= min {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus: %s still below %v after 15s (last error: %v)", query, min, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
