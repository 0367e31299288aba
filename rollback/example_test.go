package rollback_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/rollback"
)

// waitWatching stands in for the rollout engine having started its
// trigger goroutines.
func waitWatching(watching func() int) {
	for watching() == 0 {
		time.Sleep(time.Millisecond)
	}
}

func ExampleWebhook() {
	hook := &rollback.Webhook{Secret: "s3cr3t"}
	mux := http.NewServeMux()
	mux.Handle("POST /rollback", hook)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The rollout engine watches the webhook like any trigger.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reasons := make(chan string, 1)
	go hook.Watch(ctx, rollback.Target{Stable: "v1", Canary: "v2"}, func(r string) { reasons <- r })
	waitWatching(hook.Watching)

	// An incident bot demands a rollback.
	send := func(token string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/rollback", strings.NewReader(`{"reason":"checkout errors paged on-call"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	send("guess")
	send("s3cr3t")
	fmt.Println(<-reasons)
	// Output:
	// 401 Unauthorized
	// 202 Accepted
	// webhook: checkout errors paged on-call
}

func ExampleManual() {
	var abort rollback.Manual
	fmt.Println(abort.Fire("too early"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reasons := make(chan string, 1)
	go abort.Watch(ctx, rollback.Target{Stable: "v1", Canary: "v2"}, func(r string) { reasons <- r })
	waitWatching(abort.Watching)

	fmt.Println(abort.Fire("database migration failed"))
	fmt.Println(<-reasons)
	// Output:
	// rollback: no rollout is watching this trigger
	// <nil>
	// manual: database migration failed
}

func ExampleHealthCheck_Ready() {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls < 3 { // still starting up
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	hc := &rollback.HealthCheck{
		URL:              srv.URL + "/healthz",
		Interval:         5 * time.Millisecond,
		SuccessThreshold: 2,
		ReadyTimeout:     10 * time.Second,
	}
	err := hc.Ready(context.Background(), rollback.Target{Stable: "v1", Canary: "v2"})
	fmt.Println("ready:", err == nil, "after", calls, "probes")
	// Output: ready: true after 4 probes
}

func ExampleHealthCheck_Watch() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()

	hc := &rollback.HealthCheck{URL: srv.URL + "/healthz", Interval: 5 * time.Millisecond, FailureThreshold: 3}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reasons := make(chan string, 1)
	go hc.Watch(ctx, rollback.Target{Stable: "v1", Canary: "v2"}, func(r string) { reasons <- r })
	fmt.Println(strings.Replace(<-reasons, srv.URL, "http://canary", 1))
	// Output: health check http://canary/healthz failed 3 times in a row: last error: status 502, want 2xx
}

func ExampleDeadline() {
	change := rollback.Deadline{By: time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC)} // the change window closes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reasons := make(chan string, 1)
	go change.Watch(ctx, rollback.Target{Stable: "v1", Canary: "v2"}, func(r string) { reasons <- r })
	fmt.Println(<-reasons)
	// Output: deadline: rollout of v2 not finished by 2025-03-01T18:00:00Z
}

func ExampleHistory() {
	h, _ := rollback.NewHistory(10)
	day := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	_ = h.Add(rollback.Revision{Version: "v1", StartedAt: day})
	_ = h.End("v1", rollback.OutcomeSucceeded, "", day.Add(time.Hour))
	_ = h.Add(rollback.Revision{Version: "v2", Previous: "v1", StartedAt: day.Add(3 * time.Hour)})
	_ = h.Fault("v2", day.Add(3*time.Hour+10*time.Minute))                                                              // the guard fired
	_ = h.End("v2", rollback.OutcomeRolledBack, "guard: 5xx", day.Add(3*time.Hour+10*time.Minute+180*time.Millisecond)) // stable has all traffic
	_ = h.Add(rollback.Revision{Version: "v3", Previous: "v1", StartedAt: day.Add(26 * time.Hour)})
	_ = h.End("v3", rollback.OutcomeSucceeded, "", day.Add(27*time.Hour))

	s := h.Stats(day.Add(48*time.Hour), 48*time.Hour)
	fmt.Printf("%d deployments, %.1f per day\n", s.Deployments, s.DeploymentsPerDay)
	fmt.Printf("change failure rate %.0f%%\n", 100*s.ChangeFailureRate)
	fmt.Printf("time to restore: median %v over %d restores\n", s.MedianTimeToRestore, s.Restores)
	for _, r := range h.Revisions() {
		fmt.Println(r.Version, r.Outcome)
	}
	// Output:
	// 3 deployments, 1.5 per day
	// change failure rate 33%
	// time to restore: median 180ms over 1 restores
	// v1 replaced
	// v2 rolled_back
	// v3 succeeded
}

// The guard watches the outcomes the recorder sees — here on a manual
// clock, so that the example is exact — and fires as soon as the canary's
// errors are shown to exceed the limit.
func ExampleGuard() {
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	rec, _ := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk}, "v1", "v2")
	guard := &rollback.Guard{Source: rec, MaxErrorRate: 0.01, Clock: clk}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reasons := make(chan string, 1)
	armed := clk.Changed()
	go guard.Watch(ctx, rollback.Target{Stable: "v1", Canary: "v2"}, func(r string) { reasons <- r })
	<-armed // the guard is watching

	for range 12 { // the new version fails every request
		rec.Observe("v2", http.StatusInternalServerError, 3*time.Millisecond, 0)
	}
	clk.Advance(rollback.DefaultGuardPoll)
	fmt.Println(<-reasons)
	// Output: guard: canary 5xx rate 100.0% (n=12) over limit 1.0%: e-value 3.3e23 ≥ 200 (α=0.01 split over restarts)
}
