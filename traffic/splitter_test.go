package traffic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// named answers 200 with its name as the body and in X-Backend.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		io.WriteString(w, name)
	})
}

func twoBackends() map[string]http.Handler {
	return map[string]http.Handler{"stable": named("stable"), "canary": named("canary")}
}

func newSplitter(t testing.TB, backends map[string]http.Handler, opts Options) *Splitter {
	t.Helper()
	s, err := NewSplitter(backends, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, s.Shutdown(ctx))
	})
	return s
}

// serve sends one request through h and returns the recorded response.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// probe is a minimal ResponseWriter for tests that send many requests
// and only need to know which backend answered.
type probe struct{ header http.Header }

func (p *probe) Header() http.Header         { return p.header }
func (p *probe) Write(b []byte) (int, error) { return len(b), nil }
func (p *probe) WriteHeader(int)             {}

// backendOf returns the backend that h sent r to (named handlers set
// X-Backend), or "" when none did.
func backendOf(h http.Handler, r *http.Request) string {
	p := &probe{header: make(http.Header, 1)}
	h.ServeHTTP(p, r)
	return p.header.Get("X-Backend")
}

// keyed returns n requests with X-User set to distinct keys.
func keyed(n int) []*http.Request {
	rs := make([]*http.Request, n)
	for i := range rs {
		rs[i] = httptest.NewRequest(http.MethodGet, "/", nil)
		rs[i].Header.Set("X-User", "user-"+strconv.Itoa(i))
	}
	return rs
}

func get(h http.Handler, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return serve(h, r)
}

// outcome is one Observe call.
type outcome struct {
	backend string
	status  int
	elapsed time.Duration
	bytes   int64
}

// observations is an Observer that keeps every outcome.
type observations struct {
	mu  sync.Mutex
	got []outcome
}

func (o *observations) Observe(backend string, status int, elapsed time.Duration, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, outcome{backend, status, elapsed, bytes})
}

func (o *observations) all() []outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]outcome(nil), o.got...)
}

