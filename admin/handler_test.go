package admin_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/admin"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// router is a traffic.Router in memory; with block set, Apply waits until
// it is closed (a router that cannot reach its proxy).
type router struct {
	mu    sync.Mutex
	cur   traffic.Route
	block chan struct{}
}

func (r *router) Apply(ctx context.Context, rt traffic.Route) error {
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = rt
	return nil
}

func (r *router) Current(context.Context) (traffic.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur, nil
}

var steps = []strategy.Step{{Percent: 10, Hold: time.Hour}, {Percent: 50, Hold: time.Hour}, {Percent: 100, Hold: time.Hour}}

// fixture is a running rollout behind the admin API on a real server.
type fixture struct {
	rollout *ramp.Rollout
	router  *router
	rec     *analysis.Recorder
	events  *admin.Events
	srv     *httptest.Server
	runs    chan error
}

func newFixture(t *testing.T, opts admin.Options) *fixture {
	t.Helper()
	f := &fixture{router: &router{}, events: &admin.Events{}, runs: make(chan error, 4)}
	var err error
	f.rec, err = analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
	require.NoError(t, err)
	f.rollout, err = ramp.New(context.Background(), ramp.Config{
		Stable: "v1", Canary: "v2", Strategy: strategy.Canary{Steps: steps}, Router: f.router, OnEvent: f.events.Add,
	})
	require.NoError(t, err)
	if opts.Figures == nil {
		opts.Figures = f.rec
	}
	if opts.Events == nil {
		opts.Events = f.events
	}
	if opts.Steps == nil {
		opts.Steps = steps
	}
	f.srv = httptest.NewServer(admin.NewHandler(f.rollout, opts))
	t.Cleanup(f.srv.Close)
	return f
}

// run drives the rollout until the test ends.
func (f *fixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { f.runs <- f.rollout.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-f.runs
	})
}

func (f *fixture) waitPhase(t *testing.T, phase ramp.Phase) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.rollout.Status().Phase != phase {
		require.True(t, time.Now().Before(deadline), "phase %v, want %v", f.rollout.Status().Phase, phase)
		time.Sleep(time.Millisecond)
	}
}

func (f *fixture) status(t *testing.T) admin.Status {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	var st admin.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

func (f *fixture) post(t *testing.T, path, auth, contentType, body string) (int, admin.OpResult) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var res admin.OpResult
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	return resp.StatusCode, res
}

