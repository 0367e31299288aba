package haproxy

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseWeight(t *testing.T) {
	tests := []struct {
		in   string
		want ServerWeight
		ok   bool
	}{
		{"100 (initial 100)\n\n", ServerWeight{100, 100}, true},
		{"0 (initial 1)\n\n", ServerWeight{0, 1}, true},
		{"256 (initial 0)\n", ServerWeight{256, 0}, true},
		{"7 (initial 7)", ServerWeight{7, 7}, true},
		{"", ServerWeight{}, false},
		{"\n", ServerWeight{}, false},
		{"No such backend.\n\n", ServerWeight{}, false},
		{"No such server.\n\n", ServerWeight{}, false},
		{"Require 'backend/server'.\n\n", ServerWeight{}, false},
		{"257 (initial 1)\n\n", ServerWeight{}, false},
		{"1 (initial 999)\n\n", ServerWeight{}, false},
		{"-1 (initial 1)\n\n", ServerWeight{}, false},
		{"+1 (initial 1)\n\n", ServerWeight{}, false},
		{"01 (initial 1)\n\n", ServerWeight{}, false},
		{"1 (initial 1)\n\n2 (initial 2)\n\n", ServerWeight{}, false},
		{"1 (initial 1)\n\n\n", ServerWeight{}, false},
		{"1 (initial 1) \n\n", ServerWeight{}, false},
		{" 1 (initial 1)\n\n", ServerWeight{}, false},
		{"1 (initial 1)x\n\n", ServerWeight{}, false},
		{"1 (initial )\n\n", ServerWeight{}, false},
		{"1(initial 1)\n\n", ServerWeight{}, false},
		{"1 (initial 1\n\n", ServerWeight{}, false},
		{"1 (INITIAL 1)\n\n", ServerWeight{}, false},
		{"1 (initial 1)\r\n\r\n", ServerWeight{}, false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.in, "\n", `\n`), func(t *testing.T) {
			got, ok := ParseWeight(tt.in)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestClientCommands(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 100, "app/s2": 0})
	c := &Client{Addr: f.Addr}
	ctx := context.Background()

	require.NoError(t, c.SetWeight(ctx, "app", "s2", 28))
	w, err := c.Weight(ctx, "app", "s2")
	require.NoError(t, err)
	assert.Equal(t, ServerWeight{Current: 28, Initial: 0}, w)
	require.NoError(t, c.SetState(ctx, "app", "s2", Drain))
	assert.Equal(t, "drain", f.state("app/s2"))
	require.NoError(t, c.SetState(ctx, "app", "s2", Ready))
	assert.Equal(t, "ready", f.state("app/s2"))

	resp, err := c.Command(ctx, "get weight app/s1")
	require.NoError(t, err)
	assert.Equal(t, "100 (initial 100)\n\n", resp)

	assert.Equal(t, []string{
		"set weight app/s2 28",
		"get weight app/s2",
		"set server app/s2 state drain",
		"set server app/s2 state ready",
		"get weight app/s1",
	}, f.commands())
}

func TestClientHAProxyErrors(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 100})
	c := &Client{Addr: f.Addr}
	ctx := context.Background()
	tests := []struct {
		name string
		do   func() error
		msg  string
	}{
		{"set weight no backend", func() error { return c.SetWeight(ctx, "nope", "s1", 1) }, "No such backend."},
		{"set weight no server", func() error { return c.SetWeight(ctx, "app", "s9", 1) }, "No such server."},
		{"get weight no backend", func() error { _, err := c.Weight(ctx, "nope", "s1"); return err }, "No such backend."},
		{"get weight no server", func() error { _, err := c.Weight(ctx, "app", "s9"); return err }, "No such server."},
		{"state no server", func() error { return c.SetState(ctx, "app", "s9", Maint) }, "No such server."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var ce *CommandError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.msg, ce.Message)
			assert.Equal(t, f.Addr, ce.Addr)
			assert.Contains(t, err.Error(), f.Addr)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}

	// An answer a success never gives is an error, whatever it says.
	f.setAnswer(func(cmd string) (string, bool) {
		switch {
		case strings.HasPrefix(cmd, "set weight"):
			return "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n", true
		case strings.HasPrefix(cmd, "get weight"):
			return "Permission denied\n\n", true
		}
		return "", false
	})
	err := c.SetWeight(ctx, "app", "s1", 5)
	assert.ErrorContains(t, err, "static LB algorithm")
	_, err = c.Weight(ctx, "app", "s1")
	assert.ErrorContains(t, err, "Permission denied")
	assert.Equal(t, 100, f.weight("app/s1"), "the refused set must not have changed anything")
}

