package analysis_test

import (
	"context"
	"fmt"

	"github.com/ramp-go/ramp/analysis"
)

// A Kayenta-style comparison of two metrics. The samples would come from a
// Prometheus range query per metric; here they are fixed.
func ExampleComparison() {
	samples := map[string][2][]float64{ // canary, baseline
		"latency_p99_seconds": {
			{0.231, 0.244, 0.226, 0.251, 0.239, 0.262, 0.248, 0.236, 0.255, 0.242, 0.249, 0.238},
			{0.121, 0.118, 0.125, 0.119, 0.131, 0.122, 0.117, 0.128, 0.124, 0.12, 0.126, 0.123},
		},
		"cpu_seconds": {
			{0.52, 0.49, 0.55, 0.51, 0.5, 0.53, 0.48, 0.54, 0.5, 0.52, 0.51, 0.49},
			{0.5, 0.51, 0.53, 0.49, 0.52, 0.5, 0.54, 0.48, 0.51, 0.52, 0.5, 0.53},
		},
	}
	src := analysis.SampleSourceFunc(func(ctx context.Context, q analysis.Query, metric string) ([]float64, []float64, error) {
		s := samples[metric]
		return s[0], s[1], nil
	})
	c, err := analysis.NewComparison(src,
		analysis.CompareMetric{Name: "latency_p99_seconds", Direction: analysis.Increase, Critical: true},
		analysis.CompareMetric{Name: "cpu_seconds", Direction: analysis.Increase},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Analyze(context.Background(), analysis.Query{Canary: "v2", Baseline: "v1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Verdict)
	for _, m := range res.Metrics {
		fmt.Printf("%s: %s, shift %+.3f in [%+.3f, %+.3f], p=%.2g\n", m.Name, m.Verdict, m.Estimate, m.Lower, m.Upper, m.PValue)
	}
	// Output:
	// fail
	// latency_p99_seconds: fail, shift +0.120 in [+0.112, +0.129], p=3.7e-05
	// cpu_seconds: pass, shift +0.000 in [-0.020, +0.020], p=1
}
