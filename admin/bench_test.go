package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
)

// BenchmarkStatus is one GET /status (what the page and rampctl poll):
// a rollout at its first step, a recorder with traffic, a full history.
func BenchmarkStatus(b *testing.B) {
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
	if err != nil {
		b.Fatal(err)
	}
	events := &admin.Events{}
	r, err := ramp.New(context.Background(), ramp.Config{
		Stable: "v1", Canary: "v2", Strategy: strategy.Canary{Steps: steps}, Router: &router{}, OnEvent: events.Add,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	for r.Status().Phase != ramp.Progressing {
		time.Sleep(time.Millisecond)
	}
	for i := range 10000 {
		rec.Observe("v1", 200, time.Duration(i%500)*time.Microsecond, 100)
		rec.Observe("v2", 200+300*(i%100/99), time.Duration(i%700)*time.Microsecond, 100)
	}
	for i := range admin.DefaultMaxEvents {
		events.Add(ramp.Event{Kind: ramp.EventAnalysis, Step: i % 3, Percent: 10, Reason: "canary 5xx rate 0.00% (n=37) ≤ limit 1.00%"})
	}
	h := admin.NewHandler(r, admin.Options{Steps: steps, Figures: rec, Events: events})
	req := httptest.NewRequest(http.MethodGet, "/status", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
