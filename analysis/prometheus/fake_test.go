package prometheus

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeProm is an httptest server that answers the query API with canned
// JSON and records what it was asked.
type fakeProm struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seenRequest
	// answer returns the HTTP status and body for a request.
	answer func(path string, form url.Values) (int, string)
}

type seenRequest struct {
	Method string
	Path   string
	Form   url.Values
	Header http.Header
}

func newFakeProm(t *testing.T, answer func(path string, form url.Values) (int, string)) *fakeProm {
	t.Helper()
	f := &fakeProm{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProm) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, seenRequest{Method: r.Method, Path: r.URL.Path, Form: r.PostForm, Header: r.Header.Clone()})
	f.mu.Unlock()
	_, _ = io.Copy(io.Discard, r.Body)
	status, body := f.answer(r.URL.Path, r.PostForm)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakeProm) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.reqs...)
}

// queries returns the query parameter of every request, in order.
func (f *fakeProm) queries() []string {
	var qs []string
	for _, r := range f.requests() {
		qs = append(qs, r.Form.Get("query"))
	}
	return qs
}

func fixed(status int, body string) func(string, url.Values) (int, string) {
	return func(string, url.Values) (int, string) { return status, body }
}

func newTestClient(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := NewClient(o)
	require.NoError(t, err)
	return c
}

// Canned answers, shaped as Prometheus 2.42 writes them.
const (
	emptyVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`
	badPromQL   = `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:14: parse error: unexpected \"}\" in label matching, expected string"}`
)

func vectorOf(value string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.123,"` + value + `"]}]}}`
}

func scalarOf(value string) string {
	return `{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"` + value + `"]}}`
}
