package traffic_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/ramp-go/ramp/traffic"
)

// version starts a loopback server that answers with its name.
func version(name string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, name)
	}))
}

// proxyTo returns a backend that proxies to srv.
func proxyTo(srv *httptest.Server) http.Handler {
	u, err := url.Parse(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	p, err := traffic.NewBackend(u, traffic.BackendOptions{})
	if err != nil {
		log.Fatal(err)
	}
	return p
}

// fetch sends a GET to url with optional header name/value pairs and
// returns the body.
func fetch(url string, header ...string) string {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// A Splitter in front of two versions of a service: testers reach the
// canary with a header before any user does, then the rollout moves all
// traffic over.
func ExampleSplitter() {
	v1, v2 := version("v1"), version("v2")
	defer v1.Close()
	defer v2.Close()

	s, err := traffic.NewSplitter(map[string]http.Handler{
		"stable": proxyTo(v1),
		"canary": proxyTo(v2),
	}, traffic.Options{})
	if err != nil {
		log.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()

	fmt.Println("before any route:", fetch(front.URL))

	route := traffic.Split("stable", "canary", 0)
	route.Rules = []traffic.Rule{{Header: "X-Canary", Value: "always", Backend: "canary"}}
	if err := s.Apply(context.Background(), route); err != nil {
		log.Fatal(err)
	}
	fmt.Println("user:", fetch(front.URL))
	fmt.Println("tester:", fetch(front.URL, "X-Canary", "always"))

	if err := s.Apply(context.Background(), traffic.Split("stable", "canary", 100)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("user after promotion:", fetch(front.URL))
	// Output:
	// before any route: 503 Service Unavailable
	//
	// user: 200 v1
	// tester: 200 v2
	// user after promotion: 200 v2
}

// Apply rejects a bad route with every problem named, and the route in
// force stays.
func ExampleSplitter_Apply() {
	s, err := traffic.NewSplitter(map[string]http.Handler{
		"stable": http.NotFoundHandler(),
		"canary": http.NotFoundHandler(),
	}, traffic.Options{Route: traffic.Split("stable", "canary", 10)})
	if err != nil {
		log.Fatal(err)
	}
	err = s.Apply(context.Background(), traffic.Route{
		Weights: []traffic.Weight{{Backend: "canary", Percent: 20}, {Backend: "stabel", Percent: 70}},
		Rules:   []traffic.Rule{{Header: "X-Beta", Match: traffic.Regexp, Value: "[", Backend: "canary"}},
	})
	fmt.Println(err)
	cur, _ := s.Current(context.Background())
	fmt.Println("canary share in force:", cur.Percent("canary"))
	// Output:
	// traffic: apply (backends ["canary" "stable"]): invalid route: weights[1].backend: unknown backend "stabel"
	// invalid route: weights: percents add up to 90, want 100
	// invalid route: rules[0].value: bad regexp "[": error parsing regexp: missing closing ]: `[`
	// canary share in force: 10
}

// Sticky routing by a header: a user stays on the version they got while
// the canary's share rises.
func ExampleHeaderKey() {
	s, err := traffic.NewSplitter(map[string]http.Handler{
		"stable": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "v1") }),
		"canary": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "v2") }),
	}, traffic.Options{StickyKey: traffic.HeaderKey("X-User-ID")})
	if err != nil {
		log.Fatal(err)
	}
	users := []string{"ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal"}
	for _, pct := range []float64{10, 50, 90} {
		if err := s.Apply(context.Background(), traffic.Split("stable", "canary", pct)); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%2.0f%%:", pct)
		for _, u := range users {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("X-User-ID", u)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			fmt.Printf(" %s=%s", u, w.Body)
		}
		fmt.Println()
	}
	// Output:
	// 10%: ann=v1 bob=v1 cy=v1 dee=v1 eve=v1 fay=v1 gus=v1 hal=v1
	// 50%: ann=v2 bob=v1 cy=v2 dee=v2 eve=v2 fay=v1 gus=v2 hal=v1
	// 90%: ann=v2 bob=v2 cy=v2 dee=v2 eve=v2 fay=v2 gus=v2 hal=v2
}

// Outcomes reach an Observer, which is how analysis.Recorder is fed.
func ExampleObserver() {
	s, err := traffic.NewSplitter(map[string]http.Handler{
		"stable": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "fine") }),
		"canary": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("bug in v2") }),
	}, traffic.Options{
		Route: traffic.Route{
			Weights: []traffic.Weight{{Backend: "stable", Percent: 100}},
			Rules:   []traffic.Rule{{Cookie: "beta", Value: "1", Backend: "canary"}},
		},
		Observer: printer{},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, cookie := range []string{"", "beta=1"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		s.ServeHTTP(httptest.NewRecorder(), r)
	}
	// Output:
	// stable 200 4 bytes
	// canary 502 12 bytes
}

type printer struct{}

func (printer) Observe(backend string, status int, _ time.Duration, bytes int64) {
	fmt.Println(backend, status, bytes, "bytes")
}
