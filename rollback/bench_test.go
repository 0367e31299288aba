package rollback

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ramp-go/ramp/analysis"
)

// BenchmarkGuardPoll measures one poll of a guard with every check on,
// over a real Recorder: "idle" when nothing new was recorded, "traffic"
// with 100 new requests per poll (1,000 req/s at 10 ms polls, 10% to the
// canary; the 100 Observe calls, about 3 µs, are included).
func BenchmarkGuardPoll(b *testing.B) {
	for _, traffic := range []bool{false, true} {
		name := "idle"
		if traffic {
			name = "traffic"
		}
		b.Run(name, func(b *testing.B) {
			rec, err := analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
			if err != nil {
				b.Fatal(err)
			}
			g := Guard{Source: rec, MaxErrorRate: 0.01, CompareErrorRate: true, MaxLatency: 250 * time.Millisecond,
				CompareLatency: true, LatencyTolerance: 0.05}
			r, err := g.start(target)
			if err != nil {
				b.Fatal(err)
			}
			feed := func(i int) {
				for k := range 90 {
					rec.Observe("v1", 200, time.Duration(15+(i+k)%20)*time.Millisecond, 100)
				}
				for k := range 10 {
					rec.Observe("v2", 200, time.Duration(15+(i+3*k)%20)*time.Millisecond, 100)
				}
			}
			for i := range 2000 { // a few restarts' worth of history
				feed(i)
				r.poll()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if traffic {
					feed(i)
				}
				if len(r.poll()) > 0 {
					b.Fatal("fired on a healthy canary")
				}
			}
		})
	}
}

func BenchmarkWebhookAccepted(b *testing.B) {
	hook := &Webhook{Secret: secret}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = hook.Watch(ctx, target, func(string) {}) }()
	for hook.Watching() == 0 {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	for range b.N {
		r := httptest.NewRequest(http.MethodPost, "/rollback", strings.NewReader(`{"reason":"p99 over SLO"}`))
		r.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		hook.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkHistoryStats(b *testing.B) {
	h, err := NewHistory(DefaultHistoryLimit)
	if err != nil {
		b.Fatal(err)
	}
	for i := range DefaultHistoryLimit {
		v := string(rune('a' + i))
		_ = h.Add(Revision{Version: v, StartedAt: t0.Add(time.Duration(i) * time.Hour)})
		_ = h.Fault(v, t0.Add(time.Duration(i)*time.Hour+time.Minute))
		_ = h.End(v, OutcomeRolledBack, "x", t0.Add(time.Duration(i)*time.Hour+2*time.Minute))
	}
	b.ReportAllocs()
	for range b.N {
		_ = h.Stats(t0.Add(24*time.Hour), 0)
	}
}
