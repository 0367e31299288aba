package rollback

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/traffic"
)

// ttrFault is what the canary starts doing at the fault.
type ttrFault int

const (
	ttrHang   ttrFault = iota // accepts the request and never answers
	ttrSlow                   // answers 300 ms later than before
	ttrErrors                 // answers 500 at once
)

// ttrTrial runs one trial over real HTTP on loopback: a Splitter sending
// 10% of 1,000 req/s (open loop, clients without a timeout) to the canary,
// a Recorder as its observer, a Guard over the recorder with a 200 ms
// p99 latency limit and a 1% error-rate limit, and a driver that applies
// the stable route the moment the guard fires. It returns the time from
// the fault to the stable route in force.
func ttrTrial(tb testing.TB, fault ttrFault) time.Duration {
	var faulty atomic.Bool
	release := make(chan struct{}) // ends hung requests after the trial
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }
	canary := func(w http.ResponseWriter, r *http.Request) {
		if !faulty.Load() {
			ok(w, r)
			return
		}
		switch fault {
		case ttrHang:
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case ttrSlow:
			select {
			case <-time.After(300 * time.Millisecond):
			case <-release:
			}
		case ttrErrors:
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		ok(w, r)
	}
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{}, "stable", "canary")
	if err != nil {
		tb.Fatal(err)
	}
	sp, err := traffic.NewSplitter(map[string]http.Handler{"stable": http.HandlerFunc(ok), "canary": http.HandlerFunc(canary)},
		traffic.Options{Observer: rec, Route: traffic.Route{Weights: []traffic.Weight{{Backend: "stable", Percent: 90}, {Backend: "canary", Percent: 10}}}})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(sp)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}} // no timeout
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		close(release)
		wg.Wait()
		client.CloseIdleConnections()
		srv.Close()
	}()
	// Load: 10 requests every 10 ms.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
					if resp, err := client.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // healthy traffic first
	fired := make(chan time.Time, 1)
	g := Guard{Source: rec, MaxErrorRate: 0.01, MaxLatency: 200 * time.Millisecond}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = g.Watch(ctx, Target{Stable: "stable", Canary: "canary"}, func(string) {
			// The driver: the stable route, at once.
			if err := sp.Apply(ctx, traffic.Route{Weights: []traffic.Weight{{Backend: "stable", Percent: 100}}}); err == nil {
				select {
				case fired <- time.Now():
				default:
				}
			}
		})
	}()
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	faulty.Store(true)
	select {
	case at := <-fired:
		return at.Sub(t0)
	case <-time.After(5 * time.Second):
		tb.Fatal("the guard did not fire within 5 s")
		return 0
	}
}

// BenchmarkTimeToRollbackGuard measures, over 20 trials per iteration,
// the time from a canary fault to the stable route in force: a canary
// that never answers (clients without a timeout), one 300 ms slower, and
// one answering 500 to everything. Run with -benchtime 1x; it reports the
// median and the worst trial.
func BenchmarkTimeToRollbackGuard(b *testing.B) {
	for _, tc := range []struct {
		name  string
		fault ttrFault
	}{{"hang", ttrHang}, {"slow300ms", ttrSlow}, {"5xx", ttrErrors}} {
		b.Run(tc.name, func(b *testing.B) {
			var all []time.Duration
			for range b.N {
				for range 20 {
					all = append(all, ttrTrial(b, tc.fault))
				}
			}
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2].Milliseconds()), "median-ms")
			b.ReportMetric(float64(all[len(all)-1].Milliseconds()), "worst-ms")
		})
	}
}
