package fleet

import (
	"context"
	"slices"
	"testing"
	"time"

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
