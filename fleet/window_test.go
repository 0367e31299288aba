package fleet

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp/analysis"
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
	got = src.Window("v2", since, until)
	assert.Equal(t, want.Requests, got.Requests)
	assert.Equal(t, []string{"dead"}, src.Missing())
}