func TestTokenGuardsEveryOperation(t *testing.T) {
	ops := []string{"/promote", "/promote-full", "/pause", "/resume", "/abort", "/retry"}
	t.Run("no token configured: forbidden", func(t *testing.T) {
		f := newFixture(t, admin.Options{})
		f.run(t)
		f.waitPhase(t, ramp.Progressing)
		for _, op := range ops {
			for _, auth := range []string{"", "Bearer ", "Bearer x"} {
				code, res := f.post(t, op, auth, "", "")
				assert.Equal(t, http.StatusForbidden, code, "%s %q", op, auth)
				assert.Contains(t, res.Error, "disabled")
			}
		}
		assert.Equal(t, ramp.Progressing, f.rollout.Status().Phase, "nothing was done")
	})
	t.Run("missing or wrong token: unauthorized, token not echoed", func(t *testing.T) {
		f := newFixture(t, admin.Options{Token: "right"})
		f.run(t)
		f.waitPhase(t, ramp.Progressing)
		for _, op := range ops {
			for _, auth := range []string{"", "Bearer", "Bearer wrong-guess", "Bearer right-and-more", "Basic cmlnaHQ=", "right"} {
				req, _ := http.NewRequest(http.MethodPost, f.srv.URL+op, nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %q", op, auth)
				assert.Equal(t, `Bearer realm="ramp"`, resp.Header.Get("WWW-Authenticate"))
				assert.NotContains(t, string(b), "wrong-guess")
				assert.NotContains(t, string(b), "right")
			}
		}
		assert.Equal(t, ramp.Progressing, f.rollout.Status().Phase)
		code, _ := f.post(t, "/pause", "bEaReR right", "", "") // the scheme is case-insensitive
		assert.Equal(t, http.StatusOK, code)
	})
}

func TestOperationsFollowThePhase(t *testing.T) {
	f := newFixture(t, admin.Options{Token: "t"})
	f.run(t)
	f.waitPhase(t, ramp.Progressing)
	const tok = "Bearer t"
	for i, c := range []struct {
		op   string
		want int
		then ramp.Phase
	}{
		{"/retry", http.StatusConflict, ramp.Progressing},
		{"/resume", http.StatusConflict, ramp.Progressing},
		{"/pause", http.StatusOK, ramp.Paused},
		{"/pause", http.StatusConflict, ramp.Paused},
		{"/resume", http.StatusOK, ramp.Progressing},
		{"/promote", http.StatusOK, ramp.Progressing},
		{"/abort?reason=latency+up", http.StatusOK, ramp.RolledBack},
		{"/abort", http.StatusConflict, ramp.RolledBack},
		{"/promote", http.StatusConflict, ramp.RolledBack},
		{"/retry", http.StatusOK, ramp.Pending},
	} {
		code, res := f.post(t, c.op, tok, "", "")
		require.Equal(t, c.want, code, "case %d %s: %+v", i, c.op, res)
		assert.Equal(t, strings.Trim(strings.SplitN(c.op, "?", 2)[0], "/"), res.Op)
		if code == http.StatusConflict {
			assert.Contains(t, res.Error, "not allowed in this phase")
		}
		if code == http.StatusOK {
			assert.Equal(t, c.then.String(), res.Phase, "case %d: the answer shows the operation's effect", i)
		}
		f.waitPhase(t, c.then)
	}
	// The history shows what happened, with the abort's reason (events
	// reach OnEvent a moment after the phase changes).
	want := []string{"started", "step_started", "paused", "resumed", "promoted", "rolled_back", "retried"}
	var st admin.Status
	var kinds []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, kinds = f.status(t), nil
		for _, e := range st.History {
			kinds = append(kinds, e.Kind)
		}
		if len(kinds) >= len(want) && kinds[len(kinds)-1] == "retried" || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	assert.Subset(t, kinds, want)
	require.NotEmpty(t, st.Revisions)
	assert.Equal(t, "aborted via the admin API: latency up", st.Revisions[len(st.Revisions)-1].Reason)
}

func TestAbortReason(t *testing.T) {
	long := strings.Repeat("é", 600)
	for _, c := range []struct {
		name, query, contentType, body string
		want                           int
		reason                         string
	}{
		{"query", "?reason=error+budget+spent", "", "", http.StatusOK, "aborted via the admin API: error budget spent"},
		{"text body", "", "text/plain", "p99 doubled", http.StatusOK, "aborted via the admin API: p99 doubled"},
		{"JSON body", "", "application/json; charset=utf-8", `{"reason": "line one\nline\ttwo\u0007"}`, http.StatusOK, "aborted via the admin API: line one line two"},
		{"none", "", "", "", http.StatusOK, "aborted via the admin API"},
		{"long", "", "text/plain", long, http.StatusOK, "aborted via the admin API: " + strings.Repeat("é", 500) + "…"},
		{"bad JSON", "", "application/json", `{"reason": `, http.StatusBadRequest, ""},
		{"over 4 KiB", "", "text/plain", strings.Repeat("x", admin.MaxBodyBytes+1), http.StatusRequestEntityTooLarge, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, admin.Options{Token: "t"})
			f.run(t)
			f.waitPhase(t, ramp.Progressing)
			code, res := f.post(t, "/abort"+c.query, "Bearer t", c.contentType, c.body)
			require.Equal(t, c.want, code, "%+v", res)
			st := f.rollout.Status()
			if c.want != http.StatusOK {
				assert.Equal(t, ramp.Progressing, st.Phase, "a refused abort changes nothing")
				return
			}
			assert.Equal(t, ramp.RolledBack, st.Phase)
			assert.Equal(t, c.reason, st.Reason)
		})
	}
}

