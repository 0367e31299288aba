package traffic

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestNewBackendRejectsBadInput(t *testing.T) {
	tests := []struct {
		name   string
		target *url.URL
		opts   BackendOptions
		want   []string
	}{
		{"nil", nil, BackendOptions{}, []string{"nil URL"}},
		{"no scheme", &url.URL{Host: "a:1"}, BackendOptions{}, []string{`scheme "" is not http or https`}},
		{"ftp", &url.URL{Scheme: "ftp", Host: "a"}, BackendOptions{}, []string{`scheme "ftp"`}},
		{"no host", &url.URL{Scheme: "http", Path: "/x"}, BackendOptions{}, []string{"no host"}},
		{"negative", &url.URL{Scheme: "http", Host: "a"}, BackendOptions{DialTimeout: -1, IdleConnTimeout: -2, ResponseHeaderTimeout: -3, MaxIdleConnsPerHost: -4},
			[]string{"DialTimeout: -1ns", "IdleConnTimeout: -2ns", "ResponseHeaderTimeout: -3ns", "MaxIdleConnsPerHost: -4"}},
		{"secret not shown", &url.URL{Scheme: "gopher", Host: "a", User: url.UserPassword("u", "hunter2")}, BackendOptions{}, []string{"u:xxxxx@a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewBackend(tt.target, tt.opts)
			require.Error(t, err)
			assert.Nil(t, p)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestNewBackendProxies(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.URL.Path)
		w.Header().Set("X-Query", r.URL.RawQuery)
		w.Header().Set("X-Forwarded-For-Seen", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Forwarded-Host-Seen", r.Header.Get("X-Forwarded-Host"))
		w.Header().Set("X-Added", r.Header.Get("X-Added"))
		w.WriteHeader(http.StatusTeapot)
		io.Copy(w, r.Body)
	}))
	defer upstream.Close()

	p, err := NewBackend(mustURL(t, upstream.URL+"/base"), BackendOptions{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.Out.Header.Set("X-Added", "yes") },
	})
	require.NoError(t, err)
	front := httptest.NewServer(p)
	defer front.Close()

	req, err := http.NewRequest(http.MethodPost, front.URL+"/items?id=3", strings.NewReader("body"))
	require.NoError(t, err)
	req.Host = "shop.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // spoofed: dropped
	resp, err := front.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, "body", string(body))
	assert.Equal(t, "/base/items", resp.Header.Get("X-Path"))
	assert.Equal(t, "id=3", resp.Header.Get("X-Query"))
	assert.Equal(t, "127.0.0.1", resp.Header.Get("X-Forwarded-For-Seen"))
	assert.Equal(t, "shop.example", resp.Header.Get("X-Forwarded-Host-Seen"))
	assert.Equal(t, "yes", resp.Header.Get("X-Added"))

	tr, ok := p.Transport.(*http.Transport)
	require.True(t, ok)
	assert.Equal(t, DefaultMaxIdleConnsPerHost, tr.MaxIdleConnsPerHost)
	assert.Equal(t, DefaultIdleConnTimeout, tr.IdleConnTimeout)
	assert.Nil(t, tr.Proxy, "the environment's proxy must not be used for backends")
}

func TestNewBackendAnswers502(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	p, err := NewBackend(mustURL(t, "http://"+addr), BackendOptions{DialTimeout: time.Second, Logger: logger})
	require.NoError(t, err)

	obs := &observations{}
	s := newSplitter(t, map[string]http.Handler{"down": p}, Options{Route: Route{Weights: []Weight{{"down", 100}}}, Observer: obs})
	w := get(s)
	assert.Equal(t, http.StatusBadGateway, w.Code)
	assert.Equal(t, "Bad Gateway\n", w.Body.String())
	assert.Equal(t, 502, obs.all()[0].status)
	assert.Contains(t, logs.String(), "traffic: proxy error")
	assert.Contains(t, logs.String(), addr)
}

func TestNewBackendResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer upstream.Close()
	defer close(release)
	p, err := NewBackend(mustURL(t, upstream.URL), BackendOptions{ResponseHeaderTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadGateway, get(p).Code)
}

// TestUpgradeThroughSplitter switches protocols through a Splitter and a
// NewBackend proxy: Hijack must pass through the recorder.
func TestUpgradeThroughSplitter(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	defer upstream.Close()

	p, err := NewBackend(mustURL(t, upstream.URL), BackendOptions{})
	require.NoError(t, err)
	obs := &observations{}
	s := newSplitter(t, map[string]http.Handler{"ws": p}, Options{Route: Route{Weights: []Weight{{"ws", 100}}}, Observer: obs})
	front := httptest.NewServer(s)
	defer front.Close()

	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	_, err = io.WriteString(conn, "ping\n")
	require.NoError(t, err)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo: ping\n", line)
	conn.Close()

	require.Eventually(t, func() bool { return len(obs.all()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, http.StatusSwitchingProtocols, obs.all()[0].status)
}

func TestBufferPool(t *testing.T) {
	var p bufferPool
	b := p.Get()
	assert.Len(t, b, copyBufferSize)
	p.Put(b)
	p.Put(make([]byte, 10)) // foreign sizes are dropped, not pooled
	assert.Len(t, p.Get(), copyBufferSize)
}

func TestNewBackendKeepsTargetCopy(t *testing.T) {
	upstream := httptest.NewServer(named("up"))
	defer upstream.Close()
	u := mustURL(t, upstream.URL)
	p, err := NewBackend(u, BackendOptions{})
	require.NoError(t, err)
	u.Host = "invalid.invalid:1" // the caller changes theirs afterwards
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	assert.Equal(t, "up", serve(p, r).Body.String())
}
