package strategy_test

import (
	"fmt"
	"math"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// walk prints the steps of s as the engine would meet them if every step
// passed its analysis.
func walk(s strategy.Strategy) {
	p := strategy.Progress{Stable: "v1.4.1", Canary: "v1.4.2"}
	for {
		st, done := s.Next(p)
		if done {
			fmt.Println("done: promote fully")
			return
		}
		hold := st.Hold.String()
		if st.Hold == strategy.UntilPromoted {
			hold = "until promoted"
		}
		fmt.Printf("%d %-14s %6.2f%%  hold %-14s rules %d  analysis %t\n",
			p.Index, st.Name, st.Percent, hold, len(st.Rules), st.Analysis != nil)
		p.Index, p.Percent = p.Index+1, st.Percent
		p.Last = analysis.Result{Verdict: analysis.Pass}
	}
}

func ExampleParseSteps() {
	steps, err := strategy.ParseSteps("1, 5:10m, 25%:30m, 100")
	if err != nil {
		fmt.Println(err)
		return
	}
	check := &strategy.Analysis{Policy: analysis.Policy{Interval: time.Minute, Count: 5}}
	for i := range steps {
		steps[i].Analysis = check
	}
	fmt.Println(strategy.FormatSteps(steps))
	fmt.Println(strategy.Canary{Steps: steps}.Validate())

	_, err = strategy.ParseSteps("10,5o,120,50")
	fmt.Println(err)
	// Output:
	// 1,5:10m,25:30m,100
	// <nil>
	// steps: item 2 "5o": not a number
	// steps: item 3 "120": over 100
}

func ExampleCanary() {
	check := &strategy.Analysis{Policy: analysis.Policy{Interval: time.Minute, Count: 3}}
	walk(strategy.Canary{Steps: []strategy.Step{
		{Name: "smoke", Percent: 0.5, Hold: 5 * time.Minute},
		{Percent: 12.25, Hold: 10 * time.Minute, Analysis: check},
		{Name: "half", Percent: 50, Hold: strategy.UntilPromoted, Analysis: check},
	}})
	// A last step below 100 is fine: the engine promotes fully when done.

	bad := strategy.Canary{Steps: []strategy.Step{{Percent: 10}, {Percent: 120, Hold: -time.Second}}}
	fmt.Println(bad.Validate())
	// Output:
	// 0 smoke            0.50%  hold 5m0s           rules 0  analysis false
	// 1                 12.25%  hold 10m0s          rules 0  analysis true
	// 2 half            50.00%  hold until promoted rules 0  analysis true
	// done: promote fully
	// steps[1].percent: 120 is over 100
	// steps[1].hold: -1s is negative
}

func ExampleBlueGreen() {
	bg := strategy.BlueGreen{
		AutoPromoteAfter: 15 * time.Minute,
		PrePromotion:     &strategy.Analysis{Policy: analysis.Policy{Interval: time.Minute, Count: 5}},
		PostPromotion:    &strategy.Analysis{Policy: analysis.Policy{Interval: time.Minute, Count: 10}},
	}
	walk(bg)

	preview, _ := bg.Next(strategy.Progress{})
	r := preview.Route("v1.4.1", "v1.4.2")
	fmt.Printf("preview: %v%% to v1.4.2, header %s: %s → %s\n",
		r.Percent("v1.4.2"), r.Rules[0].Header, r.Rules[0].Value, r.Rules[0].Backend)
	// Output:
	// 0 preview          0.00%  hold 15m0s          rules 1  analysis true
	// 1 post-promotion 100.00%  hold 10m0s          rules 0  analysis true
	// done: promote fully
	// preview: 0% to v1.4.2, header X-Preview: 1 → v1.4.2
}

func ExampleAB() {
	walk(strategy.AB{
		Rules: []traffic.Rule{
			{Cookie: "experiment", Value: "checkout-b"},
			{Header: "X-Group", Value: "b"},
		},
		// Twelve passing five-minute intervals decide: one hour.
		Analysis: &strategy.Analysis{Policy: analysis.Policy{Interval: 5 * time.Minute, Count: 12}},
	})
	// Output:
	// 0 ab               0.00%  hold 1h0m0s         rules 2  analysis true
	// done: promote fully
}

func ExampleLinear() {
	walk(strategy.Linear{From: 10, To: 100, Over: time.Hour, Steps: 4})
	// Output:
	// 0 linear 1/4      32.50%  hold 15m0s          rules 0  analysis false
	// 1 linear 2/4      55.00%  hold 15m0s          rules 0  analysis false
	// 2 linear 3/4      77.50%  hold 15m0s          rules 0  analysis false
	// 3 linear 4/4     100.00%  hold 15m0s          rules 0  analysis false
	// done: promote fully
}

// A host-written strategy: it doubles the canary share after each passing
// step, but quintuples it when the pass was confident — every metric's
// one-sided test rejected "the canary is worse" with p < 0.01. Next looks
// only at its Progress, so after a restart it answers as before.
func ExampleFunc() {
	check := &strategy.Analysis{Policy: analysis.Policy{Interval: time.Minute, Count: 3}}
	confident := func(r analysis.Result) bool {
		if r.Verdict != analysis.Pass || len(r.Metrics) == 0 {
			return false
		}
		for _, m := range r.Metrics {
			if !(m.PValue > 0 && m.PValue < 0.01) {
				return false
			}
		}
		return true
	}
	adaptive := strategy.Func(func(p strategy.Progress) (strategy.Step, bool) {
		switch {
		case p.Index == 0:
			return strategy.Step{Percent: 1, Hold: 5 * time.Minute, Analysis: check}, false
		case p.Percent >= 100:
			return strategy.Step{}, true
		}
		factor := 2.0
		if confident(p.Last) {
			factor = 5
		}
		next := math.Min(100, math.Round(p.Percent*factor*100)/100)
		return strategy.Step{Percent: next, Hold: 5 * time.Minute, Analysis: check}, false
	})

	// The results the analysis gave after each step, as the engine would
	// pass them on.
	pass := func(p float64) analysis.Result {
		return analysis.Result{Verdict: analysis.Pass, Metrics: []analysis.Measurement{
			{Name: "error_rate", Verdict: analysis.Pass, PValue: p},
		}}
	}
	results := []analysis.Result{pass(0.2), pass(0.001), pass(0.03), pass(0.004), pass(0.1)}

	p := strategy.Progress{Stable: "v1.4.1", Canary: "v1.4.2"}
	for {
		st, done := adaptive.Next(p)
		if done {
			fmt.Println("done")
			return
		}
		fmt.Printf("step %d: %g%%\n", p.Index, st.Percent)
		p.Last = results[p.Index]
		p.Index, p.Percent = p.Index+1, st.Percent
	}
	// Output:
	// step 0: 1%
	// step 1: 2%
	// step 2: 10%
	// step 3: 20%
	// step 4: 100%
	// done
}
