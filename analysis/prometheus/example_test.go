package prometheus_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/analysis/prometheus"
)

// fakePrometheus answers every query with a one-sample vector: 3.2% for
// queries about the canary, 0.1% for the others.
func fakePrometheus() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		value := "0.001"
		if strings.Contains(r.FormValue("query"), `"canary"`) {
			value = "0.032"
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,%q]}]}}`, value)
	}))
}

func ExampleAnalyzer() {
	srv := fakePrometheus()
	defer srv.Close()

	client, err := prometheus.NewClient(prometheus.Options{URL: srv.URL})
	if err != nil {
		panic(err)
	}
	analyzer, err := prometheus.New(prometheus.Config{
		Client: client,
		Metrics: []prometheus.Metric{{
			Name:      "5xx rate",
			Query:     `sum(rate(ramp_requests_total{backend="{{backend}}",code=~"5.."}[{{window}}])) / sum(rate(ramp_requests_total{backend="{{backend}}"}[{{window}}]))`,
			Threshold: prometheus.AtMost(0.01),
			Unit:      prometheus.Ratio,
		}},
	})
	if err != nil {
		panic(err)
	}
	until := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	res, err := analyzer.Analyze(context.Background(), analysis.Query{
		Canary: "canary", Baseline: "stable", Since: until.Add(-2 * time.Minute), Until: until,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Verdict)
	fmt.Println(res.Reason)
	// Output:
	// fail
	// canary 5xx rate 3.20% > limit 1.00%; baseline 0.10% (query: sum(rate(ramp_requests_total{backend="canary",code=~"5.."}[2m])) / sum(rate(ramp_requests_total{backend="canary"}[2m])))
}

func ExampleTemplate() {
	t, err := prometheus.ParseTemplate(`sum(rate(http_requests_total{version="{{version}}",code=~"{{code}}"}[{{window}}]))`)
	if err != nil {
		panic(err)
	}
	q, err := t.Render(map[string]string{
		"version": `v2"} or vector(1) #`, // cannot escape its string
		"code":    "5..",                 // matches literally inside =~
		"window":  "5m",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Vars())
	fmt.Println(q)

	_, err = t.Render(map[string]string{"version": "v2", "code": "500", "window": "5m]) or vector(1"})
	fmt.Println(err)
	// Output:
	// [code version window]
	// sum(rate(http_requests_total{version="v2\"} or vector(1) #",code=~"5\\.\\."}[5m]))
	// query template: variable "window" (offset 69): value "5m]) or vector(1" outside a string literal must be a Prometheus duration (like 5m or 1m30s) or an unsigned number; put label values in quotes
}

func ExampleClient_Query() {
	srv := fakePrometheus()
	defer srv.Close()

	client, err := prometheus.NewClient(prometheus.Options{URL: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	resp, err := client.Query(context.Background(), `sum(up{backend="canary"})`, time.Time{})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Value.Type(), resp.Value)
	// Output:
	// vector {} => 0.032 @[1700000000]
}

func ExampleQuote() {
	fmt.Println(`up{instance=` + prometheus.Quote("host:9090\"\n") + `}`)
	// Output:
	// up{instance="host:9090\"\n"}
}

func ExampleNew_validation() {
	client, _ := prometheus.NewClient(prometheus.Options{URL: "http://prometheus:9090"})
	_, err := prometheus.New(prometheus.Config{
		Client: client,
		Window: -time.Minute,
		Metrics: []prometheus.Metric{{
			Name:      "latency",
			Query:     `histogram_quantile(0.99, rate(x_bucket{team="{{team}}"}[{{window}}]))`,
			Threshold: prometheus.AtMost(0.5),
		}},
	})
	fmt.Println(err)
	// Output:
	// prometheus analyzer: Window -1m0s is negative
	// prometheus analyzer: metric 0 "latency": Query: unknown variable "team" (built in: backend, baseline, canary, role, rollout_step, step, version, window; declare others in Config.Vars)
}
