package prometheus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientQuerySendsTheAPIRequest(t *testing.T) {
	f := newFakeProm(t, fixed(200, vectorOf("0.5")))
	c := newTestClient(t, Options{URL: f.URL + "/prom/", Timeout: 7 * time.Second,
		Headers: http.Header{"X-Scope-Orgid": {"tenant-1"}}})
	at := time.Unix(1700000000, 123_456_789)

	resp, err := c.Query(context.Background(), `sum(up{job="x"})`, at)
	require.NoError(t, err)
	v, ok := resp.Value.(model.Vector)
	require.True(t, ok, "got %T", resp.Value)
	require.Len(t, v, 1)
	assert.Equal(t, model.SampleValue(0.5), v[0].Value)
	assert.Equal(t, model.Time(1700000000123), v[0].Timestamp)

	reqs := f.requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/prom/api/v1/query", r.Path)
	assert.Equal(t, `sum(up{job="x"})`, r.Form.Get("query"))
	assert.Equal(t, "1700000000.123", r.Form.Get("time"))
	d, err := model.ParseDuration(r.Form.Get("timeout"))
	require.NoError(t, err, "timeout %q", r.Form.Get("timeout"))
	assert.InDelta(t, 7*time.Second, time.Duration(d), float64(time.Second))
	assert.Equal(t, "application/json", r.Header.Get("Accept"))
	assert.Equal(t, "tenant-1", r.Header.Get("X-Scope-OrgID"))
	assert.Empty(t, r.Header.Get("Authorization"))
	assert.Equal(t, f.URL+"/prom/", c.URL())
}

func TestClientQueryZeroTimeOmitsTime(t *testing.T) {
	f := newFakeProm(t, fixed(200, scalarOf("2")))
	c := newTestClient(t, Options{URL: f.URL})
	resp, err := c.Query(context.Background(), "1+1", time.Time{})
	require.NoError(t, err)
	s, ok := resp.Value.(*model.Scalar)
	require.True(t, ok)
	assert.Equal(t, model.SampleValue(2), s.Value)
	_, has := f.requests()[0].Form["time"]
	assert.False(t, has)
}

