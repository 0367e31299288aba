package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := newLimitListener(inner, 2, nil)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		require.NoError(t, err) // the kernel takes the third into its queue
		defer c.Close()
	}
	a, b := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted with a bound of 2")
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, a.Close())
	a.Close() // closing twice gives one slot back, not two
	third := <-accepted
	select {
	case <-accepted:
		t.Fatal("a double Close freed two slots")
	case <-time.After(100 * time.Millisecond):
	}
	b.Close()
	third.Close()

	// Close ends an Accept that waits for a slot.
	l2 := newLimitListener(mustListen(t), 1, nil)
	c, err := net.Dial("tcp", l2.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	first, err := l2.Accept()
	require.NoError(t, err)
	defer first.Close()
	done := make(chan error, 1)
	go func() { _, err := l2.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, l2.Close())
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, net.ErrClosed), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
}

func mustListen(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}

func TestProxyConnLimit(t *testing.T) {
	for _, c := range []struct {
		maxConns, admin int
		nofile          uint64
		want            int
	}{
		{500, 32, 512, 500}, // -max-conns wins
		{0, 32, 512, 208},
		{0, 32, 1024, 464},
		{0, 32, 20000, 9952},
		{0, 32, 100, 16}, // never below 16
		{0, 32, 0, 4096}, // unknown
		{0, 32, 1 << 40, 4096},
	} {
		assert.Equal(t, c.want, proxyConnLimit(c.maxConns, c.admin, c.nofile), "%+v", c)
	}
}

// serveWith runs h on a real server configured as the proxy's.
func serveWith(t *testing.T, h http.Handler, read, write time.Duration) *httptest.Server {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = newProxyServer(h, read, write, time.Minute)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestSlowUpstreamIsNotCutByTheBodyTimeout(t *testing.T) {
	// The request's read deadline is lifted once its body is read: a
	// slow upstream is not cut.
	var ctxErr atomic.Value
	srv := serveWith(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-time.After(600 * time.Millisecond): // a slow upstream
		case <-r.Context().Done():
			ctxErr.Store(r.Context().Err())
			return
		}
		io.WriteString(w, "done")
	}), 200*time.Millisecond, time.Second)
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("a body"))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "done", string(b))
	assert.Nil(t, ctxErr.Load())
}

func TestStalledBodyIsCut(t *testing.T) {
	got := make(chan error, 1)
	srv := serveWith(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}), 200*time.Millisecond, time.Second)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc") // and then nothing
	select {
	case err := <-got:
		var ne net.Error
		assert.True(t, errors.As(err, &ne) && ne.Timeout(), "the body read timed out: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled body held the request past its deadline")
	}
}

func TestWriteTimeoutCutsAStalledReaderNotAStream(t *testing.T) {
	// A stream that writes every 100ms for a second outlives a 300ms
	// write timeout.
	srv := serveWith(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 10 {
			io.WriteString(w, strings.Repeat("x", 10)+"\n")
			http.NewResponseController(w).Flush()
			if i < 9 {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}), time.Second, 300*time.Millisecond)
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	lines := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines++
	}
	resp.Body.Close()
	assert.Equal(t, 10, lines, "the whole stream arrived")

	// A client that never reads a large response is cut off.
	finished := make(chan error, 1)
	srv2 := serveWith(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("y", 64<<10))
		for range 1000 { // 64 MiB: far beyond the socket buffers
			if _, err := w.Write(chunk); err != nil {
				finished <- err
				return
			}
		}
		finished <- nil
	}), time.Second, 300*time.Millisecond)
	conn, err := net.Dial("tcp", srv2.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case err := <-finished:
		assert.Error(t, err, "the write to a client that does not read failed")
	case <-time.After(10 * time.Second):
		t.Fatal("a client that does not read held the response")
	}
}

// A full listener makes room for a new connection by closing the oldest
// that carries no request; connections in the middle of a request stay.
func TestFullListenerEvictsUnusedConnections(t *testing.T) {
	var tracker connTracker
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				time.Sleep(2 * evictAfter)
			}
			io.WriteString(w, "ok")
		}),
		ConnState: tracker.track,
	}
	ln := newLimitListener(mustListen(t), 3, tracker.evictOldest)
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()

	// One connection busy with a slow request, one idle after a request,
	// one that never sends anything: the listener is full.
	slowDone := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{}}).Get("http://" + addr + "/slow")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		slowDone <- err
	}()
	idle := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	resp, err := idle.Get("http://" + addr + "/")
	require.NoError(t, err)
	io.ReadAll(resp.Body)
	resp.Body.Close()
	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	time.Sleep(evictAfter + 50*time.Millisecond) // all three accepted, and unused long enough

	// Two more clients get in, keeping their connections: each evicts the
	// oldest unused connection (the idle one, then the silent one; the
	// first new client's is too young).
	for i := range 2 {
		c := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + addr + "/")
		require.NoError(t, err, "client %d", i)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "ok", string(b))
		defer c.CloseIdleConnections()
	}
	require.NoError(t, <-slowDone, "the request in flight was not evicted")
	silent.SetReadDeadline(time.Now().Add(time.Second))
	_, err = silent.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "the silent connection was closed")
}

// Nothing is evicted without a connection waiting for room.
func TestNoEvictionWithoutDemand(t *testing.T) {
	var tracker connTracker
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), ConnState: tracker.track}
	ln := newLimitListener(mustListen(t), 2, tracker.evictOldest)
	go srv.Serve(ln)
	defer srv.Close()
	var conns []*bufio.Reader
	var raw []net.Conn
	ask := func(i int) error {
		if _, err := io.WriteString(raw[i], "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(conns[i], nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	for i := range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		raw, conns = append(raw, c), append(conns, bufio.NewReader(c))
		require.NoError(t, ask(i))
	}
	time.Sleep(2 * evictAfter) // both idle, old enough to be evicted, the listener full
	for i := range 2 {
		require.NoError(t, raw[i].SetDeadline(time.Now().Add(5*time.Second)))
		assert.NoError(t, ask(i), "connection %d still open", i)
	}
}
