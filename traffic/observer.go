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
