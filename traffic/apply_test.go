package traffic

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadRoutes cycles through shares that alternately starve each backend,
// so that a request routed by a stale table very likely reaches a backend
// whose weight is zero in the route it should have seen.
var loadRoutes = []Route{
	Split("stable", "canary", 0),
	Split("stable", "canary", 10),
	Split("stable", "canary", 100),
	Split("stable", "canary", 50),
}

type genKey struct{}

// applyUnderLoad serves requests from 8 goroutines through h while apply
// installs loadRoutes in turn every 100µs, n times. Each request carries
// the number of the last Apply that had returned when it started (g0);
// the backend reads the number of the last Apply that had begun (g1). A
// request that started after Apply g0 returned may be routed by route g0
// or by any later one that began before it was dispatched, but by no
// earlier one: reaching a backend whose weight is zero in every route
// g0..g1 is a violation. It returns the requests served and the
// violations.
func applyUnderLoad(t *testing.T, h func(backends map[string]http.Handler) (http.Handler, func(Route) error), n int) (served, violations int64) {
	t.Helper()
	var began, returned atomic.Int64 // indexes into the sequence of Applies
	var bad atomic.Int64
	var sample atomic.Value
	routeAt := func(g int64) Route { return loadRoutes[g%int64(len(loadRoutes))] }
	check := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g0 := r.Context().Value(genKey{}).(int64)
			g1 := began.Load()
			for g := g0; g <= g1; g++ {
				if routeAt(g).Percent(name) > 0 {
					return
				}
			}
			bad.Add(1)
			sample.Store(fmt.Sprintf("request after Apply %d returned reached %q; Applies up to %d began", g0, name, g1))
		})
	}
	handler, apply := h(map[string]http.Handler{"stable": check("stable"), "canary": check("canary")})
	require.NoError(t, apply(routeAt(0)))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := httptest.NewRequest(http.MethodGet, "/", nil)
			w := &probe{header: http.Header{}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx := context.WithValue(context.Background(), genKey{}, returned.Load())
				handler.ServeHTTP(w, base.WithContext(ctx))
				total.Add(1)
				runtime.Gosched() // 8 spinning goroutines on few cores must not starve the applier
			}
		}()
	}

	next := time.Now()
	for g := int64(1); g <= int64(n); g++ {
		next = next.Add(100 * time.Microsecond)
		for time.Now().Before(next) {
			runtime.Gosched()
		}
		began.Store(g)
		require.NoError(t, apply(routeAt(g)))
		returned.Store(g)
	}
	close(stop)
	wg.Wait()
	if s, ok := sample.Load().(string); ok {
		t.Log("example violation:", s)
	}
	return total.Load(), bad.Load()
}

func TestApplyUnderLoad(t *testing.T) {
	served, violations := applyUnderLoad(t, func(b map[string]http.Handler) (http.Handler, func(Route) error) {
		s := newSplitter(t, b, Options{})
		return s, func(r Route) error { return s.Apply(context.Background(), r) }
	}, 2000)
	assert.Zero(t, violations, "requests reached a backend the route in force gave no traffic")
	assert.Greater(t, served, int64(2000), "the load must overlap the Applies")
	t.Logf("%d requests across 2000 Applies", served)
}

// TestApplyUnderLoadDetectsStaleRouting shows that the check above can
// fail: a router whose Apply returns while the previous route is still in
// force is caught.
func TestApplyUnderLoadDetectsStaleRouting(t *testing.T) {
	_, violations := applyUnderLoad(t, func(b map[string]http.Handler) (http.Handler, func(Route) error) {
		s := newSplitter(t, b, Options{})
		var prev *Route
		return s, func(r Route) error {
			// Installs the route of the previous call: always one behind.
			if prev == nil {
				prev = &r
				return s.Apply(context.Background(), r)
			}
			old := *prev
			*prev = r
			return s.Apply(context.Background(), old)
		}
	}, 2000)
	assert.Positive(t, violations, "a router one Apply behind must be caught")
}
