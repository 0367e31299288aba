package main

import (
	"io"
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

// deadlines bounds the request body to readTimeout from the start of the
// handler and each write of the response to writeTimeout. Both are set on
// the connection per request rather than as http.Server.ReadTimeout and
// WriteTimeout: the server's ReadTimeout stays in force after the body is
// read and then cancels a request whose upstream answers slowly, and its
// WriteTimeout would cut a response that keeps flowing (a download,
// server-sent events). Here a client that stops sending its body, or stops
// reading the response, is cut off; a slow upstream or a long stream is
// not.
func deadlines(next http.Handler, readTimeout, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(readTimeout))
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		dw := &deadlineWriter{ResponseWriter: w, rc: rc, d: writeTimeout}
		dw.extend() // covers a "100 Continue" and, if nothing is written, the final flush
		next.ServeHTTP(dw, r)
		dw.extend() // the buffered rest is flushed after the handler returns
	})
}

// deadlineBody lifts the read deadline once the body is read: the server
// then watches the connection for the client going away, and a deadline
// left in force would cancel the request.
type deadlineBody struct {
	io.ReadCloser
	rc *http.ResponseController
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
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
