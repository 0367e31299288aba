package fleet

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/fleet/internal/etcdtest"
	"github.com/ramp-go/ramp/traffic"
)

// BenchmarkRoutePropagation measures Router.Apply on a fleet of 5
// replicas (each with its own client) and one etcd on loopback: from
// publishing a new route to every replica's acknowledgement. Run it with
// -benchtime=1000x for p50/p99 over 1,000 applies.
func BenchmarkRoutePropagation(b *testing.B) {
	srv := etcdtest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rs []*testReplica
	for _, id := range []string{"r1", "r2", "r3", "r4", "r5"} {
		rs = append(rs, join(b, ctx, srv.Endpoint, id, 5*time.Second))
	}
	term, release := leadOnce(b, ctx, rs[0].Replica)
	defer release()
	router := term.Router("v1", "v2")
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := router.Apply(ctx, traffic.Split("v1", "v2", float64(1+i%99))); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// benchSource is a fleet of 5 replicas, each serving its recorder on an
// admin server, and the first replica's Source.
func benchSource(b *testing.B) ([]*analysis.Recorder, *Source) {
	srv := etcdtest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	var recs []*analysis.Recorder
	var reps []*Replica
	for i := range 5 {
		rec, err := analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
		if err != nil {
			b.Fatal(err)
		}
		for range 1000 {
			rec.Observe("v2", 200, time.Millisecond, 100)
		}
		admin := httptest.NewServer(WindowHandler(rec))
		b.Cleanup(admin.Close)
		r, err := Join(ctx, Config{Client: srv.Client(b), Service: "shop", ID: fmt.Sprintf("r%d", i+1), TTL: 5 * time.Second,
			Router: &localRouter{}, Admin: admin.URL})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = r.Close() })
		recs, reps = append(recs, rec), append(reps, r)
	}
	return recs, reps[0].NewSource(time.Second)
}

// BenchmarkSourceWindow measures one merged window of the fleet's canary
// (the leader's guard reads two per poll: canary and stable): 5 pulls on
// loopback, the replica list from the Source's watch.
func BenchmarkSourceWindow(b *testing.B) {
	_, src := benchSource(b)
	since := time.Now().Add(-time.Minute)
	for range 10 { // the member watch is in place
		src.Window("v2", since, time.Time{})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if w := src.Window("v2", since, time.Time{}); w.Requests != 5000 {
			b.Fatalf("merged %d requests, want 5000", w.Requests)
		}
	}
}

// BenchmarkErrorNudge measures a replica's 5xx → the leader's
// Source.Errored channel closed (what wakes the leader's guard), one 5xx
// at a time, on each replica in turn.
func BenchmarkErrorNudge(b *testing.B) {
	recs, src := benchSource(b)
	src.Window("v2", time.Now().Add(-time.Minute), time.Time{})
	deadline := time.Now().Add(30 * time.Second)
	for { // every replica's long-poll is in place
		ch := src.Errored("v2")
		src.n.mu.Lock()
		n := len(src.n.subs["v2"].polls)
		src.n.mu.Unlock()
		if n == 5 {
			time.Sleep(200 * time.Millisecond) // their first answers are in
			break
		}
		_ = ch
		if time.Now().After(deadline) {
			b.Fatal("long-polls not in place")
		}
		time.Sleep(10 * time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(nudgeGap) // wakes are nudgeGap apart: measure the nudge, not the gap
		ch := src.Errored("v2")
		start := time.Now()
		recs[i%len(recs)].Observe("v2", 503, time.Millisecond, 100)
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			b.Fatal("no nudge")
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