// rawPost sends a POST /abort with the given framing over a raw
// connection and returns the status line.
func rawPost(t *testing.T, srvURL, framing, body string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srvURL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /abort HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n"+framing+"\r\n\r\n"+body)
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSpace(line)
}

func TestUnreadableBodyIs400(t *testing.T) {
	f := newFixture(t, admin.Options{Token: "t"})
	f.run(t)
	f.waitPhase(t, ramp.Progressing)
	assert.Equal(t, "HTTP/1.1 400 Bad Request", rawPost(t, f.srv.URL, "Transfer-Encoding: chunked", "zz\r\nabc\r\n0\r\n\r\n"))
	assert.Equal(t, "HTTP/1.1 400 Bad Request", rawPost(t, f.srv.URL, "Content-Length: 100", "abc"))
	assert.Equal(t, "HTTP/1.1 413 Request Entity Too Large", rawPost(t, f.srv.URL, "Content-Length: 5000", strings.Repeat("x", 5000)))
	assert.Equal(t, ramp.Progressing, f.rollout.Status().Phase)
}

func TestAbortPastItsTimeoutIs202AndTheRollbackGoesOn(t *testing.T) {
	f := newFixture(t, admin.Options{Token: "t", AbortTimeout: 50 * time.Millisecond})
	f.run(t)
	f.waitPhase(t, ramp.Progressing)
	release := make(chan struct{})
	f.router.mu.Lock()
	f.router.block = release // the proxy is slow to take the rollback's route
	f.router.mu.Unlock()
	code, res := f.post(t, "/abort", "Bearer t", "", "")
	assert.Equal(t, http.StatusAccepted, code, "%+v", res)
	assert.NotEqual(t, ramp.Progressing.String(), res.Phase)
	close(release)
	f.waitPhase(t, ramp.RolledBack)
}

func TestStatus(t *testing.T) {
	f := newFixture(t, admin.Options{
		Upstreams: map[string]string{"v1": "http://10.0.0.1:8080", "v2": "http://10.0.0.2:8080"},
		Limits:    admin.Limits{MaxErrorRate: 0.01, MaxP99: 300 * time.Millisecond, MinSamples: 50},
	})
	st := f.status(t)
	assert.Equal(t, "pending", st.Phase)
	assert.Equal(t, -1, st.Step)
	assert.Equal(t, []admin.Step{{Percent: 10, DurationSeconds: 3600}, {Percent: 50, DurationSeconds: 3600}, {Percent: 100, DurationSeconds: 3600}}, st.Steps)
	assert.Equal(t, admin.StatusLimits{MaxErrorRate: 0.01, MaxP99Seconds: 0.3, MinSamples: 50}, st.Limits)
	assert.NotNil(t, st.History, "an empty list, not null, for the page")

	f.run(t)
	f.waitPhase(t, ramp.Progressing)
	for i := range 200 {
		status := 200
		if i%4 == 0 {
			status = 503
		}
		f.rec.Observe("v2", status, time.Duration(i)*time.Millisecond, 10)
		f.rec.Observe("v1", 200, time.Millisecond, 10)
	}
	st = f.status(t)
	assert.Equal(t, "progressing", st.Phase)
	assert.Equal(t, 10.0, st.CanaryPercent)
	assert.Equal(t, 0, st.Step)
	canary := st.Versions["canary"]
	assert.Equal(t, "v2", canary.Version)
	assert.Equal(t, "http://10.0.0.2:8080", canary.URL)
	assert.Equal(t, int64(200), canary.Requests)
	assert.Equal(t, int64(50), canary.Errors)
	assert.InDelta(t, 0.25, canary.ErrorRate, 1e-9)
	assert.InDelta(t, 0.198, canary.P99Seconds, 0.01)
	assert.Equal(t, int64(200), canary.Step.Requests, "all of them in the step in force")
	assert.Equal(t, "v1", st.Versions["stable"].Version)
	assert.Equal(t, int64(0), st.Versions["stable"].Errors)
	require.NotEmpty(t, st.Timeline)
	last := st.Timeline[len(st.Timeline)-1]
	assert.LessOrEqual(t, last.Canary.Requests, int64(200))
}

