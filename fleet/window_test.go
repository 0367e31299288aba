package fleet

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
)

// record feeds n random outcomes to recs[i%len] and to all.
func record(t *testing.T, rng *rand.Rand, n int, all *analysis.Recorder, recs ...*analysis.Recorder) {
	t.Helper()
	for i := range n {
		status := 200
		if rng.IntN(20) == 0 {
			status = 503
		}
		d := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		recs[i%len(recs)].Observe("v2", status, d, 100)
		all.Observe("v2", status, d, 100)
	}
}

func newRecorder(t *testing.T) *analysis.Recorder {
	t.Helper()
	r, err := analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
	require.NoError(t, err)
	return r
}

// Merging the windows of several recorders gives exactly the window of
// one recorder that saw every request.
func TestMergeWindowsIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := newRecorder(t)
	parts := []*analysis.Recorder{newRecorder(t), newRecorder(t), newRecorder(t)}
	record(t, rng, 5000, all, parts...)
	since, until := time.Now().Add(-time.Minute), time.Now().Add(time.Second)
	var ws []analysis.Window
	for _, p := range parts {
		ws = append(ws, p.Window("v2", since, until))
	}
	got, err := MergeWindows(ws...)
	require.NoError(t, err)
	want := all.Window("v2", since, until)
	assert.Equal(t, want.Requests, got.Requests)
	assert.Equal(t, want.Errors, got.Errors)
	assert.Equal(t, want.Classes, got.Classes)
	assert.Equal(t, want.Bytes, got.Bytes)
	require.Equal(t, want.Latency.Count(), got.Latency.Count())
	for q := 0.0; q <= 1; q += 0.001 {
		require.Equal(t, want.Latency.Quantile(q), got.Latency.Quantile(q), "q=%v", q)
	}
	for d := time.Duration(0); d < 200*time.Millisecond; d += 97 * time.Microsecond {
		require.Equal(t, want.Latency.CountAtMost(d), got.Latency.CountAtMost(d), "d=%v", d)
	}
	empty, err := MergeWindows()
	require.NoError(t, err)
	assert.Zero(t, empty.Latency.Count())
	assert.Zero(t, empty.Latency.Quantile(0.5))
}

type plainDist struct{ analysis.Distribution }

func TestMergeWindowsRefusesUnbucketedLatency(t *testing.T) {
	_, err := MergeWindows(analysis.Window{Backend: "v2", Latency: plainDist{}})
	require.ErrorIs(t, err, ErrNotMergeable)
}

// The leader's Source pulls every live replica's window from its admin
// server and merges them; a replica that does not answer is named.
func TestSourceMergesTheFleetsWindows(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	rng := rand.New(rand.NewPCG(3, 4))
	all := newRecorder(t)
	recs := []*analysis.Recorder{newRecorder(t), newRecorder(t), newRecorder(t)}
	record(t, rng, 3000, all, recs...)
	var reps []*Replica
	for i, rec := range recs {
		admin := httptest.NewServer(WindowHandler(rec))
		t.Cleanup(admin.Close)
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = cli.Close() })
		r, err := Join(ctx, Config{Client: cli, Service: "shop", ID: string(rune('a' + i)), TTL: time.Second, Router: &localRouter{}, Admin: admin.URL})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		reps = append(reps, r)
	}
	since, until := time.Now().Add(-time.Minute), time.Now().Add(time.Second)
	src := reps[0].NewSource(time.Second)
	got := src.Window("v2", since, until)
	want := all.Window("v2", since, until)
	assert.Equal(t, want.Requests, got.Requests)
	assert.Equal(t, want.Errors, got.Errors)
	assert.Equal(t, want.Latency.Quantile(0.99), got.Latency.Quantile(0.99))
	assert.Empty(t, src.Missing())

	// A replica whose admin server is down is left out and named.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	cli, _ := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	t.Cleanup(func() { _ = cli.Close() })
	r, err := Join(ctx, Config{Client: cli, Service: "shop", ID: "dead", TTL: time.Second, Router: &localRouter{}, Admin: dead.URL})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	require.Eventually(t, func() bool { // the view of the replicas is a watch's
		got = src.Window("v2", since, until)
		return len(src.Missing()) > 0
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, want.Requests, got.Requests)
	assert.Equal(t, []string{"dead"}, src.Missing())
}

