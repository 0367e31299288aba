package traffic

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echo answers with the request body, so a test can see what a backend read.
func echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		io.Copy(w, r.Body)
	})
}

// sink is a mirror backend that records what it received.
type sink struct {
	mu     sync.Mutex
	bodies []string
	paths  []string
	header []http.Header
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, string(b))
	s.paths = append(s.paths, r.URL.RequestURI())
	s.header = append(s.header, r.Header)
	io.WriteString(w, "mirror answer, discarded")
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func mirrorRoute(pct float64) Route {
	return Route{Weights: []Weight{{"stable", 100}}, Mirror: &Mirror{Backend: "shadow", Percent: pct}}
}

// drain waits for the mirrored requests in flight.
func drain(t *testing.T, s *Splitter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
}

func TestMirrorCopiesRequests(t *testing.T) {
	shadow := &sink{}
	mobs := &observations{}
	obs := &observations{}
	s := newSplitter(t, map[string]http.Handler{"stable": echo("stable"), "shadow": shadow},
		Options{Route: mirrorRoute(100), Observer: obs, MirrorObserver: mobs})

	bodies := []string{"", "hello", strings.Repeat("x", DefaultMirrorBodyLimit)}
	for _, body := range bodies {
		r := httptest.NewRequest(http.MethodPost, "/orders?id=7", strings.NewReader(body))
		r.Header.Set("X-Trace", "t1")
		w := serve(s, r)
		assert.Equal(t, body, w.Body.String(), "the user's backend reads the whole body")
	}
	t.Run("chunked body of unknown length", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/orders?id=7", io.NopCloser(strings.NewReader("streamed")))
		r.ContentLength = -1
		r.Header.Set("X-Trace", "t1")
		assert.Equal(t, "streamed", serve(s, r).Body.String())
		bodies = append(bodies, "streamed")
	})
	drain(t, s)

	assert.ElementsMatch(t, bodies, shadow.bodies)
	for i := range shadow.paths {
		assert.Equal(t, "/orders?id=7", shadow.paths[i])
		assert.Equal(t, "t1", shadow.header[i].Get("X-Trace"))
	}
	assert.Equal(t, MirrorStats{Sent: uint64(len(bodies))}, s.MirrorStats())
	for _, o := range mobs.all() {
		assert.Equal(t, "shadow", o.backend)
		assert.Equal(t, 200, o.status)
		assert.Equal(t, int64(len("mirror answer, discarded")), o.bytes)
	}
	assert.Len(t, mobs.all(), len(bodies))
	for _, o := range obs.all() {
		assert.Equal(t, "stable", o.backend, "mirrored requests are not reported to Observer")
	}
}

func TestMirrorSkipsLargeBodies(t *testing.T) {
	const limit = 16
	tests := []struct {
		name   string
		body   string
		length int64 // -1: unknown
		limit  int64
	}{
		{"known length over the limit", strings.Repeat("a", limit+1), limit + 1, limit},
		{"unknown length over the limit", strings.Repeat("b", 3*limit), -1, limit},
		{"negative limit: no bodies", "c", 1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shadow := &sink{}
			s := newSplitter(t, map[string]http.Handler{"stable": echo("stable"), "shadow": shadow},
				Options{Route: mirrorRoute(100), MirrorBodyLimit: tt.limit})
			r := httptest.NewRequest(http.MethodPut, "/", io.NopCloser(strings.NewReader(tt.body)))
			r.ContentLength = tt.length
			assert.Equal(t, tt.body, serve(s, r).Body.String(), "the user's backend reads the whole body")
			assert.Equal(t, "stable", get(s).Header().Get("X-Backend")) // bodiless: mirrored
			drain(t, s)
			assert.Equal(t, []string{""}, shadow.bodies)
			assert.Equal(t, MirrorStats{Sent: 1, TooLarge: 1}, s.MirrorStats())
		})
	}

	t.Run("unreadable body", func(t *testing.T) {
		shadow := &sink{}
		r := httptest.NewRequest(http.MethodPut, "/", io.NopCloser(io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(io.ErrUnexpectedEOF))))
		r.ContentLength = -1
		var read string
		var readErr error
		s := newSplitter(t, map[string]http.Handler{"stable": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			read, readErr = string(b), err
		}), "shadow": shadow}, Options{Route: mirrorRoute(100)})
		serve(s, r)
		assert.Equal(t, "ab", read, "the user's backend reads what arrived")
		assert.ErrorIs(t, readErr, io.ErrUnexpectedEOF, "and then the error")
		drain(t, s)
		assert.Zero(t, shadow.count())
		assert.Equal(t, MirrorStats{TooLarge: 1}, s.MirrorStats())
	})
}

