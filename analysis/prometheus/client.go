package prometheus

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 32 << 20
)

// Options configure a Client. Only URL is required.
type Options struct {
	// URL is the base URL of the Prometheus HTTP API server, such as
	// "http://prometheus:9090" or "https://host/prometheus" behind a path
	// prefix. The API paths (/api/v1/query, /api/v1/query_range) are
	// appended to it. Only http and https are accepted.
	URL string

	// HTTPClient sends the requests. nil: a client of ramp's own whose
	// transport is Transport, or a clone of http.DefaultTransport with TLS
	// applied. When HTTPClient is set, Transport and TLS must be empty (the
	// client already says how to connect); authentication, Headers and
	// Timeout still apply.
	HTTPClient *http.Client
	// Transport is the round tripper of the client ramp builds. nil: a
	// clone of http.DefaultTransport. When set, TLS must be empty.
	Transport http.RoundTripper
	// TLS configures https connections. The zero value verifies the
	// server against the system's roots.
	TLS TLSOptions

	// BearerToken is sent as "Authorization: Bearer <token>". Empty: none.
	BearerToken string
	// BearerTokenFile names a file holding the token. It is read again
	// for every request, so a rotated token (a Kubernetes service account
	// token, say) is picked up. Empty: none. At most one of BearerToken,
	// BearerTokenFile and BasicAuth may be set.
	BearerTokenFile string
	// BasicAuth, when not nil, is sent as HTTP basic authentication.
	BasicAuth *BasicAuth
	// Headers are added to every request (a tenant header such as
	// X-Scope-OrgID for Cortex, Mimir or Thanos, say). nil: none.
	Headers http.Header

	// Timeout bounds each request, from sending it to reading the last
	// byte of the response, and is passed to Prometheus as the query's
	// evaluation timeout so that the server gives up too. 0 means
	// DefaultTimeout (30 s); it must not be negative. A deadline on the
	// caller's context applies as well: the earlier one wins.
	Timeout time.Duration
	// MaxResponseBytes bounds the size of a response body; a larger one
	// is an error. 0 means DefaultMaxResponseBytes (32 MiB); it must not
	// be negative.
	MaxResponseBytes int64
}

// BasicAuth is a user name and password for HTTP basic authentication.
type BasicAuth struct {
	Username string
	Password string
}

// TLSOptions configure https connections. The zero value verifies the
// server against the system's certificate roots and sends no client
// certificate. Files are read once, by NewClient.
type TLSOptions struct {
	// CAFile is a PEM file of certificate authorities that replace the
	// system's roots. Empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// mutual TLS. Both or neither must be set.
	CertFile string
	KeyFile  string
	// ServerName overrides the name the server's certificate is checked
	// against. Empty: the host of URL.
	ServerName string
	// InsecureSkipVerify accepts any server certificate. Only for tests:
	// it makes the connection open to interception.
	InsecureSkipVerify bool
}

func (t TLSOptions) isZero() bool { return t == TLSOptions{} }

// Client queries the Prometheus HTTP API. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	opts    Options
	timeout time.Duration
	maxBody int64
}

