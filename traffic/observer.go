package traffic

import "time"

// Observer is told the outcome of every request a Splitter completes.
// Its method uses only builtin and standard types so that a package can
// implement it without importing traffic (analysis.Recorder does).
// Observe is called on the request path: it must be fast and safe for
// concurrent use.
type Observer interface {
	Observe(backend string, status int, elapsed time.Duration, bytes int64)
}

// StartObserver is an Observer that is also told when a request is
// dispatched, so that it can count requests still in flight (a backend
// that hangs answers nothing to observe). When a Splitter's Observer is
// one, the splitter calls Start as it dispatches a request and Finish,
// with Start's token, in place of Observe when the request ends.
// analysis.Recorder is one. Both are called on the request path: they
// must be fast and safe for concurrent use.
type StartObserver interface {
	Observer
	Start(backend string) (token int64)
	Finish(backend string, token int64, status int, elapsed time.Duration, bytes int64)
}

// StatusClientClosedRequest is the status a request is observed with when
// its client went away before the response (nginx logs it as 499): the
// request's context was done when the handler returned and the response
// had not started, or was a 5xx (httputil.ReverseProxy answers a
// cancelled request with 502). A client giving up is no server error.
const StatusClientClosedRequest = 499