func TestClientRefusesBeforeSending(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 100})
	c := &Client{Addr: f.Addr}
	ctx := context.Background()
	errs := []error{
		c.SetWeight(ctx, "app", "s1", -1),
		c.SetWeight(ctx, "app", "s1", 257),
		c.SetWeight(ctx, "app;shutdown sessions", "s1", 1),
		c.SetWeight(ctx, "app", "s1 1;set weight app/s1", 1),
		c.SetState(ctx, "app", "s1", State("up")),
		c.SetState(ctx, "app", "s1\nshow info", Ready),
	}
	_, err := c.Weight(ctx, "", "s1")
	errs = append(errs, err)
	_, err = c.Command(ctx, "show info\nshow stat")
	errs = append(errs, err)
	_, err = c.Command(ctx, "")
	errs = append(errs, err)
	for i, err := range errs {
		assert.Error(t, err, "case %d", i)
	}
	assert.ErrorIs(t, errs[2], ErrInvalidName)
	assert.ErrorIs(t, errs[7], ErrInvalidCommand)
	assert.ErrorContains(t, errs[0], "weight: -1 is outside [0, 256]")
	assert.ErrorContains(t, errs[4], `state: "up" is not one of ready, drain, maint`)
	assert.Empty(t, f.commands(), "nothing may be sent for refused input")
}

func TestClientTimeoutAndCancel(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 100})
	f.setHang()

	c := &Client{Addr: f.Addr, Timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := c.Weight(context.Background(), "app", "s1")
	require.Error(t, err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "a hung server must give a timeout error: %v", err)
	assert.Contains(t, err.Error(), f.Addr)
	assert.Contains(t, err.Error(), `"get weight app/s1"`)
	assert.Less(t, time.Since(start), 5*time.Second)

	// The context's deadline wins when it is earlier.
	c.Timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Weight(ctx, "app", "s1")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), f.Addr)

	// Cancelling the context ends a command at once.
	ctx, cancel = context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(30 * time.Millisecond)
		cancel()
	}()
	start = time.Now()
	err = c.SetWeight(ctx, "app", "s1", 3)
	wg.Wait()
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestClientConnectionFailures(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hapgone")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	missing := dir + "/admin.sock"

	_, err = (&Client{Addr: missing}).Weight(ctx, "app", "s1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)
	assert.Contains(t, err.Error(), "connect")

	// A TCP address nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = (&Client{Addr: addr, Timeout: time.Second}).Weight(ctx, "app", "s1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)

	_, err = (&Client{}).Command(ctx, "show info")
	assert.ErrorContains(t, err, "address is empty")
}

func TestClientServerClosesEarly(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 100})
	f.setAnswer(func(string) (string, bool) { return "", true }) // closes without a word
	c := &Client{Addr: f.Addr}
	_, err := c.Weight(context.Background(), "app", "s1")
	var ce *CommandError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Message, "no answer")
	// A set succeeds with "\n" only: no answer at all is a failure too.
	err = c.SetWeight(context.Background(), "app", "s1", 1)
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Message, "no answer")
	// Other white space is not HAProxy's success either.
	f.setAnswer(func(string) (string, bool) { return " \n", true })
	assert.Error(t, c.SetWeight(context.Background(), "app", "s1", 1))
}

func TestClientMaxResponse(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 100})
	f.setAnswer(func(string) (string, bool) { return strings.Repeat("x", 5000), true })
	c := &Client{Addr: f.Addr, MaxResponse: 4096}
	_, err := c.Command(context.Background(), "show stat")
	assert.ErrorContains(t, err, "answer exceeds 4096 bytes")

	c.MaxResponse = 5000
	resp, err := c.Command(context.Background(), "show stat")
	require.NoError(t, err)
	assert.Len(t, resp, 5000)
}

func TestClientLongErrorIsCondensed(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 100})
	c := &Client{Addr: f.Addr}
	_, err := c.Command(context.Background(), "bogus")
	require.NoError(t, err, "Command does not judge answers")
	err = c.expectEmpty(context.Background(), "bogus")
	var ce *CommandError
	require.ErrorAs(t, err, &ce)
	assert.True(t, strings.HasPrefix(ce.Message, "Unknown command"), ce.Message)
	assert.NotContains(t, ce.Message, "\n")
}

func TestClientNetwork(t *testing.T) {
	tests := []struct{ addr, network, dial string }{
		{"/run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock"},
		{"admin.sock", "unix", "admin.sock"},
		{"./a:1", "unix", "./a:1"},
		{"unix@/run/h.sock", "unix", "/run/h.sock"},
		{"127.0.0.1:9999", "tcp", "127.0.0.1:9999"},
		{"localhost:9999", "tcp", "localhost:9999"},
		{"[::1]:9999", "tcp", "[::1]:9999"},
		{"ipv4@127.0.0.1:9999", "tcp", "127.0.0.1:9999"},
		{"ipv6@[::1]:9999", "tcp", "[::1]:9999"},
		{"host:http", "unix", "host:http"},
	}
	for _, tt := range tests {
		n, a := (&Client{Addr: tt.addr}).network()
		assert.Equal(t, tt.network, n, tt.addr)
		assert.Equal(t, tt.dial, a, tt.addr)
	}
}

func TestClientConcurrent(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 100, "app/s2": 0})
	c := &Client{Addr: f.Addr}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(2)
		go func() { defer wg.Done(); errs <- c.SetWeight(context.Background(), "app", "s2", i) }()
		go func() { defer wg.Done(); _, err := c.Weight(context.Background(), "app", "s1"); errs <- err }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, f.commands(), 40)
}
