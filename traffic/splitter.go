package traffic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMirrorBodyLimit   = 64 << 10
	DefaultMirrorConcurrency = 64
	DefaultMirrorTimeout     = 10 * time.Second
)

// ErrNoBackend is given to Options.ErrorHandler when no backend can take a
// request: the route in force matches no rule and gives no backend a
// share (or no route has been applied yet). The default answer is 503.
var ErrNoBackend = errors.New("traffic: no backend for the request")

// ErrBackendPanic is wrapped by the error given to Options.ErrorHandler
// when a backend panicked before its response started. The default answer
// is 502.
var ErrBackendPanic = errors.New("traffic: backend panicked")

// Options configures a Splitter. Every field is optional: the zero Options
// is a splitter that answers 503 until its first Apply, draws every
// request at random by weight, observes nothing and mirrors with the
// default limits.
type Options struct {
	// Route is the route in force from the start. The zero Route means
	// none: requests are answered 503 until the first Apply. A non-zero
	// Route must be valid.
	Route Route

	// StickyKey returns the key that pins a client to a backend, or ""
	// when the request has none. Keys are hashed to points that are handed
	// to backends in the order of Route.Weights, so a key stays on its
	// backend while that backend's share grows. Nil means no key: every
	// request is drawn at random by weight. HeaderKey, CookieKey and
	// ClientIPKey build the common ones. It is called on every request
	// that no rule pins, so it should not allocate.
	StickyKey func(r *http.Request) string

	// StickyCookie, when not nil, keeps browsers on their backend: a
	// request that has no key from StickyKey is keyed by the value of this
	// cookie; a request without the cookie gets a fresh random key, is
	// routed by it, and its response sets the cookie to that key. Name is
	// required; Value is ignored; Path defaults to "/"; the other fields
	// (MaxAge, Secure, HttpOnly, SameSite, Domain, ...) are sent as given.
	// No cookie is set while one backend takes all the traffic.
	StickyCookie *http.Cookie

	// Observer, when not nil, is told the outcome of every request:
	// backend name ("" when no backend could take it), status, duration
	// from dispatch to the handler's return, and response body bytes. A
	// request whose client went away before its response (its context
	// done, the response not started or a 5xx) is observed with
	// StatusClientClosedRequest (499). When Observer is a StartObserver
	// it is also told when each request is dispatched.
	Observer Observer

	// ErrorHandler answers requests that no backend served: err is
	// ErrNoBackend, or wraps ErrBackendPanic (the backend's headers have
	// been cleared). Nil answers 503 or 502 with a short text body. The
	// Observer sees the status it writes.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// MirrorBodyLimit is the largest request body copied to a mirror;
	// requests with larger bodies are not mirrored. The body is read into
	// memory before the request is dispatched. Zero means
	// DefaultMirrorBodyLimit (64 KiB); negative means that only requests
	// without a body are mirrored.
	MirrorBodyLimit int64
	// MirrorConcurrency bounds the mirrored requests in flight; when it is
	// reached further copies are dropped (counted in MirrorStats.Busy),
	// never queued. Zero means DefaultMirrorConcurrency (64).
	MirrorConcurrency int
	// MirrorTimeout bounds one mirrored request: its context is cancelled
	// after it. Zero means DefaultMirrorTimeout (10s).
	MirrorTimeout time.Duration
	// MirrorObserver, when not nil, is told the outcome of every mirrored
	// request (whose response is otherwise discarded). Mirrored requests
	// are never reported to Observer.
	MirrorObserver Observer

	// Logger, when not nil, receives recovered panics with their stack.
	// Nil logs nothing: the Observer still sees the 502.
	Logger *slog.Logger
}

// Splitter is an http.Handler that sends each request to one of its named
// backends by the route in force, and a Router that the rollout engine
// drives. It is safe for concurrent use. Build one with NewSplitter.
//
// For each request ServeHTTP loads the routing table with one atomic load;
// the first matching rule picks the backend; otherwise the request's
// sticky key (or a random draw when it has none) picks it by weight. A
// share of requests may be copied to a mirror backend. A panic in a
// backend is recovered and answered by Options.ErrorHandler (502 by
// default) when the response has not started; when it has, the response
// is aborted (see http.ErrAbortHandler) and the Observer sees a 502.
//
// The zero Splitter is not usable: its backends are fixed by NewSplitter.
type Splitter struct {
	table    atomic.Pointer[table]
	backends map[string]*backend
	names    []string // sorted backend names, for errors

	stickyKey func(*http.Request) string
	cookie    *http.Cookie
	obs       Observer
	sobs      StartObserver // obs, when it is one
	onError   func(http.ResponseWriter, *http.Request, error)
	logger    *slog.Logger
	none      *backend // answers ErrNoBackend
	mirror    mirrorer
}

