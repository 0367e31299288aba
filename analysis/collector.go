package analysis

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CollectorOptions configure a Collector. The zero value gives the
// defaults.
type CollectorOptions struct {
	// Buckets are the upper bounds, in seconds and increasing, of the
	// request-duration histogram. Each is moved to the nearest edge of the
	// recorder's own latency buckets (at most 1 % away) and exposed as that
	// edge, so that every bucket count is exact rather than estimated;
	// bounds that land on the same edge are merged. Nil means every power
	// of two of nanoseconds from 2^10 ns (1.024 µs) to 2^37 ns (137.4 s):
	// 28 buckets a factor of 2 apart.
	Buckets []float64
	// ConstLabels are added to every series, e.g. {"rollout": "checkout"}.
	// They must not be named backend or code.
	ConstLabels prometheus.Labels
}

// Collector exposes a Recorder's totals to Prometheus:
//
//	ramp_requests_total{backend,code}          counter: requests by backend and status class
//	ramp_request_duration_seconds{backend}     histogram: request durations
//	ramp_response_bytes_total{backend}         counter: response body bytes
//	ramp_recorder_dropped_observations_total   counter: see Recorder.Dropped
//
// code is the status class: "1xx", "2xx", "3xx", "4xx" or "5xx", and
// "other" for a status outside 100..599 (which no HTTP/1.1 or HTTP/2
// server sends; >= 600 still counts as an error in Window.Errors). Classes
// rather than exact codes keep recording to three atomic adds and the
// recorder within its memory budget; a query selects errors the same way
// as with exact codes: code=~"5..". Requests whose client went away
// before the response have code "499" (StatusClientClosedRequest, as
// nginx logs them); they are not in the duration histogram, since they
// never completed.
//
// Counters and histograms are the totals since each backend was first
// seen, so they never go down; each series carries that time as its
// created timestamp. The histogram's _count is exact, its buckets are
// exact (see CollectorOptions.Buckets) and its _sum is computed from the
// recorder's buckets, within 1 % of the true sum.
//
// Register it with a prometheus.Registerer to serve it on /metrics.
type Collector struct {
	r                                  *Recorder
	requests, duration, bytes, dropped *prometheus.Desc
	edges                              []int     // latency bucket index of each bound
	bounds                             []float64 // the bounds exposed, seconds
}

// NewCollector returns a collector of r's totals. It fails when r is nil,
// a bucket bound is not a positive finite number or not increasing, or the
// const labels are invalid.
func NewCollector(r *Recorder, opts CollectorOptions) (*Collector, error) {
	var errs []error
	if r == nil {
		errs = append(errs, errors.New("analysis: collector recorder: nil"))
	}
	c := &Collector{r: r}
	if opts.Buckets == nil {
		for i := 0; i < hgBuckets-1; i += hgPerOctave {
			c.addEdge(i)
		}
	}
	prev := 0.0
	for i, b := range opts.Buckets {
		switch {
		case math.IsNaN(b) || math.IsInf(b, 0) || b <= 0:
			errs = append(errs, fmt.Errorf("analysis: collector buckets[%d]: %v is not a positive finite number of seconds", i, b))
			continue
		case b <= prev:
			errs = append(errs, fmt.Errorf("analysis: collector buckets[%d]: %v is not above buckets[%d] = %v", i, b, i-1, prev))
		}
		prev = b
		c.addEdge(hgNearestEdge(b))
	}
	c.requests = prometheus.NewDesc("ramp_requests_total",
		"Requests completed, by backend and HTTP status class.",
		[]string{"backend", "code"}, opts.ConstLabels)
	c.duration = prometheus.NewDesc("ramp_request_duration_seconds",
		"Time from a request reaching the splitter to its response being done, by backend.",
		[]string{"backend"}, opts.ConstLabels)
	c.bytes = prometheus.NewDesc("ramp_response_bytes_total",
		"Response body bytes written, by backend.",
		[]string{"backend"}, opts.ConstLabels)
	c.dropped = prometheus.NewDesc("ramp_recorder_dropped_observations_total",
		"Requests not recorded because their backend name was empty or beyond the recorder's limit.",
		nil, opts.ConstLabels)
	// A throwaway registry reports what is wrong with the descriptions
	// (bad or clashing label names) in Prometheus' own words.
	if err := prometheus.NewPedanticRegistry().Register(c); err != nil {
		errs = append(errs, fmt.Errorf("analysis: collector const labels: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Collector) addEdge(i int) {
	if n := len(c.edges); n > 0 && c.edges[n-1] == i {
		return
	}
	c.edges = append(c.edges, i)
	c.bounds = append(c.bounds, time.Duration(hgUpper[i]).Seconds())
}

// hgNearestEdge returns the bucket whose upper edge is nearest (by ratio)
// to sec seconds, the overflow bucket excluded.
func hgNearestEdge(sec float64) int {
	ns := sec * 1e9
	if ns >= float64(MaxLatency) {
		return hgBuckets - 2
	}
	i := hgIndex(time.Duration(math.Ceil(ns))) // hgLower(i) < ns <= hgUpper[i]
	if i == 0 {
		return 0
	}
	if ns/float64(hgUpper[i-1]) < float64(hgUpper[i])/ns {
		return i - 1
	}
	return i
}

// Describe sends the four metric descriptions.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.duration
	ch <- c.bytes
	ch <- c.dropped
}

// Collect sends the current totals of every backend.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.r == nil {
		return
	}
	st := c.r.state()
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.dropped.Load()))
	buckets := make(map[float64]uint64, len(c.edges))
	for _, b := range st.table.Load().list {
		created := time.Unix(0, b.created)
		status, bytes, h := b.total()
		status[0] += status[recStatusHigh]
		for k, n := range status[:recStatusHigh] {
			if n != 0 {
				ch <- c.metric(c.requests, prometheus.CounterValue, float64(n), created, b.name, recClassLabels[k])
			}
		}
		if n := status[recStatusGone]; n != 0 {
			ch <- c.metric(c.requests, prometheus.CounterValue, float64(n), created, b.name, "499")
		}
		var count, cum uint64
		j := 0
		for k, bound := range c.edges {
			for ; j <= bound; j++ {
				cum += h.counts[j]
			}
			buckets[c.bounds[k]] = cum
		}
		count = cum
		for ; j < hgBuckets; j++ {
			count += h.counts[j]
		}
		m, err := prometheus.NewConstHistogramWithCreatedTimestamp(c.duration, count, h.sum().Seconds(), buckets, created, b.name)
		if err != nil {
			m = prometheus.NewInvalidMetric(c.duration, err)
		}
		ch <- m
		ch <- c.metric(c.bytes, prometheus.CounterValue, float64(bytes), created, b.name)
		buckets = make(map[float64]uint64, len(c.edges)) // the histogram keeps the old map
	}
}

func (c *Collector) metric(d *prometheus.Desc, t prometheus.ValueType, v float64, created time.Time, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetricWithCreatedTimestamp(d, t, v, created, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// recClassLabels[k] is the code label of status class k.
var recClassLabels = [recStatusHigh]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}
