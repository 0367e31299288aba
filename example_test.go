package ramp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// printRouter stands in for traffic.Splitter or an HAProxy router.
type printRouter struct {
	quiet   bool // print nothing (the example prints its events instead)
	mu      sync.Mutex
	cur     traffic.Route
	applied chan float64 // optional: told the canary share of each route
}

func (p *printRouter) Apply(_ context.Context, r traffic.Route) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = r
	if p.quiet {
		return nil
	}
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

// A canary rollout 10% → 50% → 100% with five-minute holds, tested on a
// fake clock: every step is held and must pass its analysis before the
// next, and the test never sleeps through a hold.
func Example() {
	clk := clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	healthy := analysis.AnalyzerFunc(func(ctx context.Context, q analysis.Query) (analysis.Result, error) {
		return analysis.Result{Verdict: analysis.Pass, Reason: "canary 5xx rate 0.00% ≤ limit 1.00%"}, nil
	})
	check := &strategy.Analysis{Policy: analysis.Policy{Interval: time.Minute, Count: 3}}
	analysed := make(chan struct{}, 100)
	steps, err := strategy.ParseSteps("10:5m,50:5m") // share:hold
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range steps {
		steps[i].Analysis = check
	}
	r, err := ramp.New(context.Background(), ramp.Config{
		Stable: "v1", Canary: "v2",
		Strategy: strategy.Canary{Steps: steps},
		Router:   &printRouter{quiet: true},
		Analyzer: healthy,
		Clock:    clk,
		OnEvent: func(e ramp.Event) {
			switch e.Kind {
			case ramp.EventStepStarted:
				fmt.Printf("%s: v2 gets %.0f%%\n", strategy.StepText(e.Step, e.Steps), e.Percent)
			case ramp.EventAnalysis:
				analysed <- struct{}{}
			case ramp.EventSucceeded:
				fmt.Printf("succeeded: v2 gets %.0f%%\n", e.Percent)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	// A measurement a minute: after each, move time on by a minute.
	for running := true; running; {
		select {
		case <-analysed:
			if err := clk.BlockUntil(context.Background(), 1); err != nil {
				fmt.Println(err)
				return
			}
			clk.Advance(time.Minute)
		case err := <-done:
			if err != nil {
				fmt.Println(err)
				return
			}
			running = false
		}
	}
	st := r.Status()
	fmt.Println("phase:", st.Phase, "| last verdict:", st.LastResult.Verdict, "| took", st.FinishedAt.Sub(st.StartedAt), st.Reason)
	// Output:
	// step 1 of 2: v2 gets 10%
	// step 2 of 2: v2 gets 50%
	// succeeded: v2 gets 100%
	// phase: succeeded | last verdict: pass | took 10m0s
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

// A Recorder must remember the longest step it judges: New refuses a
// 10-minute step over the default Recorder (60 s) and says how to size it.
func ExampleNew_recorderSpan() {
	plan := strategy.Canary{Steps: []strategy.Step{{Percent: 50, Hold: 10 * time.Minute,
		Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: 30 * time.Second}}}}}
	for _, opts := range []analysis.RecorderOptions{{}, {Span: 10 * time.Minute}} {
		rec, _ := analysis.NewRecorder(opts, "v1", "v2")
		judge, _ := analysis.NewThresholds(rec, analysis.ErrorRate(0.01))
		_, err := ramp.New(context.Background(), ramp.Config{
			Stable: "v1", Canary: "v2", Strategy: plan, Router: &printRouter{quiet: true}, Analyzer: judge,
		})
		fmt.Printf("span %v: too short: %v\n", rec.Span(), errors.Is(err, analysis.ErrSpanTooLong))
	}
	// Output:
	// span 1m0s: too short: true
	// span 10m0s: too short: false
}

// Config.Release carries the release's metadata into the revision the
// history adds when the rollout starts.
func ExampleConfig_release() {
	r, _ := ramp.New(context.Background(), ramp.Config{
		Stable: "v1.4.2", Canary: "v1.5.0", Router: &printRouter{quiet: true},
		Strategy: strategy.Canary{Steps: []strategy.Step{{Percent: 50, Hold: time.Millisecond}}},
		Release: release.Identity{Label: "v1.5.0", Commit: "9fceb02",
			CommitTime: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), Digest: "sha256:" + strings.Repeat("ab", 32)},
	})
	_ = r.Run(context.Background())
	rev := r.Status().History[0]
	fmt.Println(rev.Version, rev.Outcome, rev.Commit, rev.CommitTime.Format(time.RFC3339), rev.Digest[:15]+"…")
	// Output:
	// v1.5.0 succeeded 9fceb02 2026-12-01T09:30:00Z sha256:abababab…
}