// NewSplitter returns a splitter over backends, a map from backend name to
// its handler (often a *httputil.ReverseProxy from NewBackend). The map is
// copied. It reports every problem with backends and opts at once.
func NewSplitter(backends map[string]http.Handler, opts Options) (*Splitter, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(backends) == 0 {
		bad("traffic: backends: none given")
	}
	s := &Splitter{
		backends:  make(map[string]*backend, len(backends)),
		stickyKey: opts.StickyKey,
		obs:       opts.Observer,
		onError:   opts.ErrorHandler,
		logger:    opts.Logger,
	}
	for name, h := range backends {
		switch {
		case name == "":
			bad("traffic: backends[%q]: name is empty", name)
		case h == nil:
			bad("traffic: backends[%q]: handler is nil", name)
		}
		s.backends[name] = &backend{name: name, h: h}
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	s.sobs, _ = opts.Observer.(StartObserver)
	if s.onError == nil {
		s.onError = defaultError
	}
	s.none = &backend{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.onError(w, r, ErrNoBackend)
	})}

	if c := opts.StickyCookie; c != nil {
		cc := *c
		cc.Value = "x"
		if cc.Path == "" {
			cc.Path = "/"
		}
		if err := cc.Valid(); err != nil {
			bad("traffic: options.StickyCookie: %w", err)
		}
		s.cookie = &cc
	}

	m := &s.mirror
	m.limit, m.timeout, m.obs, m.logger = opts.MirrorBodyLimit, opts.MirrorTimeout, opts.MirrorObserver, opts.Logger
	if m.limit == 0 {
		m.limit = DefaultMirrorBodyLimit
	}
	if m.timeout == 0 {
		m.timeout = DefaultMirrorTimeout
	} else if m.timeout < 0 {
		bad("traffic: options.MirrorTimeout: %v is negative", m.timeout)
	}
	n := opts.MirrorConcurrency
	if n == 0 {
		n = DefaultMirrorConcurrency
	} else if n < 0 {
		bad("traffic: options.MirrorConcurrency: %d is negative", n)
		n = 1
	}
	m.sem = make(chan struct{}, n)
	m.base, m.cancel = context.WithCancel(context.Background())

	t := &table{}
	if !isZeroRoute(opts.Route) {
		if err := opts.Route.Validate(s.known); err != nil {
			errs = append(errs, fmt.Errorf("traffic: options.Route: %w", err))
		} else {
			t = compile(opts.Route, s.backends)
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.cancel()
		return nil, err
	}
	s.table.Store(t)
	return s, nil
}

func isZeroRoute(r Route) bool {
	return len(r.Weights) == 0 && len(r.Rules) == 0 && r.Mirror == nil
}

func (s *Splitter) known(name string) bool {
	_, ok := s.backends[name]
	return ok
}

// Apply makes r the route in force. It validates r (every backend it
// names must be one of the splitter's), compiles it, and swaps it in with
// one atomic store: every request that starts after Apply returns is
// routed by r; requests already dispatched finish where they are. An
// invalid route is rejected with an error wrapping ErrInvalidRoute that
// names each problem, and the route in force stays as it was.
func (s *Splitter) Apply(ctx context.Context, r Route) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.Validate(s.known); err != nil {
		return fmt.Errorf("traffic: apply (backends %q): %w", s.names, err)
	}
	s.table.Store(compile(r, s.backends))
	return nil
}

// Current returns a copy of the route in force: the zero Route when none
// has been applied yet.
func (s *Splitter) Current(ctx context.Context) (Route, error) {
	if err := ctx.Err(); err != nil {
		return Route{}, err
	}
	return s.table.Load().route.Clone(), nil
}

// MirrorStats reports what became of the requests chosen for mirroring.
func (s *Splitter) MirrorStats() MirrorStats { return s.mirror.stats() }

// Shutdown stops mirroring and waits until the mirrored requests in
// flight have finished, or until ctx ends: then it cancels them and
// returns ctx.Err(). The splitter goes on serving requests; it just no
// longer mirrors them. Calling Shutdown again waits again.
func (s *Splitter) Shutdown(ctx context.Context) error {
	return s.mirror.shutdown(ctx)
}

// ServeHTTP routes r by the route in force.
func (s *Splitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The recorder comes first: it carries the state of the random draws.
	rec := getRecorder(w)
	t := s.table.Load()
	b := t.match(r)
	if b == nil {
		switch len(t.picks) {
		case 0:
			s.serve(rec, r, s.none)
			return
		case 1:
			b = t.picks[0]
		default:
			b = t.pick(s.point(rec, r))
		}
	}
	if t.mirror != nil && t.mirror != b && t.mirrored(rec.rand()) {
		s.mirror.start(t.mirror, r)
	}
	s.serve(rec, r, b)
}

