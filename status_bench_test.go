package ramp_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// slowStore takes 200 ms per Save, as a store on a slow disk or far
// away.
type slowStore struct{}

func (slowStore) Load(context.Context) (ramp.State, error) { return ramp.State{}, ramp.ErrNoState }
func (slowStore) Save(context.Context, ramp.State) error {
	time.Sleep(200 * time.Millisecond)
	return nil
}

type nopRouter struct{}

func (nopRouter) Apply(context.Context, traffic.Route) error { return nil }
func (nopRouter) Current(context.Context) (traffic.Route, error) {
	return traffic.Split("v1", "v2", 0), nil
}

type passing struct{}

func (passing) Analyze(context.Context, analysis.Query) (analysis.Result, error) {
	return analysis.Result{Verdict: analysis.Pass}, nil
}

// BenchmarkStatusUnderSlowStore calls Status while the rollout saves
// without pause to a store that takes 200 ms per Save (an analysis result
// every millisecond, each saved), and reports the p99 and worst latency of
// Status: it reads a published snapshot and never waits for the store.
//
//	go test -run '^$' -bench StatusUnderSlowStore -benchtime 2000x .
func BenchmarkStatusUnderSlowStore(b *testing.B) {
	b.ReportAllocs()
	pol := &strategy.Analysis{Policy: analysis.Policy{Interval: time.Millisecond, Count: 1 << 30}}
	r, err := ramp.New(context.Background(), ramp.Config{
		Stable: "v1", Canary: "v2", Router: nopRouter{}, Analyzer: passing{}, Store: slowStore{},
		Strategy: strategy.Canary{Steps: []strategy.Step{{Percent: 10, Hold: time.Hour, Analysis: pol}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for r.Status().Step != 0 { // saves are flowing
		<-r.Changed()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		_ = r.Status()
		lat = append(lat, time.Since(t))
		time.Sleep(100 * time.Microsecond) // spread the calls over many saves
	}
	b.StopTimer()
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "ns/op") // the mean of Status alone
	b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e3, "worst-µs")
	if p99 >= time.Millisecond {
		b.Errorf("Status p99 %v under a 200 ms store (want < 1 ms)", p99)
	}
}