// NewClient checks o and returns a client. It reports every problem at
// once, each naming the field and its value.
func NewClient(o Options) (*Client, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("prometheus options: "+format, args...))
	}

	var base *url.URL
	switch u, err := url.Parse(o.URL); {
	case o.URL == "":
		fail("URL is empty")
	case err != nil:
		fail("URL %q: %v", o.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		fail("URL %q: scheme must be http or https", o.URL)
	case u.Host == "":
		fail("URL %q: no host", o.URL)
	case u.RawQuery != "" || u.Fragment != "":
		fail("URL %q: must not have a query or fragment", o.URL)
	case u.User != nil:
		fail("URL %q: put credentials in BasicAuth, not in the URL", redact(u))
	default:
		base = u
	}

	if o.HTTPClient != nil && o.Transport != nil {
		fail("HTTPClient and Transport are both set; set one")
	}
	if (o.HTTPClient != nil || o.Transport != nil) && !o.TLS.isZero() {
		fail("TLS is set together with HTTPClient or Transport; configure TLS in that client or transport instead")
	}
	auth := 0
	for _, set := range []bool{o.BearerToken != "", o.BearerTokenFile != "", o.BasicAuth != nil} {
		if set {
			auth++
		}
	}
	if auth > 1 {
		fail("set at most one of BearerToken, BearerTokenFile and BasicAuth")
	}
	if o.Timeout < 0 {
		fail("Timeout %v is negative", o.Timeout)
	}
	if o.MaxResponseBytes < 0 {
		fail("MaxResponseBytes %d is negative", o.MaxResponseBytes)
	}

	var tlsConf *tls.Config
	if !o.TLS.isZero() && o.HTTPClient == nil && o.Transport == nil {
		var err error
		if tlsConf, err = o.TLS.config(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	c := &Client{base: base, opts: o, timeout: o.Timeout, maxBody: o.MaxResponseBytes}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	switch {
	case o.HTTPClient != nil:
		c.http = o.HTTPClient
	case o.Transport != nil:
		c.http = &http.Client{Transport: o.Transport, CheckRedirect: keepPOST}
	default:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if tlsConf != nil {
			tr.TLSClientConfig = tlsConf
		}
		c.http = &http.Client{Transport: tr, CheckRedirect: keepPOST}
	}
	return c, nil
}

// keepPOST refuses redirects that would turn the query's POST into a GET
// without its form (301, 302 and 303 do): Prometheus would then answer
// that the query is missing, hiding the real problem, a URL that moved.
func keepPOST(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].Method == http.MethodPost && req.Method != http.MethodPost {
		return fmt.Errorf("redirected to %s, which would drop the query (HTTP %d turns POST into GET); set Options.URL to the final address", req.URL.Redacted(), req.Response.StatusCode)
	}
	return nil
}

func (t TLSOptions) config() (*tls.Config, error) {
	var errs []error
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // documented as for tests only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		pool := x509.NewCertPool()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("prometheus options: TLS.CAFile %q: %w", t.CAFile, err))
		case !pool.AppendCertsFromPEM(pem):
			errs = append(errs, fmt.Errorf("prometheus options: TLS.CAFile %q: no PEM certificate in it", t.CAFile))
		default:
			conf.RootCAs = pool
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		errs = append(errs, fmt.Errorf("prometheus options: TLS.CertFile %q and TLS.KeyFile %q: set both or neither", t.CertFile, t.KeyFile))
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("prometheus options: TLS.CertFile %q / TLS.KeyFile %q: %w", t.CertFile, t.KeyFile, err))
		} else {
			conf.Certificates = []tls.Certificate{cert}
		}
	}
	return conf, errors.Join(errs...)
}

func redact(u *url.URL) string {
	c := *u
	c.User = url.User("xxxxx")
	return c.String()
}

// URL returns the base URL the client queries.
func (c *Client) URL() string { return c.base.String() }

// Response is the decoded answer to a query.
type Response struct {
	// Value is a model.Vector, model.Matrix, *model.Scalar or *model.String,
	// as the query's result type says; never nil.
	Value model.Value
	// Warnings are Prometheus's warnings (and, from 2.52 on, its infos):
	// the query ran, but something about it deserves a look.
	Warnings []string
}

// Range is the span and resolution of a range query. Points are
// evaluated at Start, Start+Step, ... up to End.
type Range struct {
	Start, End time.Time
	// Step is the resolution; it must be positive. Prometheus refuses
	// more than 11,000 points per series.
	Step time.Duration
}

// Query evaluates query at the instant at (the zero time means the
// server's now) through /api/v1/query.
//
// Errors: a *APIError when Prometheus answers with an error (bad PromQL
// gives one with StatusCode 400 and Type "bad_data", quoting the parser);
// an error wrapping ErrDecode when the response is not what the API
// documents; otherwise the transport's error, wrapping
// context.DeadlineExceeded on a timeout and context.Canceled when ctx is
// cancelled.
func (c *Client) Query(ctx context.Context, query string, at time.Time) (Response, error) {
	if strings.TrimSpace(query) == "" {
		return Response{}, errors.New("prometheus: query is empty")
	}
	form := url.Values{"query": {query}}
	if !at.IsZero() {
		form.Set("time", formatTime(at))
	}
	return c.do(ctx, "/api/v1/query", form)
}