// point places r in [0, 2^64): by its sticky key when it has one, at
// random otherwise.
func (s *Splitter) point(rec *recorder, r *http.Request) uint64 {
	if s.stickyKey != nil {
		if k := s.stickyKey(r); k != "" {
			return hashKey(k)
		}
	}
	if s.cookie == nil {
		return rec.rand()
	}
	if k := cookieValue(r.Header, s.cookie.Name); k != "" {
		return hashKey(k)
	}
	// A new session key comes from the runtime's generator, which cannot
	// be predicted from the keys handed to other clients.
	c := *s.cookie
	c.Value = strconv.FormatUint(rand.Uint64(), 36)
	rec.Header().Add("Set-Cookie", c.String())
	return hashKey(c.Value)
}

// serve dispatches r to b through rec, observing the outcome and
// recovering a panic. It releases rec.
func (s *Splitter) serve(rec *recorder, r *http.Request, b *backend) {
	var start time.Duration
	var token int64
	if s.obs != nil {
		start = monotonic()
		if s.sobs != nil {
			token = s.sobs.Start(b.name)
		}
	}
	// The deferred function only calls recover when the handler did not
	// return, so the common path does not pay for recover.
	returned := false
	defer func() {
		if !returned {
			s.recovered(rec, r, b, start, token, recover())
		}
	}()
	b.h.ServeHTTP(rec, r)
	returned = true
	if s.obs != nil {
		s.observe(b, token, clientGone(r, rec.started(), rec.result()), monotonic()-start, rec.bytes)
	}
	rec.release()
}

// observe reports one outcome to the observer.
func (s *Splitter) observe(b *backend, token int64, status int, elapsed time.Duration, bytes int64) {
	if s.sobs != nil {
		s.sobs.Finish(b.name, token, status, elapsed, bytes)
		return
	}
	s.obs.Observe(b.name, status, elapsed, bytes)
}

// clientGone returns StatusClientClosedRequest when r's client went away
// before a response it could use: its context is done and the response
// had not started or is a 5xx (httputil.ReverseProxy's 502 for a
// cancelled request); else status.
func clientGone(r *http.Request, started bool, status int) int {
	if (!started || status >= 500) && r.Context().Err() != nil {
		return StatusClientClosedRequest
	}
	return status
}

// epoch anchors monotonic: time.Since of a time.Time that carries a
// monotonic reading costs one clock read, where time.Now costs two.
var epoch = time.Now()

// monotonic returns the time since epoch on the monotonic clock.
func monotonic() time.Duration { return time.Since(epoch) }

// recovered answers a request whose backend panicked with p. Before the
// response has started the client gets ErrorHandler's answer (502 by
// default). After, nothing sound can be sent: like net/http, the response
// is aborted by panicking with http.ErrAbortHandler, so the client sees a
// broken response rather than a truncated one that looks whole. A backend
// that panics with http.ErrAbortHandler itself (as httputil.ReverseProxy
// does when the upstream fails mid-body) is aborted the same way and not
// logged. The Observer sees 502 in every case.
func (s *Splitter) recovered(rec *recorder, r *http.Request, b *backend, start time.Duration, token int64, p any) {
	if p == nil {
		// runtime.Goexit in the handler: the connection is dropped.
		if s.obs != nil {
			s.observe(b, token, clientGone(r, false, http.StatusBadGateway), monotonic()-start, rec.bytes)
		}
		rec.release()
		return
	}
	if s.logger != nil && p != http.ErrAbortHandler {
		s.logger.Error("traffic: backend panicked", "backend", b.name, "panic", p, "stack", string(debug.Stack()))
	}
	abort := p == http.ErrAbortHandler || rec.started()
	status, bytes := http.StatusBadGateway, rec.bytes
	if !abort {
		clear(rec.Header()) // drop what the backend set before panicking
		func() {
			defer func() {
				if recover() != nil {
					abort = true
				}
			}()
			s.onError(rec, r, fmt.Errorf("%w: %q: %v", ErrBackendPanic, b.name, p))
		}()
		if !abort {
			status, bytes = rec.result(), rec.bytes
		}
	}
	if s.obs != nil {
		s.observe(b, token, clientGone(r, !abort && rec.started(), status), monotonic()-start, bytes)
	}
	rec.release()
	if abort {
		panic(http.ErrAbortHandler)
	}
}

func defaultError(w http.ResponseWriter, _ *http.Request, err error) {
	status := http.StatusBadGateway
	if errors.Is(err, ErrNoBackend) {
		status = http.StatusServiceUnavailable
	}
	http.Error(w, http.StatusText(status), status)
}
