package traffic

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startObservations is a StartObserver that checks Start and Finish pair up.
type startObservations struct {
	observations
	mu      sync.Mutex
	started map[int64]string
	next    int64
}

func (o *startObservations) Start(backend string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	if o.started == nil {
		o.started = map[int64]string{}
	}
	o.started[o.next] = backend
	return o.next
}

func (o *startObservations) Finish(backend string, token int64, status int, elapsed time.Duration, bytes int64) {
	o.mu.Lock()
	b, ok := o.started[token]
	delete(o.started, token)
	o.mu.Unlock()
	if !ok || b != backend {
		panic("Finish without its Start")
	}
	o.Observe(backend, status, elapsed, bytes)
}

// A client that goes away is observed as 499, not as the 502 that
// httputil.ReverseProxy answers a cancelled request with (issue 12, §2).
func TestSplitterClientGoneIs499(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer upstream.Close()
	u, err := url.Parse(upstream.URL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	obs := &startObservations{}
	s := newSplitter(t, map[string]http.Handler{"v1": proxy}, Options{Observer: obs,
		Route: Route{Weights: []Weight{{Backend: "v1", Percent: 100}}}})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "/slow", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	assert.Equal(t, http.StatusBadGateway, w.Code, "the proxy answered 502")

	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))

	got := obs.all()
	require.Len(t, got, 2)
	assert.Equal(t, StatusClientClosedRequest, got[0].status, "the client went away: 499")
	assert.GreaterOrEqual(t, got[0].elapsed, 30*time.Millisecond, "how long the client waited")
	assert.Equal(t, http.StatusOK, got[1].status)
	assert.Empty(t, obs.started, "every Start has its Finish")
}

// A response that was complete before the client left keeps its status.
func TestSplitterCompletedResponseKeepsStatus(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	obs := &observations{}
	s := newSplitter(t, map[string]http.Handler{"v1": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		cancel()
	})}, Options{Observer: obs, Route: Route{Weights: []Weight{{Backend: "v1", Percent: 100}}}})
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	assert.Equal(t, http.StatusCreated, obs.all()[0].status)
}
