package traffic

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// MirrorStats counts what became of the requests the route chose to
// mirror. Counts only grow.
type MirrorStats struct {
	// Sent is the number of copies handed to the mirror backend.
	Sent uint64
	// Busy is the number of copies dropped because MirrorConcurrency
	// copies were already in flight, or because Shutdown had been called.
	Busy uint64
	// TooLarge is the number of copies dropped because the request body
	// was over MirrorBodyLimit (or could not be read).
	TooLarge uint64
	// Failed is the number of sent copies that the mirror answered with a
	// status of 500 or more (a timeout through a ReverseProxy is a 502),
	// or that panicked.
	Failed uint64
}

// mirrorer copies requests to a mirror backend in the background.
type mirrorer struct {
	limit   int64 // body limit; negative: only bodiless requests
	timeout time.Duration
	sem     chan struct{} // one token per copy in flight
	obs     Observer
	logger  *slog.Logger

	base   context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc
	closed atomic.Bool

	shutMu sync.Mutex
	held   int // tokens Shutdown has taken

	sent, busy, tooLarge, failed atomic.Uint64
}

// start sends a copy of r to mb unless the concurrency bound or the body
// limit forbids. It never waits: the copy runs on its own goroutine. When
// r has a body, start reads it (up to the limit) and gives r a replayed
// body, so the user's backend still reads every byte.
func (m *mirrorer) start(mb *backend, r *http.Request) {
	if m.closed.Load() {
		m.busy.Add(1)
		return
	}
	select {
	case m.sem <- struct{}{}:
	default:
		m.busy.Add(1)
		return
	}
	body, ok := bufferBody(r, m.limit)
	if !ok {
		<-m.sem
		m.tooLarge.Add(1)
		return
	}
	// The copy must outlive the user's request (whose context ends when
	// ServeHTTP returns) but keeps its values.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), m.timeout)
	stop := context.AfterFunc(m.base, cancel)
	c := r.Clone(ctx)
	c.GetBody = nil
	c.TransferEncoding = nil
	if body == nil {
		c.Body, c.ContentLength = http.NoBody, 0
	} else {
		c.Body, c.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	m.sent.Add(1)
	go m.run(mb, c, func() { stop(); cancel(); <-m.sem })
}

func (m *mirrorer) run(mb *backend, r *http.Request, done func()) {
	defer done()
	w := &discard{header: make(http.Header)}
	start := time.Now()
	defer func() {
		status := w.result()
		if p := recover(); p != nil {
			status = http.StatusBadGateway
			if m.logger != nil && p != http.ErrAbortHandler {
				m.logger.Error("traffic: mirror backend panicked", "backend", mb.name, "panic", p)
			}
		}
		if status >= 500 {
			m.failed.Add(1)
		}
		if m.obs != nil {
			m.obs.Observe(mb.name, status, time.Since(start), w.bytes)
		}
	}()
	mb.h.ServeHTTP(w, r)
}

// shutdown stops new copies and waits for those in flight, or cancels them
// when ctx ends first.
func (m *mirrorer) shutdown(ctx context.Context) error {
	m.closed.Store(true)
	m.shutMu.Lock()
	defer m.shutMu.Unlock()
	// Holding every token means no copy is in flight and none can start.
	for m.held < cap(m.sem) {
		select {
		case m.sem <- struct{}{}:
			m.held++
		case <-ctx.Done():
			m.cancel()
			return ctx.Err()
		}
	}
	m.cancel()
	return nil
}

func (m *mirrorer) stats() MirrorStats {
	return MirrorStats{
		Sent:     m.sent.Load(),
		Busy:     m.busy.Load(),
		TooLarge: m.tooLarge.Load(),
		Failed:   m.failed.Load(),
	}
}

// bufferBody reads r's body when it fits in limit bytes, and gives r a body
// that replays what was read followed by the rest. It reports false when
// the body is too large to mirror or could not be read.
func bufferBody(r *http.Request, limit int64) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	if limit < 0 || r.ContentLength > limit {
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil || int64(len(data)) > limit {
		r.Body = replay{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
		return nil, false
	}
	r.Body = replay{bytes.NewReader(data), r.Body}
	if len(data) == 0 {
		return nil, true
	}
	return data, true
}

// replay reads a buffered body and closes the original one.
type replay struct {
	io.Reader
	io.Closer
}

// discard is the ResponseWriter of a mirrored request: it keeps the status
// and counts the bytes.
type discard struct {
	header http.Header
	status int
	bytes  int64
}

func (d *discard) Header() http.Header { return d.header }

func (d *discard) WriteHeader(code int) {
	if d.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		d.status = code
	}
}

func (d *discard) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	d.bytes += int64(len(p))
	return len(p), nil
}

func (d *discard) result() int {
	if d.status == 0 {
		return http.StatusOK
	}
	return d.status
}
