package traffic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Defaults of BackendOptions.
const (
	DefaultMaxIdleConnsPerHost = 256
	DefaultDialTimeout         = 5 * time.Second
	DefaultIdleConnTimeout     = 90 * time.Second
)

// BackendOptions tunes the reverse proxy NewBackend builds. The zero value
// is a sensible production setting.
type BackendOptions struct {
	// Transport carries the proxied requests. Nil means a transport of
	// its own built from the fields below: keep-alive connections pooled
	// per host, no proxy from the environment, HTTP/2 attempted over TLS.
	// When Transport is set the fields below are ignored.
	Transport http.RoundTripper
	// MaxIdleConnsPerHost is how many idle keep-alive connections to the
	// target are kept. Zero means DefaultMaxIdleConnsPerHost (256); the
	// net/http default of 2 makes a busy proxy open and close connections
	// all the time.
	MaxIdleConnsPerHost int
	// DialTimeout bounds connecting to the target. Zero means
	// DefaultDialTimeout (5s).
	DialTimeout time.Duration
	// IdleConnTimeout closes keep-alive connections idle for this long.
	// Zero means DefaultIdleConnTimeout (90s).
	IdleConnTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the target's response
	// header after the request is sent. Zero means no bound, which long
	// polling and slow reports need.
	ResponseHeaderTimeout time.Duration

	// FlushInterval is httputil.ReverseProxy.FlushInterval: zero flushes
	// streamed responses (unknown length, event streams) at once and
	// buffers others, a negative value flushes after every write.
	FlushInterval time.Duration
	// Rewrite, when not nil, is called after the request has been pointed
	// at the target and its X-Forwarded-* headers set; it may change the
	// outbound request further (for example keep the inbound Host with
	// pr.Out.Host = pr.In.Host).
	Rewrite func(pr *httputil.ProxyRequest)
	// Logger, when not nil, receives proxy errors (other than clients
	// going away) at warning level and the proxy's own messages. Nil logs
	// nothing.
	Logger *slog.Logger
}

// NewBackend returns a reverse proxy to target for use as a Splitter
// backend. Requests are sent to target's scheme and host with target's
// path prefixed (httputil.ProxyRequest.SetURL) and with X-Forwarded-For,
// -Host and -Proto set from the inbound request (inbound values are
// dropped, as ProxyRequest.SetXForwarded does). When the target cannot be
// reached or fails before its response starts, the client gets 502 Bad
// Gateway with a short body. Copy buffers are pooled.
func NewBackend(target *url.URL, opts BackendOptions) (*httputil.ReverseProxy, error) {
	var errs []error
	switch {
	case target == nil:
		errs = append(errs, errors.New("traffic: backend target: nil URL"))
	case target.Scheme != "http" && target.Scheme != "https":
		errs = append(errs, fmt.Errorf("traffic: backend target %q: scheme %q is not http or https", target.Redacted(), target.Scheme))
	case target.Host == "":
		errs = append(errs, fmt.Errorf("traffic: backend target %q: no host", target.Redacted()))
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"DialTimeout", opts.DialTimeout},
		{"IdleConnTimeout", opts.IdleConnTimeout},
		{"ResponseHeaderTimeout", opts.ResponseHeaderTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("traffic: backend options.%s: %v is negative", d.field, d.v))
		}
	}
	if opts.MaxIdleConnsPerHost < 0 {
		errs = append(errs, fmt.Errorf("traffic: backend options.MaxIdleConnsPerHost: %d is negative", opts.MaxIdleConnsPerHost))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	t := *target // the caller may change theirs later
	rt := opts.Transport
	if rt == nil {
		rt = newTransport(opts)
	}
	errLog := log.New(io.Discard, "", 0)
	if opts.Logger != nil {
		errLog = slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)
	}
	logger := opts.Logger
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&t)
			pr.SetXForwarded()
			if opts.Rewrite != nil {
				opts.Rewrite(pr)
			}
		},
		Transport:     rt,
		FlushInterval: opts.FlushInterval,
		BufferPool:    bufferPool{},
		ErrorLog:      errLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if logger != nil && !errors.Is(err, context.Canceled) {
				logger.Warn("traffic: proxy error", "target", t.Redacted(), "method", r.Method, "path", r.URL.Path, "err", err)
			}
			http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		},
	}, nil
}

func newTransport(opts BackendOptions) *http.Transport {
	or := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	idle := opts.MaxIdleConnsPerHost
	if idle == 0 {
		idle = DefaultMaxIdleConnsPerHost
	}
	d := &net.Dialer{Timeout: or(opts.DialTimeout, DefaultDialTimeout), KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no total bound: MaxIdleConnsPerHost bounds each target
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       or(opts.IdleConnTimeout, DefaultIdleConnTimeout),
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
	}
}

// copyBufferSize is the size of ReverseProxy's own copy buffer.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

// bufferPool lends ReverseProxy its copy buffers, which it otherwise
// allocates (32 KiB) for every response.
type bufferPool struct{}

func (bufferPool) Get() []byte { return copyBuffers.Get().(*[copyBufferSize]byte)[:] }

func (bufferPool) Put(b []byte) {
	if len(b) == copyBufferSize {
		copyBuffers.Put((*[copyBufferSize]byte)(b))
	}
}
