package haproxy

import (
	"context"
	"testing"

	"github.com/ramp-go/ramp/traffic"
)

func BenchmarkWeights(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := float64(i%10001) / 100
		if _, err := Weights([]float64{p, 100 - p}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommand is one "get weight" round trip over a Unix socket to
// the fake runtime API.
func BenchmarkCommand(b *testing.B) {
	f := newFakeAPI(b, map[string]int{"app/s1": 100})
	c := &Client{Addr: f.Addr}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Weight(ctx, "app", "s1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply moves two servers between 10% and 50%: two reads and
// two sets per Apply.
func BenchmarkApply(b *testing.B) {
	f := newFakeAPI(b, map[string]int{"app/s1": 256, "app/s2": 0})
	r, err := New(Config{Addr: f.Addr, Backend: "app", Servers: map[string]string{"v1": "s1", "v2": "s2"}})
	if err != nil {
		b.Fatal(err)
	}
	routes := []traffic.Route{traffic.Split("v1", "v2", 10), traffic.Split("v1", "v2", 60)}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := r.Apply(ctx, routes[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}
