// Package peers benchmarks traffic.Splitter's routing decision against the
// weighted routers of peer projects at the same job: two backends at
// 90/10, decide and dispatch to a no-op handler, on all cores.
//
// It is a module of its own so that the library's go.mod never lists the
// peers. Run it with
//
//	cd bench/peers && go test -run Peers -bench . -benchtime=1s
package peers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/go-kratos/kratos/v2/registry"
	"github.com/go-kratos/kratos/v2/selector"
	kratoswrr "github.com/go-kratos/kratos/v2/selector/wrr"
	"github.com/rs/zerolog"
	traefikwrr "github.com/traefik/traefik/v3/pkg/server/service/loadbalancer/wrr"

	"github.com/ramp-go/ramp/traffic"
)

func init() {
	// Traefik's WRR logs every pick at debug level through zerolog's
	// global logger; Traefik itself runs at ERROR by default.
	zerolog.SetGlobalLevel(zerolog.ErrorLevel)
}

// counter is a no-op backend that counts its requests (one goroutine at a
// time in the proportion test; unused in benchmarks).
type counter struct{ n int }

func (c *counter) ServeHTTP(http.ResponseWriter, *http.Request) { c.n++ }

type nop struct{}

func (nop) ServeHTTP(http.ResponseWriter, *http.Request) {}

// router is one contender: an http.Handler that picks stable or canary
// at 90/10 and dispatches to it.
type router struct {
	name string
	make func(tb testing.TB, stable, canary http.Handler) http.Handler
}

var routers = []router{
	{"ramp", func(tb testing.TB, stable, canary http.Handler) http.Handler {
		s, err := traffic.NewSplitter(map[string]http.Handler{"stable": stable, "canary": canary},
			traffic.Options{Route: traffic.Split("stable", "canary", 10)})
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}},
	{"ramp-sticky-header", func(tb testing.TB, stable, canary http.Handler) http.Handler {
		s, err := traffic.NewSplitter(map[string]http.Handler{"stable": stable, "canary": canary},
			traffic.Options{Route: traffic.Split("stable", "canary", 10), StickyKey: traffic.HeaderKey("X-User")})
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}},
	{"traefik-wrr", func(tb testing.TB, stable, canary http.Handler) http.Handler {
		b := traefikwrr.New(nil, false)
		w90, w10 := 90, 10
		b.Add("stable", stable, &w90, false)
		b.Add("canary", canary, &w10, false)
		return b
	}},
	{"caddy-weighted-round-robin", func(tb testing.TB, stable, canary http.Handler) http.Handler {
		p := &reverseproxy.WeightedRoundRobinSelection{Weights: []int{90, 10}}
		if err := p.Provision(caddy.Context{}); err != nil {
			tb.Fatal(err)
		}
		pool := reverseproxy.UpstreamPool{{Dial: "stable:80"}, {Dial: "canary:80"}}
		// Dispatch by pointer comparison: the cheapest possible, so the
		// figure is Caddy's selection and nothing of ours.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch p.Select(pool, r, w) {
			case pool[0]:
				stable.ServeHTTP(w, r)
			case pool[1]:
				canary.ServeHTTP(w, r)
			default:
				http.Error(w, "no upstream", http.StatusServiceUnavailable)
			}
		})
	}},
	{"kratos-wrr", func(tb testing.TB, stable, canary http.Handler) http.Handler {
		sel := kratoswrr.New()
		sel.Apply([]selector.Node{
			selector.NewNode("http", "stable", &registry.ServiceInstance{Metadata: map[string]string{"weight": "90"}}),
			selector.NewNode("http", "canary", &registry.ServiceInstance{Metadata: map[string]string{"weight": "10"}}),
		})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, done, err := sel.Select(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			if n.Address() == "stable" {
				stable.ServeHTTP(w, r)
			} else {
				canary.ServeHTTP(w, r)
			}
			done(r.Context(), selector.DoneInfo{})
		})
	}},
}

// TestPeersSplit90_10 checks that every contender really does the job
// being benchmarked: 10% of requests to the canary.
func TestPeersSplit90_10(t *testing.T) {
	for _, rt := range routers {
		t.Run(rt.name, func(t *testing.T) {
			stable, canary := &counter{}, &counter{}
			h := rt.make(t, stable, canary)
			const n = 100_000
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			key := []string{""}
			r.Header["X-User"] = key
			for i := range n {
				key[0] = "user-" + itoa(i)
				h.ServeHTTP(w, r)
			}
			if stable.n+canary.n != n {
				t.Fatalf("%d requests dispatched, want %d", stable.n+canary.n, n)
			}
			if got := float64(canary.n) / n; got < 0.095 || got > 0.105 {
				t.Fatalf("canary share %.4f, want 0.10 ± 0.005", got)
			}
		})
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		if i /= 10; i == 0 {
			return string(b[n:])
		}
	}
}

// BenchmarkPeers runs every contender at the same job in one run.
func BenchmarkPeers(b *testing.B) {
	for _, rt := range routers {
		b.Run(rt.name, func(b *testing.B) {
			h := rt.make(b, nop{}, nop{})
			b.ReportAllocs()
			c0, ok := processCPU()
			defer func() {
				// CPU time per op summed over the cores: steadier than
				// ns/op when other work shares the machine.
				if c1, _ := processCPU(); ok {
					b.ReportMetric(float64(c1-c0)/float64(b.N), "cpu-ns/op")
				}
			}()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("X-User", "6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b")
				r = r.WithContext(context.Background())
				w := httptest.NewRecorder()
				for pb.Next() {
					h.ServeHTTP(w, r)
				}
			})
		})
	}
}