func TestMirrorShare(t *testing.T) {
	const n = 20_000
	shadow := &sink{}
	s := newSplitter(t, map[string]http.Handler{"stable": named("stable"), "shadow": shadow},
		Options{Route: mirrorRoute(25), MirrorConcurrency: n})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for range n {
		backendOf(s, r)
	}
	drain(t, s)
	sd := math.Sqrt(0.25 * 0.75 / n)
	assert.InDelta(t, 0.25, float64(shadow.count())/n, 5*sd)
	assert.Equal(t, uint64(shadow.count()), s.MirrorStats().Sent)
}

func TestMirrorNeverCopiesToItself(t *testing.T) {
	var hits atomic.Int64
	shadow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	s := newSplitter(t, map[string]http.Handler{"stable": named("stable"), "shadow": shadow}, Options{Route: Route{
		Weights: []Weight{{"stable", 100}},
		Rules:   []Rule{{Header: "X-Shadow", Value: "1", Backend: "shadow"}},
		Mirror:  &Mirror{Backend: "shadow", Percent: 100},
	}})
	get(s, "X-Shadow", "1")
	drain(t, s)
	assert.Equal(t, int64(1), hits.Load(), "the request itself, not a copy")
	assert.Zero(t, s.MirrorStats().Sent)
}

// TestSlowMirrorDoesNotDelayUsers: the mirror takes 2 s (or until it is
// cancelled); every user request must finish within a deadline far below
// that, through a real server and client.
func TestSlowMirrorDoesNotDelayUsers(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	s := newSplitter(t, map[string]http.Handler{"stable": named("stable"), "shadow": slow}, Options{Route: mirrorRoute(100)})
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := srv.Client()

	const deadline = 250 * time.Millisecond // 1/8 of the mirror's delay
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("payload"))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err, "request %d missed the %v deadline", i, deadline)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		require.NoError(t, err)
		assert.Equal(t, "stable", string(body))
	}
	assert.Equal(t, uint64(20), s.MirrorStats().Sent)

	// The copies are still sleeping: Shutdown with an expired context
	// cancels them rather than waiting 2 s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
}

func TestMirrorConcurrencyBound(t *testing.T) {
	const bound = 4
	release := make(chan struct{})
	var inFlight, peak atomic.Int64
	blocked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
	})
	s := newSplitter(t, map[string]http.Handler{"stable": named("stable"), "shadow": blocked},
		Options{Route: mirrorRoute(100), MirrorConcurrency: bound})

	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.Equal(t, "stable", get(s).Body.String())
		}()
	}
	wg.Wait() // every user request finished while the copies are blocked
	require.Eventually(t, func() bool { return inFlight.Load() == bound }, 5*time.Second, time.Millisecond)
	st := s.MirrorStats()
	assert.Equal(t, uint64(bound), st.Sent)
	assert.Equal(t, uint64(n-bound), st.Busy)

	close(release)
	drain(t, s)
	assert.Equal(t, int64(bound), peak.Load())
	assert.Zero(t, inFlight.Load(), "Shutdown returned before the copies finished")

	// After Shutdown the splitter serves but no longer mirrors.
	assert.Equal(t, "stable", get(s).Body.String())
	assert.Equal(t, uint64(bound), s.MirrorStats().Sent)
	assert.Equal(t, uint64(n-bound+1), s.MirrorStats().Busy)
	drain(t, s) // a second Shutdown returns at once
}

func TestMirrorTimeoutAndFailures(t *testing.T) {
	mobs := &observations{}
	var cancelled atomic.Bool
	backends := map[string]http.Handler{
		"stable": named("stable"),
		"slow": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // held until MirrorTimeout
			cancelled.Store(true)
			w.WriteHeader(http.StatusGatewayTimeout)
		}),
		"panics": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("mirror boom") }),
	}
	s := newSplitter(t, backends, Options{Route: Route{Weights: []Weight{{"stable", 100}}, Mirror: &Mirror{Backend: "slow", Percent: 100}},
		MirrorTimeout: 10 * time.Millisecond, MirrorObserver: mobs})
	get(s)
	require.NoError(t, s.Apply(context.Background(), Route{Weights: []Weight{{"stable", 100}}, Mirror: &Mirror{Backend: "panics", Percent: 100}}))
	get(s)
	drain(t, s)
	assert.True(t, cancelled.Load())
	assert.Equal(t, MirrorStats{Sent: 2, Failed: 2}, s.MirrorStats())
	assert.ElementsMatch(t, []string{"slow/504", "panics/502"}, outcomeNames(mobs.all()))
}

func outcomeNames(os []outcome) []string {
	var s []string
	for _, o := range os {
		s = append(s, o.backend+"/"+strconv.Itoa(o.status))
	}
	return s
}
