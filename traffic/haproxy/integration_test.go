package haproxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/internal/integration"
	"github.com/ramp-go/ramp/traffic"
	"github.com/ramp-go/ramp/traffic/haproxy"
	"github.com/ramp-go/ramp/traffic/haproxy/haproxytest"
)

// TestRealHAProxy drives a real HAProxy: routes applied through the
// runtime API are read back by Current and show in how HAProxy really
// spreads requests over two upstream servers.
func TestRealHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	began := time.Now()
	upstream := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	v1, v2 := upstream("v1"), upstream("v2")
	front := integration.FreeAddr(t)
	hp := haproxytest.Start(t, fmt.Sprintf(`
frontend fe
    bind %s
    default_backend app

backend app
    balance roundrobin
    server s1 %s weight 100
    server s2 %s weight 0
`, front, v1.Listener.Addr(), v2.Listener.Addr()))
	t.Logf("haproxy up after %v", time.Since(began).Round(time.Millisecond))

	r, err := haproxy.New(haproxy.Config{
		Addr: hp.Socket, Backend: "app",
		Servers: map[string]string{"v1": "s1", "v2": "s2"},
	})
	require.NoError(t, err)
	ctx := context.Background()

	client := &http.Client{Timeout: 5 * time.Second}
	// spread sends n requests through HAProxy and counts who answered.
	spread := func(n int) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			resp, err := client.Get("http://" + front + "/")
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
			got[string(b)]++
		}
		return got
	}

	cur, err := r.Current(ctx)
	require.NoError(t, err)
	assert.Equal(t, 100.0, cur.Percent("v1"), "the configuration's weights: %+v", cur)
	assert.Equal(t, map[string]int{"v1": 50}, spread(50))

	for _, step := range []struct {
		canary float64
		low    int // v2's answers out of 400, bounds
		high   int
	}{
		{10, 30, 50},
		{50, 180, 220},
		{100, 400, 400},
		{0, 0, 0},
	} {
		require.NoError(t, r.Apply(ctx, traffic.Split("v1", "v2", step.canary)))
		cur, err := r.Current(ctx)
		require.NoError(t, err)
		assert.Equal(t, step.canary, cur.Percent("v2"), "Current after %v%%", step.canary)
		assert.Equal(t, 100-step.canary, cur.Percent("v1"), "Current after %v%%", step.canary)
		got := spread(400)
		t.Logf("%5.1f%% canary: %v", step.canary, got)
		assert.GreaterOrEqual(t, got["v2"], step.low, "%v%%: %v", step.canary, got)
		assert.LessOrEqual(t, got["v2"], step.high, "%v%%: %v", step.canary, got)
	}

	// What HAProxy itself reports.
	w, err := r.Client().Weight(ctx, "app", "s2")
	require.NoError(t, err)
	assert.Equal(t, haproxy.ServerWeight{Current: 0, Initial: 0}, w)
	w, err = r.Client().Weight(ctx, "app", "s1")
	require.NoError(t, err)
	assert.Equal(t, haproxy.ServerWeight{Current: 256, Initial: 100}, w)

	// Drain: at 50%, the drained canary gets nothing; Ready restores it.
	require.NoError(t, r.Apply(ctx, traffic.Split("v1", "v2", 50)))
	require.NoError(t, r.Drain(ctx, "v2"))
	assert.Equal(t, map[string]int{"v1": 100}, spread(100))
	require.NoError(t, r.Ready(ctx, "v2"))
	got := spread(100)
	assert.InDelta(t, 50, got["v2"], 5, "%v", got)

	// HAProxy's own refusals come back with its text.
	bad, err := haproxy.New(haproxy.Config{Addr: hp.Socket, Backend: "nope", Servers: map[string]string{"v1": "s1"}})
	require.NoError(t, err)
	_, err = bad.Current(ctx)
	var ce *haproxy.CommandError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "No such backend.", ce.Message)
	assert.Contains(t, err.Error(), hp.Socket)

	bad, err = haproxy.New(haproxy.Config{Addr: hp.Socket, Backend: "app", Servers: map[string]string{"v1": "s1", "v3": "s3"}})
	require.NoError(t, err)
	err = bad.Apply(ctx, traffic.Split("v1", "v3", 10))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "No such server.", ce.Message)

	resp, err := r.Client().Command(ctx, "set weight app 1")
	require.NoError(t, err)
	assert.Equal(t, "Require 'backend/server'.\n\n", resp)
	resp, err = r.Client().Command(ctx, "set weight app/s1 300")
	require.NoError(t, err)
	assert.Equal(t, "Absolute weight can only be between 0 and 256 inclusive.\n\n", resp)
	t.Logf("done after %v", time.Since(began).Round(time.Millisecond))
}

// TestRealHAProxyStaticAlgorithm: a backend whose algorithm cannot change
// weights refuses them, and the refusal is HAProxy's text in the error.
func TestRealHAProxyStaticAlgorithm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	hp := haproxytest.Start(t, fmt.Sprintf(`
backend app
    balance static-rr
    server s1 %s weight 100
    server s2 %s weight 100
`, integration.FreeAddr(t), integration.FreeAddr(t)))
	r, err := haproxy.New(haproxy.Config{Addr: hp.Socket, Backend: "app", Servers: map[string]string{"v1": "s1", "v2": "s2"}})
	require.NoError(t, err)
	err = r.Apply(context.Background(), traffic.Split("v1", "v2", 10))
	var ce *haproxy.CommandError
	require.ErrorAs(t, err, &ce)
	t.Logf("HAProxy says: %s", ce.Message)
	assert.Contains(t, ce.Message, "static")
}
