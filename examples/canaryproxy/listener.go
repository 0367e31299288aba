package main

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// limitListener accepts at most n connections at a time: Accept waits for
// one to close before taking the next. Connections beyond the bound wait
// in the kernel's accept queue, where they cost the process no file
// descriptor, so a flood of idle or slow clients on one listener cannot
// use up the descriptors another listener (the admin API) or the
// upstream connections need.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
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

// unusedConns tracks the connections that have not yet sent a byte of a
// request (http.StateNew), for closing them at shutdown.
type unusedConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

// track is an http.Server.ConnState.
func (u *unusedConns) track(c net.Conn, s http.ConnState) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s != http.StateNew {
		delete(u.m, c)
		return
	}
	if u.m == nil {
		u.m = map[net.Conn]struct{}{}
	}
	u.m[c] = struct{}{}
}

func (u *unusedConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.m {
		c.Close()
	}
}
