package analysis_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ramp-go/ramp/analysis"
)

// A continuous guard feeds the monitor the canary's cumulative counts
// every few milliseconds; it fails as soon as the evidence is in, however
// often it is asked.
func ExampleSequentialErrorRate_NewMonitor() {
	test := analysis.SequentialErrorRate{Limit: 0.01} // fail above 1% errors
	m, err := test.NewMonitor()
	if err != nil {
		fmt.Println(err)
		return
	}
	// The canary fails one request in twenty.
	for requests := int64(20); requests <= 2000; requests += 20 {
		r, err := m.Update(requests, requests/20)
		if err != nil {
			fmt.Println(err)
			return
		}
		if r.Verdict == analysis.Fail {
			fmt.Printf("fail after %d requests (%d errors), p=%.4f\n", r.N, requests/20, r.PValue)
			return
		}
	}
	// Output:
	// fail after 180 requests (9 errors), p=0.0056
}

type windows map[string]analysis.Window

func (w windows) Window(backend string, since, until time.Time) analysis.Window { return w[backend] }

// The canary's error rate against the baseline's: a mixture of likelihood
// ratios over the effects that matter, on where the errors land given the
// traffic split.
func ExampleSequentialErrorRatio() {
	test := analysis.SequentialErrorRatio{
		Source: windows{
			"v2": {Requests: 1204, Errors: 39},
			"v1": {Requests: 10877, Errors: 11},
		},
	}
	res, err := test.Analyze(context.Background(), analysis.Query{Canary: "v2", Baseline: "v1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Verdict)
	fmt.Println(res.Reason)
	// Output:
	// fail
	// 5xx ratio (sequential): canary 5xx rate 3.24% (n=1,204, 39 errors) vs baseline 0.101% (n=10,877, 11 errors): ratio > allowed 1: anytime 99% bounds on the ratio [10.41, 149.7], e-value 2.46e+24 >= 100 (p=4.06e-25)
}
