package main

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// limitListener holds at most n connections at a time. Connections beyond
// the bound wait in the kernel's accept queue, where they cost the process
// no file descriptor, so a flood of idle or slow clients on one listener
// cannot use up the descriptors another listener (the admin API) or the
// upstream connections need. With evict set, a connection that arrives
// when all n are taken makes room by evicting one that carries no request
// (see connTracker), so idle connections cannot keep anyone out; it waits
// for a slot only when every connection is busy.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
	// evict, when set, closes one connection that carries no request
	// and reports whether it did.
	evict func() bool
}

func newLimitListener(l net.Listener, n int, evict func() bool) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{}), evict: evict}
}

func (l *limitListener) Accept() (net.Conn, error) {
	if l.evict == nil {
		if err := l.wait(nil); err != nil {
			return nil, err
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		return l.wrap(c), nil
	}
	// Evicting on demand only: take the connection first (one beyond the
	// bound at most, while it waits for a slot), then make room for it.
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := l.makeRoom(); err != nil {
		c.Close()
		return nil, err
	}
	return l.wrap(c), nil
}

func (l *limitListener) wrap(c net.Conn) net.Conn {
	return &limitConn{Conn: c, release: func() { <-l.slots }}
}

// makeRoom takes a slot: a free one, or one an eviction frees; when every
// connection is busy it waits, looking again every evictRetry as idle ones
// age into being evictable.
func (l *limitListener) makeRoom() error {
	for {
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-l.done:
			return net.ErrClosed
		default:
		}
		if l.evict() {
			continue // its Close gave a slot back
		}
		t := time.NewTimer(evictRetry)
		err := l.wait(t.C)
		t.Stop()
		if err != errRetry {
			return err
		}
	}
}

var errRetry = errors.New("look again")

// wait takes the next free slot; it returns errRetry when retry fires
// first, net.ErrClosed when the listener is closed.
func (l *limitListener) wait(retry <-chan time.Time) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-l.done:
		return net.ErrClosed
	case <-retry:
		return errRetry
	}
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// writeDeadlines bounds each write of a response to d, on the connection,
// rather than the whole response as http.Server.WriteTimeout would: a
// client that stops reading is cut off after d, while a response that
// keeps flowing (a download, server-sent events) is never cut.
func writeDeadlines(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		dw.extend() // covers a "100 Continue" and, if nothing is written, the final flush
		next.ServeHTTP(dw, r)
		dw.extend() // the buffered rest is flushed after the handler returns
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController.Flush (and so
// httputil.ReverseProxy) calls.
func (w *deadlineWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection (hijacking for
// protocol upgrades, deadlines).
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fdReserve is the file descriptors kept out of the connection budget: the
// runtime's own, the state file, logs, the admin API's listener.
const fdReserve = 64

// proxyConnLimit is -max-conns, or when it is 0 what the open-file limit
// affords: every proxied connection may hold one upstream connection too,
// so half of what the admin API and fdReserve leave. Without a known limit
// it is 4096.
func proxyConnLimit(maxConns, adminMaxConns int, nofile uint64) int {
	if maxConns > 0 {
		return maxConns
	}
	if nofile == 0 || nofile > 1<<20 {
		return 4096
	}
	return max(16, (int(nofile)-adminMaxConns-fdReserve)/2)
}

// connTracker knows which of a server's connections carry no request: those
// that have sent nothing yet (http.StateNew) and idle keep-alive ones
// (http.StateIdle). A full limitListener evicts the oldest of them to
// take a new connection, and shutdown closes the unused ones at once.
// Closing such a connection loses nothing: a keep-alive connection may be
// closed at any time (a client retries its next request on a new one),
// and one that has sent nothing has nothing in flight.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]trackedConn
}

type trackedConn struct {
	state http.ConnState
	since time.Time
}

// track is an http.Server.ConnState.
func (t *connTracker) track(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s != http.StateNew && s != http.StateIdle {
		delete(t.conns, c)
		return
	}
	if t.conns == nil {
		t.conns = map[net.Conn]trackedConn{}
	}
	t.conns[c] = trackedConn{state: s, since: time.Now()}
}

// evictAfter is how long a connection must have carried no request before
// it may be evicted: a client sends its request right after connecting,
// and one just accepted must have the time to. evictRetry is how often a
// full listener looks again for one to evict.
const (
	evictAfter = 500 * time.Millisecond
	evictRetry = 100 * time.Millisecond
)

// evictOldest closes the connection that has carried no request for the
// longest, at least evictAfter, and reports whether there was one.
func (t *connTracker) evictOldest() bool {
	t.mu.Lock()
	var oldest net.Conn
	at := time.Now().Add(-evictAfter)
	for c, tc := range t.conns {
		if !tc.since.After(at) {
			oldest, at = c, tc.since
		}
	}
	delete(t.conns, oldest)
	t.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.Close() // gives its slot back
	return true
}

// closeUnused closes the connections that never sent a request; http.Server
// Shutdown would wait 5s for them (it closes idle ones itself).
func (t *connTracker) closeUnused() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c, tc := range t.conns {
		if tc.state == http.StateNew {
			c.Close()
			delete(t.conns, c)
		}
	}
}
