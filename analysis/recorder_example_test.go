package analysis_test

import (
	"fmt"
	"time"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/clock"
)

func ExampleRecorder() {
	// In production: rec, _ := analysis.NewRecorder(analysis.RecorderOptions{}, "stable", "canary")
	// and traffic.Options{Observer: rec}. Here a fake clock moves time.
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	rec, err := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk}, "stable", "canary")
	if err != nil {
		panic(err)
	}

	// A minute of healthy canary traffic, then 30 s of a bad one.
	for range 60 {
		for range 10 {
			rec.Observe("canary", 200, 20*time.Millisecond, 512)
		}
		clk.Advance(time.Second)
	}
	for range 30 {
		rec.Observe("canary", 200, 20*time.Millisecond, 512)
		rec.Observe("canary", 503, 900*time.Millisecond, 0)
		clk.Advance(time.Second)
	}

	last30s := rec.Window("canary", clk.Now().Add(-30*time.Second), time.Time{})
	fmt.Printf("last 30s: %s to %s, %d requests, %.0f%% errors, p50 %v, p99 %v\n",
		last30s.Since.Format("15:04:05"), last30s.Until.Format("15:04:05"),
		last30s.Requests, 100*last30s.ErrorRate(),
		last30s.Latency.Quantile(0.5).Round(time.Millisecond), last30s.Latency.Quantile(0.99).Round(time.Millisecond))

	total := rec.Total("canary")
	fmt.Printf("since %s: %d requests, %d errors, %d bytes\n",
		total.Since.Format("15:04:05"), total.Requests, total.Errors, total.Bytes)
	// Quantiles are within 1% (900ms reads 894ms).

	// Output:
	// last 30s: 12:01:00 to 12:01:30, 60 requests, 50% errors, p50 20ms, p99 894ms
	// since 12:00:00: 660 requests, 30 errors, 322560 bytes
}

// A canary that accepts requests and never answers: the splitter reports
// each request's start (traffic.StartObserver), so the recorder counts
// requests in flight by age, and a latency limit sees them as slow before
// any ends.
func ExampleRecorder_InFlight() {
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	rec, _ := analysis.NewRecorder(analysis.RecorderOptions{Clock: clk}, "canary")
	for range 5 {
		rec.Start("canary") // never finished
		clk.Advance(50 * time.Millisecond)
	}
	// Started 250, 200, 150, 100 and 50 ms ago.
	fmt.Println("in flight longer than 120ms:", rec.InFlight("canary", 120*time.Millisecond))
	slow, n := rec.Total("canary").SlowerThan(120 * time.Millisecond)
	fmt.Printf("known slower than 120ms: %d of %d\n", slow, n)
	// Output:
	// in flight longer than 120ms: 3
	// known slower than 120ms: 3 of 3
}

// A recorder refuses to judge a step longer than it remembers, unless it
// is sized for it.
func ExampleRecorder_CheckSpan() {
	rec, _ := analysis.NewRecorder(analysis.RecorderOptions{})
	fmt.Println(rec.Span(), rec.CheckSpan(10*time.Minute) != nil)
	rec, _ = analysis.NewRecorder(analysis.RecorderOptions{Span: 10 * time.Minute})
	fmt.Println(rec.Span(), rec.CheckSpan(10*time.Minute))
	// Output:
	// 1m0s true
	// 10m0s <nil>
}