// A replica's 5xx wakes the leader's guard: a Guard on the fleet's Source
// whose PollInterval is an hour fires as soon as the replicas record a
// failing canary (it used to wait for its next poll). Its evidence is the
// merged windows, as at a poll: thresholds and α unchanged.
func TestSourceWakesTheGuardAtAReplicasError(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	recs := []*analysis.Recorder{newRecorder(t), newRecorder(t), newRecorder(t)}
	var reps []*Replica
	for i, rec := range recs {
		admin := httptest.NewServer(WindowHandler(rec))
		t.Cleanup(admin.Close)
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = cli.Close() })
		r, err := Join(ctx, Config{Client: cli, Service: "shop", ID: string(rune('a' + i)), TTL: time.Second, Router: &localRouter{}, Admin: admin.URL})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		reps = append(reps, r)
	}
	src := reps[0].NewSource(time.Second)
	g := &rollback.Guard{Source: src, MaxErrorRate: 0.05, PollInterval: time.Hour}
	fired := make(chan string, 4)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = g.Watch(gctx, rollback.Target{Stable: "v1", Canary: "v2"}, func(reason string) { fired <- reason })
	}()
	// Wait for the long-polls (every replica's, as errors are spread) to
	// be in place: without them no error reaches the leader.
	require.Eventually(t, func() bool {
		src.n.mu.Lock()
		defer src.n.mu.Unlock()
		sub := src.n.subs["v2"]
		return sub != nil && len(sub.polls) == 3
	}, 10*time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // the first answers (the counts) are in
	for i := range 60 {                // a healthy start on every replica: no wake
		recs[i%3].Observe("v2", 200, time.Millisecond, 10)
		recs[i%3].Observe("v1", 200, time.Millisecond, 10)
	}
	select {
	case r := <-fired:
		t.Fatalf("fired on a healthy canary: %s", r)
	default:
	}
	deadline := time.Now().Add(15 * time.Second) // an hour before its first poll
	for i := 0; ; i++ {
		recs[i%3].Observe("v2", 503, time.Millisecond, 10)
		select {
		case r := <-fired:
			assert.Contains(t, r, "5xx rate")
			assert.GreaterOrEqual(t, i, 3, "fired on too little evidence")
			return
		case <-time.After(20 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "the guard never woke up (%d errors recorded)", i+1)
	}
}

// The long-poll answers at once with errors_after=-1, when the count
// exceeds errors_after, or when wait ends; bad parameters get a 400
// naming them, an unknown backend a 404, a source without Errored a 501.
func TestWindowHandlerLongPoll(t *testing.T) {
	rec := newRecorder(t)
	rec.Observe("v2", 503, time.Millisecond, 10)
	srv := httptest.NewServer(WindowHandler(rec))
	t.Cleanup(srv.Close)
	get := func(query string) (int, string) {
		resp, err := http.Get(srv.URL + WindowPath + "?" + query)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("backend=v2&errors_after=-1")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"errors":1}`, body)
	code, body = get("backend=v2&errors_after=1&wait=50ms")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"errors":1}`, body, "answered when wait ended")
	go func() { time.Sleep(50 * time.Millisecond); rec.Observe("v2", 500, time.Millisecond, 10) }()
	code, body = get("backend=v2&errors_after=1&wait=30s")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"errors":2}`, body, "answered at the next error")
	code, body = get("backend=v2&errors_after=x")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "errors_after")
	code, body = get("backend=v2&errors_after=1&wait=2h")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "wait")
	code, _ = get("backend=nope&errors_after=1")
	assert.Equal(t, http.StatusNotFound, code)
	plain := httptest.NewServer(WindowHandler(windowOnly{rec}))
	t.Cleanup(plain.Close)
	resp, err := http.Get(plain.URL + WindowPath + "?backend=v2&errors_after=0")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotImplemented, resp.StatusCode)
}

// windowOnly hides every method of its source but Window.
type windowOnly struct{ src analysis.WindowSource }

func (w windowOnly) Window(backend string, since, until time.Time) analysis.Window {
	return w.src.Window(backend, since, until)
}