func TestNewSplitterRejectsBadInput(t *testing.T) {
	tests := []struct {
		name     string
		backends map[string]http.Handler
		opts     Options
		want     []string
	}{
		{"no backends", nil, Options{}, []string{"backends: none given"}},
		{"empty name", map[string]http.Handler{"": named("x")}, Options{}, []string{`backends[""]: name is empty`}},
		{"nil handler", map[string]http.Handler{"a": nil}, Options{}, []string{`backends["a"]: handler is nil`}},
		{"bad cookie", twoBackends(), Options{StickyCookie: &http.Cookie{Name: "a b"}}, []string{"options.StickyCookie"}},
		{"negative concurrency", twoBackends(), Options{MirrorConcurrency: -1}, []string{"options.MirrorConcurrency: -1 is negative"}},
		{"negative timeout", twoBackends(), Options{MirrorTimeout: -time.Second}, []string{"options.MirrorTimeout: -1s is negative"}},
		{"invalid route", twoBackends(), Options{Route: Split("stable", "nope", 10)}, []string{"options.Route", `unknown backend "nope"`}},
		{"all at once", map[string]http.Handler{"a": nil}, Options{MirrorConcurrency: -2, Route: Split("a", "b", 200)},
			[]string{`backends["a"]`, "MirrorConcurrency: -2", `weights[0].backend: unknown backend "b"`, "weights[0].percent: 200 is over 100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSplitter(tt.backends, tt.opts)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestSplitterBeforeFirstApply(t *testing.T) {
	obs := &observations{}
	s := newSplitter(t, twoBackends(), Options{Observer: obs})

	w := get(s)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "Service Unavailable\n", w.Body.String())
	assert.Equal(t, []outcome{{"", 503, obs.all()[0].elapsed, int64(w.Body.Len())}}, obs.all())

	cur, err := s.Current(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Route{}, cur)

	require.NoError(t, s.Apply(context.Background(), Split("stable", "canary", 0)))
	assert.Equal(t, "stable", get(s).Body.String())
}

func TestSplitterInitialRoute(t *testing.T) {
	s := newSplitter(t, twoBackends(), Options{Route: Split("stable", "canary", 100)})
	assert.Equal(t, "canary", get(s).Body.String())
	cur, err := s.Current(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Split("stable", "canary", 100), cur)
}

func TestCurrentIsACopy(t *testing.T) {
	s := newSplitter(t, twoBackends(), Options{})
	r := Route{
		Weights: []Weight{{"stable", 90}, {"canary", 10}},
		Rules:   []Rule{{Header: "X-Canary", Value: "always", Backend: "canary"}},
		Mirror:  &Mirror{Backend: "canary", Percent: 5},
	}
	require.NoError(t, s.Apply(context.Background(), r))
	r.Weights[0].Percent, r.Rules[0].Value, r.Mirror.Percent = 1, "x", 99 // the caller's copy

	cur, err := s.Current(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 90.0, cur.Weights[0].Percent)
	cur.Weights[0].Percent, cur.Rules[0].Value, cur.Mirror.Percent = 2, "y", 98 // the returned copy

	again, err := s.Current(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 90.0, again.Weights[0].Percent)
	assert.Equal(t, "always", again.Rules[0].Value)
	assert.Equal(t, 5.0, again.Mirror.Percent)
	assert.Equal(t, "canary", get(s, "X-Canary", "always").Body.String())
}

func TestApplyRejectsInvalidRoutes(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		want  []string
	}{
		{"unknown backend", Split("stable", "ghost", 10), []string{`weights[0].backend: unknown backend "ghost"`}},
		{"negative weight", Route{Weights: []Weight{{"canary", -5}, {"stable", 105}}},
			[]string{"weights[0].percent: -5 is negative", "weights[1].percent: 105 is over 100"}},
		{"all zero no rule", Split("stable", "canary", 100).withWeights(0, 0), []string{"weights: all zero (or none) and no rule"}},
		{"empty", Route{}, []string{"weights: all zero (or none) and no rule"}},
		{"sum not 100", Route{Weights: []Weight{{"canary", 10}, {"stable", 80}}}, []string{"add up to 90, want 100"}},
		{"bad regexp", Route{Weights: []Weight{{"stable", 100}}, Rules: []Rule{{Header: "X-Beta", Match: Regexp, Value: "(", Backend: "canary"}}},
			[]string{`rules[0].value: bad regexp "("`}},
		{"rule unknown backend", Route{Weights: []Weight{{"stable", 100}}, Rules: []Rule{{Cookie: "beta", Value: "1", Backend: "ghost"}}},
			[]string{`rules[0].backend: unknown backend "ghost"`}},
		{"rule header and cookie", Route{Weights: []Weight{{"stable", 100}}, Rules: []Rule{{Header: "A", Cookie: "b", Backend: "canary"}}},
			[]string{`rules[0]: both header "A" and cookie "b" are set`}},
		{"rule bad header name", Route{Weights: []Weight{{"stable", 100}}, Rules: []Rule{{Header: "X Beta", Backend: "canary"}}},
			[]string{`rules[0].header: "X Beta" is not a valid header name`}},
		{"rule bad cookie name", Route{Weights: []Weight{{"stable", 100}}, Rules: []Rule{{Cookie: "a;b", Backend: "canary"}}},
			[]string{`rules[0].cookie: "a;b" is not a valid cookie name`}},
		{"rule bad kind", Route{Weights: []Weight{{"stable", 100}}, Rules: []Rule{{Header: "A", Match: 7, Backend: "canary"}}},
			[]string{"rules[0].match: unknown match kind 7"}},
		{"mirror over 100", Route{Weights: []Weight{{"stable", 100}}, Mirror: &Mirror{Backend: "canary", Percent: 101}},
			[]string{"mirror.percent: 101 is outside [0,100]"}},
		{"mirror negative", Route{Weights: []Weight{{"stable", 100}}, Mirror: &Mirror{Backend: "canary", Percent: -1}},
			[]string{"mirror.percent: -1 is outside [0,100]"}},
		{"mirror unknown", Route{Weights: []Weight{{"stable", 100}}, Mirror: &Mirror{Backend: "ghost", Percent: 1}},
			[]string{`mirror.backend: unknown backend "ghost"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSplitter(t, twoBackends(), Options{Route: Split("stable", "canary", 0)})
			err := s.Apply(context.Background(), tt.route)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidRoute)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			cur, cerr := s.Current(context.Background())
			require.NoError(t, cerr)
			assert.Equal(t, Split("stable", "canary", 0), cur, "the route in force must not change")
			assert.Equal(t, "stable", get(s).Body.String())
		})
	}
}

func (r Route) withWeights(p ...float64) Route {
	r = r.Clone()
	for i := range p {
		r.Weights[i].Percent = p[i]
	}
	return r
}

func TestApplyHonoursContext(t *testing.T) {
	s := newSplitter(t, twoBackends(), Options{Route: Split("stable", "canary", 0)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Apply(ctx, Split("stable", "canary", 100)), context.Canceled)
	_, err := s.Current(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "stable", get(s).Body.String())
}

func TestSplitterImplementsRouter(t *testing.T) {
	var r Router = newSplitter(t, twoBackends(), Options{})
	require.NoError(t, r.Apply(context.Background(), Split("stable", "canary", 25)))
	cur, err := r.Current(context.Background())
	require.NoError(t, err)
	assert.InDelta(t, 25, cur.Percent("canary"), 1e-9)
}

func TestRulesBeatWeights(t *testing.T) {
	route := Route{
		Weights: []Weight{{"canary", 0}, {"stable", 100}},
		Rules: []Rule{
			{Header: "x-canary", Value: "always", Backend: "canary"},
			{Header: "X-Tester", Match: Prefix, Value: "qa-", Backend: "canary"},
			{Header: "User-Agent", Match: Regexp, Value: `^Mozilla/.*\bBeta/\d+$`, Backend: "canary"},
			{Cookie: "beta", Value: "yes", Backend: "canary"},
			{Cookie: "group", Match: Prefix, Value: "early", Backend: "canary"},
			{Cookie: "uid", Match: Regexp, Value: `^[0-9]*7$`, Backend: "canary"},
			{Header: "Host", Value: "canary.example", Backend: "canary"},
			{Header: "X-Canary", Value: "never", Backend: "stable"},
		},
	}
	tests := []struct {
		name   string
		header []string
		host   string
		want   string
	}{
		{"no match", nil, "", "stable"},
		{"exact header, any case of name", []string{"X-CANARY", "always"}, "", "canary"},
		{"exact header is exact", []string{"X-Canary", "always!"}, "", "stable"},
		{"second value of header", []string{"X-Canary", "no", "X-Canary", "always"}, "", "canary"},
		{"prefix header", []string{"X-Tester", "qa-alice"}, "", "canary"},
		{"prefix needs prefix", []string{"X-Tester", "alice-qa-"}, "", "stable"},
		{"regexp header", []string{"User-Agent", "Mozilla/5.0 Beta/3"}, "", "canary"},
		{"regexp header no match", []string{"User-Agent", "Mozilla/5.0 Beta/x"}, "", "stable"},
		{"exact cookie", []string{"Cookie", "a=1; beta=yes"}, "", "canary"},
		{"quoted cookie", []string{"Cookie", `beta="yes"`}, "", "canary"},
		{"cookie value exact", []string{"Cookie", "beta=yess"}, "", "stable"},
		{"cookie name exact", []string{"Cookie", "xbeta=yes"}, "", "stable"},
		{"second cookie line", []string{"Cookie", "a=1", "Cookie", "beta=yes"}, "", "canary"},
		{"duplicate cookie", []string{"Cookie", "beta=no; beta=yes"}, "", "canary"},
		{"prefix cookie", []string{"Cookie", "group=early-adopters"}, "", "canary"},
		{"regexp cookie", []string{"Cookie", "uid=12347"}, "", "canary"},
		{"regexp cookie no match", []string{"Cookie", "uid=12348"}, "", "stable"},
		{"host", nil, "canary.example", "canary"},
		{"first rule wins", []string{"X-Canary", "never", "Cookie", "beta=yes"}, "", "canary"},
		{"rule to stable", []string{"X-Canary", "never"}, "", "stable"},
	}
	s := newSplitter(t, twoBackends(), Options{Route: route})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.host != "" {
				r.Host = tt.host
			}
			for i := 0; i < len(tt.header); i += 2 {
				r.Header.Add(tt.header[i], tt.header[i+1])
			}
			assert.Equal(t, tt.want, serve(s, r).Body.String())
		})
	}

	t.Run("beats a 100% weight", func(t *testing.T) {
		require.NoError(t, s.Apply(context.Background(), Route{
			Weights: []Weight{{"stable", 100}},
			Rules:   []Rule{{Header: "X-Canary", Value: "always", Backend: "canary"}},
		}))
		for range 100 {
			require.Equal(t, "canary", get(s, "X-Canary", "always").Body.String())
		}
	})
	t.Run("rules alone: unmatched requests are refused", func(t *testing.T) {
		require.NoError(t, s.Apply(context.Background(), Route{
			Rules: []Rule{{Header: "X-Canary", Value: "always", Backend: "canary"}},
		}))
		assert.Equal(t, "canary", get(s, "X-Canary", "always").Body.String())
		assert.Equal(t, http.StatusServiceUnavailable, get(s).Code)
	})
}

func TestStickyCookie(t *testing.T) {
	s := newSplitter(t, twoBackends(), Options{
		Route:        Split("stable", "canary", 50),
		StickyCookie: &http.Cookie{Name: "ramp", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 3600},
	})
	seen := map[string]int{}
	for range 200 {
		first := get(s)
		cookies := first.Result().Cookies()
		require.Len(t, cookies, 1)
		c := cookies[0]
		assert.Equal(t, "ramp", c.Name)
		assert.Equal(t, "/", c.Path)
		assert.True(t, c.HttpOnly)
		assert.Equal(t, 3600, c.MaxAge)
		assert.NotEmpty(t, c.Value)
		backend := first.Body.String()
		seen[backend]++
		for range 5 {
			again := get(s, "Cookie", c.String())
			require.Equal(t, backend, again.Body.String(), "a browser must stay on its version")
			require.Empty(t, again.Result().Cookies(), "a known browser gets no new cookie")
		}
	}
	assert.Greater(t, seen["canary"], 50, "fresh browsers are spread by weight")
	assert.Greater(t, seen["stable"], 50, "fresh browsers are spread by weight")

	t.Run("StickyKey first", func(t *testing.T) {
		s := newSplitter(t, twoBackends(), Options{
			Route:        Split("stable", "canary", 50),
			StickyKey:    HeaderKey("X-User"),
			StickyCookie: &http.Cookie{Name: "ramp"},
		})
		w := get(s, "X-User", "alice")
		assert.Empty(t, w.Result().Cookies())
		assert.Equal(t, w.Body.String(), get(s, "X-User", "alice", "Cookie", "ramp=other").Body.String())
	})
	t.Run("no cookie while one backend takes all", func(t *testing.T) {
		s := newSplitter(t, twoBackends(), Options{Route: Split("stable", "canary", 0), StickyCookie: &http.Cookie{Name: "ramp"}})
		assert.Empty(t, get(s).Result().Cookies())
	})
}

func TestObserverSeesEveryOutcome(t *testing.T) {
	backends := map[string]http.Handler{
		"ok": named("ok"),
		"silent": http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		}),
		"notfound": http.NotFoundHandler(),
		"hints": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "made")
		}),
		"copy": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(w, strings.NewReader("copied via ReadFrom"))
		}),
	}
	tests := []struct {
		backend string
		status  int
		bytes   int64
	}{
		{"ok", 200, 2},
		{"silent", 200, 0},
		{"notfound", 404, int64(len("404 page not found\n"))},
		{"hints", 201, 4},
		{"copy", 200, int64(len("copied via ReadFrom"))},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			obs := &observations{}
			s := newSplitter(t, backends, Options{Observer: obs, Route: Route{Weights: []Weight{{tt.backend, 100}}}})
			srv := httptest.NewServer(s)
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			require.Eventually(t, func() bool { return len(obs.all()) == 1 }, 5*time.Second, time.Millisecond)
			got := obs.all()[0]
			assert.Equal(t, tt.backend, got.backend)
			assert.Equal(t, tt.status, got.status)
			assert.Equal(t, tt.bytes, got.bytes)
			assert.Equal(t, int64(len(body)), got.bytes)
			assert.Positive(t, got.elapsed)
		})
	}
}

func TestBackendPanic(t *testing.T) {
	var headerSent = make(chan struct{})
	backends := map[string]http.Handler{
		"early": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Secret", "leak")
			panic("boom")
		}),
		"late": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			<-headerSent
			panic(fmt.Errorf("late boom"))
		}),
		"abort": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			panic(http.ErrAbortHandler)
		}),
	}

	t.Run("before the response: 502", func(t *testing.T) {
		obs := &observations{}
		var gotErr error
		s := newSplitter(t, backends, Options{Observer: obs, Route: Route{Weights: []Weight{{"early", 100}}}})
		w := get(s)
		assert.Equal(t, http.StatusBadGateway, w.Code)
		assert.Equal(t, "Bad Gateway\n", w.Body.String())
		assert.Empty(t, w.Header().Get("X-Secret"), "headers set before the panic are dropped")
		require.Len(t, obs.all(), 1)
		assert.Equal(t, "early", obs.all()[0].backend)
		assert.Equal(t, 502, obs.all()[0].status)

		s2 := newSplitter(t, backends, Options{
			Route: Route{Weights: []Weight{{"early", 100}}},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				gotErr = err
				w.WriteHeader(599)
			},
		})
		assert.Equal(t, 599, get(s2).Code)
		assert.ErrorIs(t, gotErr, ErrBackendPanic)
		assert.ErrorContains(t, gotErr, `"early": boom`)
	})

	t.Run("after the response started: aborted", func(t *testing.T) {
		obs := &observations{}
		s := newSplitter(t, backends, Options{Observer: obs, Route: Route{Weights: []Weight{{"late", 100}}}})
		srv := httptest.NewServer(s)
		srv.Config.ErrorLog = discardLog()
		defer srv.Close()
		resp, err := http.Get(srv.URL)
		require.NoError(t, err)
		close(headerSent)
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Error(t, err, "the client must see a broken response, not a short one that looks whole")
		require.Eventually(t, func() bool { return len(obs.all()) == 1 }, 5*time.Second, time.Millisecond)
		assert.Equal(t, outcome{"late", 502, obs.all()[0].elapsed, 7}, obs.all()[0])
	})

	t.Run("logged only with a Logger", func(t *testing.T) {
		var logs bytes.Buffer
		s := newSplitter(t, backends, Options{
			Route:  Route{Weights: []Weight{{"early", 100}}},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		assert.Equal(t, http.StatusBadGateway, get(s).Code)
		assert.Contains(t, logs.String(), "traffic: backend panicked")
		assert.Contains(t, logs.String(), "backend=early panic=boom")
		assert.Contains(t, logs.String(), "splitter_test.go", "the stack is logged")
	})

	t.Run("ErrAbortHandler is passed on", func(t *testing.T) {
		obs := &observations{}
		s := newSplitter(t, backends, Options{Observer: obs, Route: Route{Weights: []Weight{{"abort", 100}}}})
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { get(s) })
		require.Len(t, obs.all(), 1)
		assert.Equal(t, 502, obs.all()[0].status)
	})

	t.Run("Goexit is observed as a failure", func(t *testing.T) {
		obs := &observations{}
		s := newSplitter(t, map[string]http.Handler{"exit": http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			runtime.Goexit()
		})}, Options{Observer: obs, Route: Route{Weights: []Weight{{"exit", 100}}}})
		done := make(chan struct{})
		go func() {
			defer close(done)
			get(s)
		}()
		<-done
		require.Len(t, obs.all(), 1)
		assert.Equal(t, 502, obs.all()[0].status)
	})

	t.Run("a panicking ErrorHandler aborts", func(t *testing.T) {
		s := newSplitter(t, backends, Options{
			Route:        Route{Weights: []Weight{{"early", 100}}},
			ErrorHandler: func(http.ResponseWriter, *http.Request, error) { panic("again") },
		})
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { get(s) })
	})
}

func TestNoBackendErrorHandler(t *testing.T) {
	var got error
	s := newSplitter(t, twoBackends(), Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		http.Error(w, "closed for maintenance", http.StatusServiceUnavailable)
	}})
	w := get(s)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "closed for maintenance\n", w.Body.String())
	assert.ErrorIs(t, got, ErrNoBackend)
}

func TestStreamingThroughSplitter(t *testing.T) {
	release := make(chan struct{})
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		require.NoError(t, http.NewResponseController(w).Flush())
		<-release
		io.WriteString(w, "data: two\n\n")
	})
	s := newSplitter(t, map[string]http.Handler{"b": backend}, Options{Route: Route{Weights: []Weight{{"b", 100}}}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, len("data: one\n\n"))
	_, err = io.ReadFull(resp.Body, buf) // arrives before the handler returns: Flush went through
	require.NoError(t, err)
	assert.Equal(t, "data: one\n\n", string(buf))
	close(release)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "data: two\n\n", string(rest))
}

func TestRecorderWithoutOptionalInterfaces(t *testing.T) {
	// A ResponseWriter that can neither flush nor hijack nor ReadFrom.
	w := &plainWriter{header: http.Header{}}
	rec := getRecorder(w)
	defer rec.release()
	assert.ErrorIs(t, rec.FlushError(), http.ErrNotSupported)
	_, _, err := rec.Hijack()
	assert.ErrorIs(t, err, http.ErrNotSupported)
	n, err := rec.ReadFrom(strings.NewReader("abc"))
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	assert.Equal(t, "abc", w.body.String())
	assert.Equal(t, 200, rec.result())
	assert.Same(t, http.ResponseWriter(w), rec.Unwrap())
}

func TestRecorderRandIsSplitMix64(t *testing.T) {
	// The first outputs of SplitMix64 seeded with 1234567, as published
	// at https://rosettacode.org/wiki/Pseudo-random_numbers/Splitmix64.
	rec := &recorder{seed: 1234567}
	for _, want := range []uint64{
		6457827717110365317, 3203168211198807973, 9817491932198370423,
		4593380528125082431, 16408922859458223821,
	} {
		assert.Equal(t, want, rec.rand())
	}
}

func TestRecordersAreNeverShared(t *testing.T) {
	// Goroutines outnumbering the slots' spread take and release
	// recorders at once; each marks the recorder it holds and checks that
	// nobody else wrote to it meanwhile. Under -race, a recorder handed to
	// two goroutines at once is also a reported race.
	const goroutines, rounds = 64, 2000
	var wg sync.WaitGroup
	shared := make(chan string, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &plainWriter{}
			for i := range rounds {
				rec := getRecorder(w)
				if rec.status != 0 || rec.bytes != 0 || rec.rw != http.ResponseWriter(w) {
					shared <- fmt.Sprintf("goroutine %d got a recorder that was not reset or not its own", g)
					return
				}
				rec.status, rec.bytes = g+1, int64(i)
				runtime.Gosched()
				if rec.status != g+1 || rec.bytes != int64(i) {
					shared <- fmt.Sprintf("goroutine %d: its recorder was written by another", g)
					return
				}
				rec.release()
			}
		}()
	}
	wg.Wait()
	close(shared)
	for msg := range shared {
		t.Error(msg)
	}
}

func TestRecorderLayout(t *testing.T) {
	// A pooled recorder fills one cache line, and what requests touch of
	// two slots is more than a line apart, so that what two cores use at
	// once never shares one.
	assert.Equal(t, uintptr(64), unsafe.Sizeof(recorder{}))
	assert.Equal(t, uintptr(128), unsafe.Sizeof(recorderSlot{}))
	touched := unsafe.Offsetof(recorderSlot{}.rec) + unsafe.Offsetof(recorder{}.slot) + 8
	assert.LessOrEqual(t, touched, unsafe.Sizeof(recorderSlot{})-64, "requests touch the first %d bytes of a slot", touched)
	pooled := recorders.Get().(*recorder)
	defer recorders.Put(pooled)
	assert.Zero(t, uintptr(unsafe.Pointer(pooled))%64, "pooled recorders start on a cache line")
	for i := range recorderSlots {
		require.Same(t, &recorderSlots[i], recorderSlots[i].rec.slot)
	}

	// A power of two, at least 64 and 16 per processor, and the least such.
	for procs := 1; procs <= 300; procs++ {
		n, least := slotCount(procs), max(64, 16*procs)
		assert.Zero(t, n&(n-1), "procs %d: %d is not a power of two", procs, n)
		assert.True(t, n >= least && n/2 < least, "procs %d: %d slots", procs, n)
	}
	n := len(recorderSlots)
	assert.Equal(t, 0, n&(n-1), "slot count %d is a power of two", n)
	assert.Equal(t, n, 1<<(64-slotShift))
}

type plainWriter struct {
	header http.Header
	body   bytes.Buffer
}

func (p *plainWriter) Header() http.Header         { return p.header }
func (p *plainWriter) Write(b []byte) (int, error) { return p.body.Write(b) }
func (p *plainWriter) WriteHeader(int)             {}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":   "192.0.2.1",
		"[2001:db8::1]:80": "2001:db8::1",
		"2001:db8::1":      "2001:db8::1",
		"192.0.2.1":        "192.0.2.1",
		"[broken":          "[broken",
		"":                 "",
	} {
		assert.Equal(t, want, hostOnly(in), in)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	assert.Equal(t, "198.51.100.7", ClientIPKey(r))
}

func TestKeyFunctions(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://shop.example/", nil)
	r.Header.Set("X-User", "alice")
	r.Header.Add("Cookie", `a=1; sid="s-42" ;b=2`)
	assert.Equal(t, "alice", HeaderKey("x-user")(r))
	assert.Equal(t, "", HeaderKey("x-missing")(r))
	assert.Equal(t, "shop.example", HeaderKey("host")(r))
	assert.Equal(t, "s-42", CookieKey("sid")(r))
	assert.Equal(t, "2", CookieKey("b")(r))
	assert.Equal(t, "", CookieKey("c")(r))
	assert.Equal(t, "", cookieValue(r.Header, ""))
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
