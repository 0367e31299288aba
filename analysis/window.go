package analysis

import "time"

// Window is what a backend did over a span of time: request counts by
// status class, bytes, and the latency distribution.
type Window struct {
	Backend string
	// Since and Until are the span the counts really cover (aligned to the
	// source's time slices, so possibly a little wider than asked).
	Since, Until time.Time
	// Requests is the number of completed requests.
	Requests int64
	// Errors is the number of responses with status >= 500 (a panicking
	// or unreachable backend is observed as 502 and counts here).
	Errors int64
	// Classes[k] counts responses with status in [k*100, k*100+99] for
	// k = 1..5; Classes[0] counts anything else.
	Classes [6]int64
	// Bytes is the response bytes written.
	Bytes int64
	// Latency is the distribution of request durations; nil when the
	// source keeps none.
	Latency Distribution
	// Gone counts requests whose client went away before the response
	// (StatusClientClosedRequest). They are not in Requests, Errors or
	// Classes: a client giving up is no server error.
	Gone int64
	// GoneLatency says how long the Gone requests had waited: each would
	// have taken at least that long (a right-censored observation). Nil
	// when the source keeps none. A Recorder's is the same *Histogram as
	// Latency.
	GoneLatency Censored
	// Pending counts the requests still in flight when the window was read
	// (each known to take longer than its age so far: right-censored), for
	// a window that reaches the present; nil otherwise, or when the source
	// does not track them. A Recorder tracks them when the splitter reports
	// each request's start (traffic.StartObserver).
	Pending Pending
}

// Pending counts requests still in flight by age.
type Pending interface {
	// LongerThan counts those in flight for longer than d.
	LongerThan(d time.Duration) int64
}

// Censored holds right-censored latencies: requests known to take at
// least some time, which never completed.
type Censored interface {
	// GoneLongerThan counts those surely longer than d.
	GoneLongerThan(d time.Duration) int64
}

// SlowerThan counts the requests of w known to take longer than d: the
// completed ones (from Latency), the gone ones that waited longer than d
// (GoneLatency) and those in flight for longer than d (Pending). n is the
// sample that count is out of: the completed requests plus those gone and
// pending ones. A request gone or pending for less than d says nothing
// about d and is left out of both.
func (w Window) SlowerThan(d time.Duration) (slow, n int64) {
	if w.Latency != nil {
		n = w.Latency.Count()
		slow = n - w.Latency.CountAtMost(d)
	}
	c := w.censoredOver(d)
	return slow + c, n + c
}

// censoredOver counts the gone and pending requests known to take longer
// than d.
func (w Window) censoredOver(d time.Duration) int64 {
	var c int64
	if w.GoneLatency != nil {
		c += w.GoneLatency.GoneLongerThan(d)
	}
	if w.Pending != nil {
		c += w.Pending.LongerThan(d)
	}
	return c
}

// ErrorRate is Errors/Requests, or 0 when there are no requests.
func (w Window) ErrorRate() float64 {
	if w.Requests == 0 {
		return 0
	}
	return float64(w.Errors) / float64(w.Requests)
}

// Distribution is a latency distribution.
type Distribution interface {
	// Count is the number of samples.
	Count() int64
	// Quantile returns the q-quantile (0 <= q <= 1); 0 when empty.
	Quantile(q float64) time.Duration
	// CountAtMost returns how many samples are <= d.
	CountAtMost(d time.Duration) int64
}

// WindowSource gives windows of recorded outcomes. Recorder is one.
type WindowSource interface {
	Window(backend string, since, until time.Time) Window
}