func TestClientQueryRange(t *testing.T) {
	body := `{"status":"success","warnings":["w1"],"data":{"resultType":"matrix","result":[
		{"metric":{"pod":"a"},"values":[[1700000000,"1"],[1700000010,"2"]]},
		{"metric":{"pod":"b"},"values":[[1700000000,"NaN"]]}]}}`
	f := newFakeProm(t, fixed(200, body))
	c := newTestClient(t, Options{URL: f.URL})
	start := time.Unix(1700000000, 0)
	m, warnings, err := c.QueryRange(context.Background(), "x", Range{Start: start, End: start.Add(time.Minute), Step: 2500 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, m, 2)
	assert.Equal(t, []string{"w1"}, warnings)
	assert.Equal(t, model.SampleValue(2), m[0].Values[1].Value)
	assert.True(t, m[1].Values[0].Value != m[1].Values[0].Value, "NaN kept")

	r := f.requests()[0]
	assert.Equal(t, "/api/v1/query_range", r.Path)
	assert.Equal(t, "1700000000.000", r.Form.Get("start"))
	assert.Equal(t, "1700000060.000", r.Form.Get("end"))
	assert.Equal(t, "2.5", r.Form.Get("step"))
}

func TestClientQueryRangeBadInput(t *testing.T) {
	c := newTestClient(t, Options{URL: "http://127.0.0.1:1"})
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name  string
		query string
		r     Range
		want  []string
	}{
		{"empty query", " ", Range{Start: now, End: now, Step: time.Second}, []string{"query is empty"}},
		{"zero step", "x", Range{Start: now, End: now}, []string{"range step 0s must be positive"}},
		{"negative step", "x", Range{Start: now, End: now, Step: -time.Second}, []string{"range step -1s must be positive"}},
		{"end before start", "x", Range{Start: now, End: now.Add(-time.Second), Step: time.Second}, []string{"is before start"}},
		{"no start", "x", Range{End: now, Step: time.Second}, []string{"must both be set"}},
		{"all at once", "", Range{}, []string{"query is empty", "must both be set", "range step 0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.QueryRange(context.Background(), tc.query, tc.r)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := c.Query(context.Background(), "", time.Time{})
	assert.ErrorContains(t, err, "query is empty")
}

func TestClientQueryRangeWrongType(t *testing.T) {
	f := newFakeProm(t, fixed(200, vectorOf("1")))
	c := newTestClient(t, Options{URL: f.URL})
	now := time.Now()
	_, _, err := c.QueryRange(context.Background(), "x", Range{Start: now, End: now, Step: time.Second})
	require.ErrorIs(t, err, ErrDecode)
	assert.ErrorContains(t, err, `result type "vector", want "matrix"`)
}

func TestClientAuth(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("first\n"), 0o600))
	tests := []struct {
		name string
		o    Options
		want []string // Authorization of two requests
		// between runs between the two requests
		between func()
	}{
		{"bearer", Options{BearerToken: "s3cret"}, []string{"Bearer s3cret", "Bearer s3cret"}, nil},
		{"bearer file is reread", Options{BearerTokenFile: tokenFile}, []string{"Bearer first", "Bearer second"},
			func() { require.NoError(t, os.WriteFile(tokenFile, []byte("second"), 0o600)) }},
		{"basic", Options{BasicAuth: &BasicAuth{Username: "u", Password: "p:w"}}, []string{"Basic dTpwOnc=", "Basic dTpwOnc="}, nil},
		{"none", Options{}, []string{"", ""}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, fixed(200, emptyVector))
			tc.o.URL = f.URL
			c := newTestClient(t, tc.o)
			_, err := c.Query(context.Background(), "up", time.Time{})
			require.NoError(t, err)
			if tc.between != nil {
				tc.between()
			}
			_, err = c.Query(context.Background(), "up", time.Time{})
			require.NoError(t, err)
			reqs := f.requests()
			require.Len(t, reqs, 2)
			assert.Equal(t, tc.want, []string{reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("Authorization")})
		})
	}
}

func TestClientBearerFileMissing(t *testing.T) {
	f := newFakeProm(t, fixed(200, emptyVector))
	c := newTestClient(t, Options{URL: f.URL, BearerTokenFile: filepath.Join(t.TempDir(), "nope")})
	_, err := c.Query(context.Background(), "up", time.Time{})
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "bearer token file")
	assert.Empty(t, f.requests(), "nothing sent without the token")
}

func TestNewClientRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"empty url", Options{}, []string{"URL is empty"}},
		{"no scheme", Options{URL: "prometheus:9090"}, []string{`URL "prometheus:9090": scheme must be http or https`}},
		{"ftp", Options{URL: "ftp://h"}, []string{"scheme must be http or https"}},
		{"no host", Options{URL: "http://"}, []string{`URL "http://": no host`}},
		{"bad escape", Options{URL: "http://h/%zz"}, []string{`URL "http://h/%zz"`}},
		{"query", Options{URL: "http://h/?a=b"}, []string{"must not have a query or fragment"}},
		{"userinfo", Options{URL: "http://u:pw@h"}, []string{"put credentials in BasicAuth"}},
		{"negative timeout", Options{URL: "http://h", Timeout: -time.Second}, []string{"Timeout -1s is negative"}},
		{"negative max", Options{URL: "http://h", MaxResponseBytes: -1}, []string{"MaxResponseBytes -1 is negative"}},
		{"two auths", Options{URL: "http://h", BearerToken: "a", BasicAuth: &BasicAuth{}}, []string{"at most one of BearerToken, BearerTokenFile and BasicAuth"}},
		{"client and transport", Options{URL: "http://h", HTTPClient: &http.Client{}, Transport: http.DefaultTransport}, []string{"HTTPClient and Transport are both set"}},
		{"tls with client", Options{URL: "http://h", HTTPClient: &http.Client{}, TLS: TLSOptions{InsecureSkipVerify: true}}, []string{"TLS is set together with HTTPClient or Transport"}},
		{"missing ca", Options{URL: "https://h", TLS: TLSOptions{CAFile: "/nonexistent/ca.pem"}}, []string{`TLS.CAFile "/nonexistent/ca.pem"`}},
		{"cert without key", Options{URL: "https://h", TLS: TLSOptions{CertFile: "c.pem"}}, []string{`TLS.CertFile "c.pem" and TLS.KeyFile "": set both or neither`}},
		{"several at once", Options{URL: "gopher://h", Timeout: -1, MaxResponseBytes: -1}, []string{"scheme", "Timeout", "MaxResponseBytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.o)
			require.Error(t, err)
			assert.Nil(t, c)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "pw@", "credentials must not leak into errors")
		})
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	_, err := NewClient(Options{URL: "https://h", TLS: TLSOptions{CAFile: notPEM}})
	assert.ErrorContains(t, err, "no PEM certificate in it")
}

func TestClientAPIErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantCode int
		wantType string
		wantMsg  string
		wantText string
	}{
		{"bad promql", 400, badPromQL, 400, "bad_data", `invalid parameter "query": 1:14: parse error: unexpected "}" in label matching, expected string`,
			`prometheus: bad_data (HTTP 400): invalid parameter "query": 1:14: parse error`},
		{"execution", 422, `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`, 422, "execution", "many-to-many matching not allowed", "execution (HTTP 422)"},
		{"timeout", 503, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`, 503, "timeout", "query timed out in expression evaluation", "timeout (HTTP 503)"},
		{"error without message", 500, `{"status":"error","errorType":"internal"}`, 500, "internal", "(no message)", "internal (HTTP 500)"},
		{"proxy html", 502, "<html><body>Bad Gateway</body></html>", 502, "", `"<html><body>Bad Gateway</body></html>"`, "prometheus: HTTP 502 Bad Gateway: "},
		{"proxy empty", 401, "", 401, "", "(empty body)", "HTTP 401 Unauthorized"},
		{"error status on 200", 200, `{"status":"error","errorType":"bad_data","error":"x"}`, 200, "bad_data", "x", "bad_data (HTTP 200)"},
		{"success on 500", 500, emptyVector, 500, "", `status "success" with a non-2xx HTTP status`, "HTTP 500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, fixed(tc.status, tc.body))
			c := newTestClient(t, Options{URL: f.URL})
			_, err := c.Query(context.Background(), "x", time.Time{})
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.wantCode, apiErr.StatusCode)
			assert.Equal(t, tc.wantType, apiErr.Type)
			assert.Contains(t, apiErr.Message, tc.wantMsg)
			assert.Contains(t, err.Error(), tc.wantText)
			assert.NotErrorIs(t, err, ErrDecode)
		})
	}
}

func TestClientMalformedResponses(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"not json", "hello", "not JSON"},
		{"truncated", `{"status":"success","data":{"resultType":"vector","result":[`, "not JSON"},
		{"no status", `{"data":{}}`, `status "", want "success" or "error"`},
		{"no data", `{"status":"success"}`, "no data"},
		{"data not object", `{"status":"success","data":[1]}`, "data: json"},
		{"no result type", `{"status":"success","data":{"result":[]}}`, "data.resultType is missing"},
		{"no result", `{"status":"success","data":{"resultType":"vector"}}`, "data.result is missing"},
		{"unknown type", `{"status":"success","data":{"resultType":"table","result":[]}}`, `unknown result type "table"`},
		{"vector not array", `{"status":"success","data":{"resultType":"vector","result":{}}}`, "data.result (vector)"},
		{"sample without value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"}}]}}`, `sample 0 {a="b"} has no value`},
		{"null sample", `{"status":"success","data":{"resultType":"vector","result":[null]}}`, "sample 0 is null"},
		{"value and histogram", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"],"histogram":[1,{"count":"1","sum":"1"}]}]}}`, "both a value and a histogram"},
		{"short pair", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}`, "has 1 elements"},
		{"long pair", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2","3"]}]}}`, "has 3 elements"},
		{"unquoted value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}`, "point value 2"},
		{"bad number", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}`, `point value "abc"`},
		{"bad time", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["t","1"]}]}}`, `point time "t"`},
		{"null matrix point", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[null]}]}}`, "point 0 is null"},
		{"null series", `{"status":"success","data":{"resultType":"matrix","result":[null]}}`, "series 0 is null"},
		{"scalar null", `{"status":"success","data":{"resultType":"scalar","result":null}}`, "scalar is null"},
		{"string short", `{"status":"success","data":{"resultType":"string","result":[1]}}`, "string has 1 elements"},
		{"label value not a string", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}`, "data.result (vector)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProm(t, fixed(200, tc.body))
			c := newTestClient(t, Options{URL: f.URL})
			_, err := c.Query(context.Background(), "x", time.Time{})
			require.ErrorIs(t, err, ErrDecode)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestClientDecodesEveryResultType(t *testing.T) {
	tests := []struct {
		name, body string
		check      func(t *testing.T, v model.Value)
	}{
		{"string", `{"status":"success","data":{"resultType":"string","result":[1700000000.5,"hi"]}}`, func(t *testing.T, v model.Value) {
			s := v.(*model.String)
			assert.Equal(t, "hi", s.Value)
			assert.Equal(t, model.Time(1700000000500), s.Timestamp)
		}},
		{"histogram sample", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"3","sum":"1.5","buckets":[[0,"0","1","3"]]}]}]}}`, func(t *testing.T, v model.Value) {
			vec := v.(model.Vector)
			require.NotNil(t, vec[0].Histogram)
			assert.Equal(t, model.FloatString(3), vec[0].Histogram.Count)
		}},
		{"special values", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"+Inf"]},{"metric":{"a":"2"},"value":[1,"-Inf"]},{"metric":{"a":"3"},"value":[1,"NaN"]}]}}`, func(t *testing.T, v model.Value) {
			vec := v.(model.Vector)
			require.Len(t, vec, 3)
			assert.Equal(t, "+Inf", vec[0].Value.String())
			assert.Equal(t, "-Inf", vec[1].Value.String())
			assert.Equal(t, "NaN", vec[2].Value.String())
		}},
		{"null result is empty", `{"status":"success","data":{"resultType":"vector","result":null}}`, func(t *testing.T, v model.Value) {
			assert.Empty(t, v.(model.Vector))
		}},
		{"infos are warnings", `{"status":"success","infos":["PromQL info: x"],"data":{"resultType":"vector","result":[]}}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := decodeResponse(200, []byte(tc.body))
			require.NoError(t, err)
			require.NotNil(t, resp.Value)
			if tc.check != nil {
				tc.check(t, resp.Value)
			} else {
				assert.Equal(t, []string{"PromQL info: x"}, resp.Warnings)
			}
		})
	}
}

func TestClientMaxResponseBytes(t *testing.T) {
	f := newFakeProm(t, fixed(200, vectorOf("1")))
	c := newTestClient(t, Options{URL: f.URL, MaxResponseBytes: 20})
	_, err := c.Query(context.Background(), "x", time.Time{})
	assert.ErrorContains(t, err, "larger than MaxResponseBytes (20)")
}

// hang answers only when the request's context ends or release is closed.
func hang(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(hang(release))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := newTestClient(t, Options{URL: srv.URL, Timeout: 50 * time.Millisecond})
	_, err := c.Query(context.Background(), "x", time.Time{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestClientContextCancel(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		hang(release)(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := newTestClient(t, Options{URL: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	_, err := c.Query(ctx, "x", time.Time{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestClientUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c := newTestClient(t, Options{URL: "http://" + addr})
	_, err = c.Query(context.Background(), "x", time.Time{})
	require.Error(t, err)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), addr)
	var apiErr *APIError
	assert.False(t, errors.As(err, &apiErr))
}

func TestClientCustomTransportAndClient(t *testing.T) {
	f := newFakeProm(t, fixed(200, emptyVector))
	var used int
	tr := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used++
		return http.DefaultTransport.RoundTrip(r)
	})
	c := newTestClient(t, Options{URL: f.URL, Transport: tr, BearerToken: "t"})
	_, err := c.Query(context.Background(), "x", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, 1, used)

	c = newTestClient(t, Options{URL: f.URL, HTTPClient: &http.Client{Transport: tr}, BearerToken: "t"})
	_, err = c.Query(context.Background(), "x", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, 2, used)
	assert.Equal(t, "Bearer t", f.requests()[1].Header.Get("Authorization"), "auth applies to a caller's client too")
}

func TestClientRedirects(t *testing.T) {
	f := newFakeProm(t, fixed(200, vectorOf("1")))
	tests := []struct {
		status  int
		wantErr string
	}{
		{http.StatusMovedPermanently, "which would drop the query (HTTP 301 turns POST into GET); set Options.URL to the final address"},
		{http.StatusFound, "(HTTP 302 turns POST into GET)"},
		{http.StatusTemporaryRedirect, ""},
		{http.StatusPermanentRedirect, ""},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, f.URL+r.URL.Path, tc.status)
			}))
			t.Cleanup(moved.Close)
			c := newTestClient(t, Options{URL: moved.URL})
			resp, err := c.Query(context.Background(), "up", time.Time{})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Contains(t, err.Error(), "redirected to "+f.URL+"/api/v1/query")
				return
			}
			require.NoError(t, err)
			assert.Len(t, resp.Value.(model.Vector), 1)
			last := f.requests()[len(f.requests())-1]
			assert.Equal(t, "up", last.Form.Get("query"), "the form survives 307/308")
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// testPKI is a CA with a server and a client certificate, written as PEM
// files.
type testPKI struct {
	caFile, certFile, keyFile string
	caPool                    *x509.CertPool
	server                    tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ramp test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "ramp test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	p := testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client-key.pem")}
	require.NoError(t, os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	cc, ck := issue(2, x509.ExtKeyUsageClientAuth, nil)
	require.NoError(t, os.WriteFile(p.certFile, cc, 0o600))
	require.NoError(t, os.WriteFile(p.keyFile, ck, 0o600))
	sc, sk := issue(3, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.server, err = tls.X509KeyPair(sc, sk)
	require.NoError(t, err)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(ca)
	return p
}

func TestClientTLS(t *testing.T) {
	pki := newTestPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte(emptyVector))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.caPool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		tls     TLSOptions
		wantErr string
	}{
		{"ca and client cert", TLSOptions{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}, ""},
		{"system roots refuse the test CA", TLSOptions{CertFile: pki.certFile, KeyFile: pki.keyFile}, "certificate signed by unknown authority"},
		{"insecure skip verify", TLSOptions{InsecureSkipVerify: true, CertFile: pki.certFile, KeyFile: pki.keyFile}, ""},
		{"no client cert", TLSOptions{CAFile: pki.caFile}, "HTTP 403"},
		{"wrong server name", TLSOptions{CAFile: pki.caFile, ServerName: "prometheus.example"}, "prometheus.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, Options{URL: srv.URL, TLS: tc.tls})
			_, err := c.Query(context.Background(), "x", time.Time{})
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
	_, err := NewClient(Options{URL: srv.URL, TLS: TLSOptions{CertFile: pki.caFile, KeyFile: pki.certFile}})
	assert.ErrorContains(t, err, "TLS.CertFile")
	assert.True(t, strings.HasPrefix(srv.URL, "https://"))
}