// QueryRange evaluates query over r through /api/v1/query_range. The
// result is a matrix: one stream of points per series. Errors are as for
// Query.
func (c *Client) QueryRange(ctx context.Context, query string, r Range) (model.Matrix, []string, error) {
	var errs []error
	if strings.TrimSpace(query) == "" {
		errs = append(errs, errors.New("prometheus: query is empty"))
	}
	if r.Start.IsZero() || r.End.IsZero() {
		errs = append(errs, fmt.Errorf("prometheus: range start %v and end %v must both be set", r.Start, r.End))
	} else if r.End.Before(r.Start) {
		errs = append(errs, fmt.Errorf("prometheus: range end %v is before start %v", r.End, r.Start))
	}
	if r.Step <= 0 {
		errs = append(errs, fmt.Errorf("prometheus: range step %v must be positive", r.Step))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	form := url.Values{
		"query": {query},
		"start": {formatTime(r.Start)},
		"end":   {formatTime(r.End)},
		"step":  {strconv.FormatFloat(r.Step.Seconds(), 'f', -1, 64)},
	}
	resp, err := c.do(ctx, "/api/v1/query_range", form)
	if err != nil {
		return nil, nil, err
	}
	m, ok := resp.Value.(model.Matrix)
	if !ok {
		return nil, resp.Warnings, fmt.Errorf("prometheus: range query: %w: result type %q, want %q", ErrDecode, resp.Value.Type(), model.ValMatrix)
	}
	return m, resp.Warnings, nil
}

// formatTime writes t as Unix seconds with millisecond precision, the
// resolution of Prometheus timestamps.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64)
}

// do POSTs form to path (form-encoded bodies avoid URL length limits on
// long queries; the API accepts both GET and POST for queries).
func (c *Client) do(ctx context.Context, path string, form url.Values) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// Let Prometheus stop evaluating when we stop waiting.
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left > time.Millisecond {
			form.Set("timeout", model.Duration(left.Truncate(time.Millisecond)).String())
		}
	}
	u := c.base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return Response{}, fmt.Errorf("prometheus: %w", err)
	}
	for k, vs := range c.opts.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "ramp-analysis-prometheus")
	}
	switch {
	case c.opts.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.opts.BearerToken)
	case c.opts.BearerTokenFile != "":
		tok, err := os.ReadFile(c.opts.BearerTokenFile)
		if err != nil {
			return Response{}, fmt.Errorf("prometheus: bearer token file %q: %w", c.opts.BearerTokenFile, err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	case c.opts.BasicAuth != nil:
		req.SetBasicAuth(c.opts.BasicAuth.Username, c.opts.BasicAuth.Password)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error already names the method and URL.
		return Response{}, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return Response{}, fmt.Errorf("prometheus: reading response from %s: %w", u.Redacted(), err)
	}
	if int64(len(body)) > c.maxBody {
		return Response{}, fmt.Errorf("prometheus: response from %s is larger than MaxResponseBytes (%d)", u.Redacted(), c.maxBody)
	}
	return decodeResponse(resp.StatusCode, body)
}

// APIError is an error answer from Prometheus, or a non-2xx answer from
// whatever stands in front of it.
type APIError struct {
	// StatusCode is the HTTP status: 400 for bad parameters or PromQL that
	// does not parse, 422 for an expression that cannot be executed, 503
	// for a query that timed out or was aborted, others from proxies.
	StatusCode int
	// Type is the API's errorType ("bad_data", "execution", "timeout",
	// "canceled", "internal", "unavailable", ...); empty when the body was
	// not an API error object.
	Type string
	// Message is the API's error field, quoted verbatim, or the start of
	// the body when it was not an API error object.
	Message string
}

func (e *APIError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("prometheus: HTTP %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
	}
	return fmt.Sprintf("prometheus: %s (HTTP %d): %s", e.Type, e.StatusCode, e.Message)
}

// snippet returns the start of body as readable text for an error message.
func snippet(body []byte) string {
	const max = 200
	s := string(bytes.TrimSpace(body))
	if len(s) > max {
		s = s[:max] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return strconv.Quote(s)
}
