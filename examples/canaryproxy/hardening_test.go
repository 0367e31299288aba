package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/internal/integration"
)

// flood opens n connections to addr that hold it without finishing a
// request: a third connect and send nothing, a third send half a header,
// a third send headers announcing a body of a megabyte and then 10 bytes.
// It returns them (the ones the kernel took) and how many were refused or
// timed out.
func flood(addr string, n int) (conns []net.Conn, failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 3*time.Second)
			if err == nil {
				c.SetWriteDeadline(time.Now().Add(3 * time.Second))
				switch i % 3 {
				case 1:
					_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: flood\r\nX-Slow: ")
				case 2:
					_, err = io.WriteString(c, "POST / HTTP/1.1\r\nHost: flood\r\nContent-Length: 1000000\r\n\r\n0123456789")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if c != nil {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	return conns, failed
}

// TestAbortGetsThroughAFloodedProxyPort runs canaryproxy with 512 open
// files at most and floods its proxy port with 1,000 idle and slow
// connections: the admin API still answers and an abort still rolls back,
// nothing fails for want of file descriptors, and once the flood ends the
// proxy serves again.
func TestAbortGetsThroughAFloodedProxyPort(t *testing.T) {
	prlimit := integration.Binary(t, "prlimit")
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	// The flood is the only traffic, and a third of it sends a body it
	// never finishes: on a loaded machine (-race, 1,000 connections on 2
	// cores) half of the canary's few requests took over the default
	// 500ms and its guard rolled it back before the abort. The latency
	// limit is lifted out of the way; the 5xx limit stays, and it is what
	// catches the descriptor exhaustion this test is about.
	c := startChild(t, []string{prlimit, "--nofile=512:512"},
		"-stable", stable.URL, "-canary", canary.URL, "-steps", "10,50", "-step-duration", "1m", "-admin-token", "t", "-max-p99", "10m")
	require.Contains(t, c.stdout.String(), "max_conns=208", "the budget follows the open-file limit: (512-32-64)/2")

	began := time.Now()
	conns, failed := flood(strings.TrimPrefix(c.proxy, "http://"), 1000)
	t.Logf("flood: %d connections held, %d refused or timed out, in %v", len(conns), failed, time.Since(began).Round(time.Millisecond))
	require.Greater(t, len(conns), 208, "the flood is larger than the proxy's connection bound")
	defer func() {
		for _, fc := range conns {
			fc.Close()
		}
	}()

	// The admin API answers while the flood holds the proxy port.
	adminClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	var lat []time.Duration
	for range 200 {
		t0 := time.Now()
		resp, err := adminClient.Get(c.admin + "/status")
		require.NoError(t, err)
		var st admin.Status
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	t.Logf("admin GET /status under the flood (machine shared, loaded): p50 %v, p99 %v, max %v over %d requests",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], len(lat))

	req, err := http.NewRequest(http.MethodPost, c.admin+"/abort?reason=flood+drill", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer t")
	t0 := time.Now()
	resp, err := adminClient.Do(req)
	require.NoError(t, err)
	var res admin.OpResult
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	resp.Body.Close()
	// (Without the connection bound, the flood used up the descriptors:
	// upstream dials failed, the canary's 502s rolled it back before the
	// abort, and both listeners logged "too many open files".)
	require.Equal(t, http.StatusOK, resp.StatusCode, "abort: %+v", res)
	assert.Equal(t, "rolled_back", res.Phase)
	t.Logf("abort under the flood answered in %v", time.Since(t0).Round(time.Microsecond))

	// The flood ends; normal requests are served (those queued behind the
	// flood's connections are accepted as the proxy closes them).
	for _, fc := range conns {
		fc.Close()
	}
	conns = nil
	client := &http.Client{Timeout: 30 * time.Second}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				resp, err := client.Get(c.proxy)
				if !assert.NoError(t, err) {
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if assert.Equal(t, http.StatusOK, resp.StatusCode) && assert.Equal(t, "stable", string(b), "rolled back: all to stable") {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(200), ok.Load())
	for _, out := range []string{c.stdout.String(), c.stderr.String()} {
		assert.NotContains(t, out, "too many open files")
	}
	select {
	case <-c.exited:
		t.Fatalf("canaryproxy exited: %v", c.cmd.ProcessState)
	default:
	}
}

// TestAbortGetsThroughAnAdminPortFullOfIdleConnections is the case that
// starved the admin API before: hundreds of idle keep-alive connections,
// and connections that never send a request, on the admin port itself.
// The admin listener holds 32 at most and evicts the unused ones.
func TestAbortGetsThroughAnAdminPortFullOfIdleConnections(t *testing.T) {
	prlimit := integration.Binary(t, "prlimit")
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	c := startChild(t, []string{prlimit, "--nofile=256:256"},
		"-stable", stable.URL, "-canary", canary.URL, "-steps", "10,50", "-step-duration", "1m", "-admin-token", "t")
	addr := strings.TrimPrefix(c.admin, "http://")

	// Opened all at once: the listener takes 32, the rest wait in the
	// kernel's queue, their requests (if any) already sent.
	var (
		mu        sync.Mutex
		held      []net.Conn
		keptAlive int
		wg        sync.WaitGroup
	)
	defer func() {
		for _, hc := range held {
			hc.Close()
		}
	}()
	sem := make(chan struct{}, 64)
	for i := range 300 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
			if i%2 == 1 {
				return // never sends anything
			}
			// One request, then the connection stays open, idle.
			conn.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n"); err == nil {
				if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					keptAlive++
					mu.Unlock()
				}
			}
			conn.SetDeadline(time.Time{})
		}()
	}
	wg.Wait()
	t.Logf("admin port: %d connections opened, %d of them idle after a request", len(held), keptAlive)
	require.Greater(t, len(held), 250)

	// Without eviction the 32 slots stay taken for 5s (no request) to 30s
	// (idle), and the queue behind them holds the rest: a request would
	// wait minutes, not the client's 10s.
	adminClient := &http.Client{Timeout: 10 * time.Second}
	var lat []time.Duration
	for range 50 {
		t0 := time.Now()
		resp, err := adminClient.Get(c.admin + "/status")
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	t.Logf("admin GET /status with the admin port full: p50 %v, p99 %v over %d requests", lat[len(lat)/2], lat[len(lat)*99/100], len(lat))

	req, err := http.NewRequest(http.MethodPost, c.admin+"/abort?reason=admin+flood", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := adminClient.Do(req)
	require.NoError(t, err)
	var res admin.OpResult
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "abort: %+v", res)
	assert.Equal(t, "rolled_back", res.Phase)
	code, from := get(t, c.proxy, nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "stable", from)
	for _, out := range []string{c.stdout.String(), c.stderr.String()} {
		assert.NotContains(t, out, "too many open files")
	}
}
