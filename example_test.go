package ramp_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// printRouter stands in for traffic.Splitter or an HAProxy router.
type printRouter struct {
	mu      sync.Mutex
	cur     traffic.Route
	applied chan float64 // optional: told the canary share of each route
}

func (p *printRouter) Apply(_ context.Context, r traffic.Route) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = r
	fmt.Printf("route: v2 %.2f%%, v1 %.2f%%\n", r.Percent("v2"), r.Percent("v1"))
	if p.applied != nil {
		p.applied <- r.Percent("v2")
	}
	return nil
}

func (p *printRouter) Current(context.Context) (traffic.Route, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur, nil
}

// A canary rollout 10% → 50% → 100%: every step is held briefly and must
// pass its analysis before the next.
func Example() {
	healthy := analysis.AnalyzerFunc(func(ctx context.Context, q analysis.Query) (analysis.Result, error) {
		return analysis.Result{Verdict: analysis.Pass, Reason: "canary 5xx rate 0.00% ≤ limit 1.00%"}, nil
	})
	check := &strategy.Analysis{Policy: analysis.Policy{Interval: 5 * time.Millisecond}}
	steps := []strategy.Step{
		{Percent: 10, Hold: 10 * time.Millisecond, Analysis: check},
		{Percent: 50, Hold: 10 * time.Millisecond, Analysis: check},
	}
	r, err := ramp.New(context.Background(), ramp.Config{
		Stable: "v1",
		Canary: "v2",
		Strategy: strategy.Func(func(p strategy.Progress) (strategy.Step, bool) {
			if p.Index >= len(steps) {
				return strategy.Step{}, true // done: promote fully
			}
			return steps[p.Index], false
		}),
		Router:   &printRouter{},
		Analyzer: healthy,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	st := r.Status()
	fmt.Println("phase:", st.Phase, "| last verdict:", st.LastResult.Verdict)
	// Output:
	// route: v2 10.00%, v1 90.00%
	// route: v2 50.00%, v1 50.00%
	// route: v2 100.00%, v1 0.00%
	// phase: succeeded | last verdict: pass
}

// Abort returns all traffic to the stable version and records why.
func ExampleRollout_Abort() {
	router := &printRouter{applied: make(chan float64, 4)}
	r, _ := ramp.New(context.Background(), ramp.Config{
		Stable: "v1", Canary: "v2", Router: router,
		Strategy: strategy.Func(func(p strategy.Progress) (strategy.Step, bool) {
			return strategy.Step{Percent: 10, Hold: strategy.UntilPromoted}, p.Index > 0
		}),
	})
	go r.Run(context.Background())
	<-router.applied // the 10% step is in force
	if err := r.Abort(context.Background(), "p99 latency doubled on the dashboard"); err != nil {
		fmt.Println(err)
	}
	st := r.Status()
	fmt.Println(st.Phase, "-", st.Reason)
	// Output:
	// route: v2 10.00%, v1 90.00%
	// route: v2 0.00%, v1 100.00%
	// rolled_back - p99 latency doubled on the dashboard
}