func TestStepsShowTheirEffectiveHold(t *testing.T) {
	f := newFixture(t, admin.Options{Steps: []strategy.Step{{Percent: 5}, {Percent: 50, Hold: strategy.UntilPromoted}, {Percent: 100, Hold: time.Minute}}})
	assert.Equal(t, []admin.Step{{Percent: 5, DurationSeconds: strategy.DefaultHold.Seconds()}, {Percent: 50, DurationSeconds: -1}, {Percent: 100, DurationSeconds: 60}},
		f.status(t).Steps)
}

func TestTimelineSamplesAtMostOnceASecond(t *testing.T) {
	f := newFixture(t, admin.Options{})
	for range 20 {
		f.status(t)
	}
	assert.Len(t, f.status(t).Timeline, 1, "twenty reads within a second: one sample")
}

func TestEventsAreBounded(t *testing.T) {
	ev := &admin.Events{MaxEvents: 3}
	for i := range 5 {
		ev.Add(ramp.Event{Kind: ramp.EventStepStarted, Step: i, Percent: float64(10 * i)})
	}
	got := ev.List()
	require.Len(t, got, 3)
	assert.Equal(t, []int{2, 3, 4}, []int{got[0].Step, got[1].Step, got[2].Step}, "the oldest go first")
	assert.Equal(t, "step_started", got[0].Kind)

	var zero admin.Events // usable as is
	zero.Add(ramp.Event{Kind: ramp.EventStarted})
	assert.Len(t, zero.List(), 1)
}

func TestPageMetricsHealthz(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ramp_up 1\n") })
	f := newFixture(t, admin.Options{Metrics: metrics})
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(f.srv.URL + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := get("/metrics")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ramp_up 1\n", body)
	resp, body = get("/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", body)

	resp, page := get("/")
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	for _, tag := range []string{"script", "style"} {
		_, rest, _ := strings.Cut(page, "<"+tag+">")
		inline, _, _ := strings.Cut(rest, "</"+tag+">")
		sum := sha256.Sum256([]byte(inline))
		assert.Contains(t, csp, tag+"-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	// Relative fetches: the page works under any prefix.
	assert.Contains(t, page, `fetch("status"`)
	assert.NotContains(t, page, `fetch("/`)

	resp, _ = get("/nothing")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	noMetrics := newFixture(t, admin.Options{})
	resp, err := http.Get(noMetrics.srv.URL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no metrics handler: 404")
}

func TestMountedUnderAPrefix(t *testing.T) {
	f := newFixture(t, admin.Options{Token: "t"})
	mux := http.NewServeMux()
	mux.Handle("/ramp/", http.StripPrefix("/ramp", admin.NewHandler(f.rollout, admin.Options{Token: "t"})))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f.run(t)
	f.waitPhase(t, ramp.Progressing)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ramp/pause", nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	f.waitPhase(t, ramp.Paused)
	resp, err = http.Get(srv.URL + "/ramp/status")
	require.NoError(t, err)
	var st admin.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	assert.Equal(t, "paused", st.Phase)
}

// An abort is not held up by status reads: a hundred readers at once and
// the abort still answers.
func TestAbortUnderStatusLoad(t *testing.T) {
	f := newFixture(t, admin.Options{Token: "t"})
	f.run(t)
	f.waitPhase(t, ramp.Progressing)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if resp, err := http.Get(f.srv.URL + "/status"); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	code, res := f.post(t, "/abort?reason=under+load", "Bearer t", "", "")
	close(stop)
	wg.Wait()
	assert.Equal(t, http.StatusOK, code, "%+v", res)
	assert.Equal(t, "rolled_back", res.Phase)
}
