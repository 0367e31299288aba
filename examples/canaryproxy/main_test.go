package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/admin"
)

// --- upstreams, the proxy under test, load ---

// upstream is a real HTTP server on loopback that answers with its name.
func upstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// every5th fails 20% of requests.
func every5th(n int64) bool { return n%5 == 0 }

// syncBuffer is a bytes.Buffer safe for the program's log writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is one run of the program.
type instance struct {
	proxy, admin   string // base URLs
	stdout, stderr *syncBuffer
	stop           context.CancelFunc
	exit           chan int
}

// start runs the program with args plus loopback listeners on free ports,
// and waits until it listens. It is stopped at the end of the test.
func start(t *testing.T, getenv func(string) string, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{stdout: &syncBuffer{}, stderr: &syncBuffer{}, stop: cancel, exit: make(chan int, 1)}
	ready := make(chan [2]string, 1)
	args = append([]string{"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0"}, args...)
	go func() {
		in.exit <- run(ctx, args, getenv, in.stdout, in.stderr, func(p, a string) { ready <- [2]string{p, a} })
	}()
	select {
	case addrs := <-ready:
		in.proxy, in.admin = "http://"+addrs[0], "http://"+addrs[1]
	case code := <-in.exit:
		cancel()
		t.Fatalf("exited %d before listening; stderr:\n%s", code, in.stderr)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("not listening after 5s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-in.exit:
		case <-time.After(10 * time.Second):
			t.Error("still running 10s after stop")
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", in.stdout, in.stderr)
		}
	})
	return in
}

// shutdown stops the program as SIGTERM would and returns its exit code.
func (in *instance) shutdown(t *testing.T) int {
	t.Helper()
	in.stop()
	select {
	case code := <-in.exit:
		in.exit <- code // for the cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after stop")
		return -1
	}
}

func noEnv(string) string { return "" }

func (in *instance) status(t *testing.T) admin.Status {
	t.Helper()
	resp, err := http.Get(in.admin + "/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st admin.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

// waitFor polls /status until ok or the timeout.
func (in *instance) waitFor(t *testing.T, timeout time.Duration, what string, ok func(admin.Status) bool) admin.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := in.status(t)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still not %s: phase %s, step %d, %.2f%%, reason %q", timeout, what, st.Phase, st.Step, st.CanaryPercent, st.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *instance) waitPhase(t *testing.T, timeout time.Duration, phase string) admin.Status {
	t.Helper()
	return in.waitFor(t, timeout, phase, func(st admin.Status) bool { return st.Phase == phase })
}

// post calls an admin operation with the bearer token (none when empty).
func (in *instance) post(t *testing.T, path, auth string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.admin+path, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

var client = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	Timeout:   10 * time.Second,
}

// get sends one request through the proxy and returns the status and the
// name of the upstream that answered.
func get(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header = header
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.Fields(string(b) + " ?")[0]
}

// load sends requests through the proxy from a few workers until stopped.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	by   map[string]int // answers by upstream name ("502" for the proxy's own)
}

func startLoad(t *testing.T, url string, workers int) *load {
	t.Helper()
	l := &load{stop: make(chan struct{}), by: map[string]int{}}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil {
					continue // the proxy is shutting down
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				key := strings.Fields(string(b) + " ?")[0]
				if resp.StatusCode == http.StatusBadGateway {
					key = "502"
				}
				l.mu.Lock()
				l.by[key]++
				l.mu.Unlock()
				time.Sleep(time.Millisecond) // about 500 req/s per worker: enough, and kind to a shared CPU
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// allFrom sends n requests and asserts the named upstream answered them all.
func allFrom(t *testing.T, url, name string, n int) {
	t.Helper()
	for i := range n {
		code, from := get(t, url, nil)
		require.Equal(t, http.StatusOK, code, "request %d", i)
		require.Equal(t, name, from, "request %d", i)
	}
}

func kinds(events []admin.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, fmt.Sprintf("%s@%g", e.Kind, e.CanaryPercent))
	}
	return out
}

// --- the tests ---

func TestPromotesHealthyCanary(t *testing.T) {
	t.Parallel()
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	in := start(t, noEnv, "-stable", stable.URL, "-canary", canary.URL,
		"-steps", "50,100", "-step-duration", "300ms", "-min-samples", "20")
	began := time.Now()
	l := startLoad(t, in.proxy, 2)

	st := in.waitPhase(t, 10*time.Second, "succeeded")
	took := time.Since(began)
	// The events reach the history a moment after the phase changes.
	st = in.waitFor(t, 5*time.Second, "succeeded in the history", func(st admin.Status) bool {
		return len(st.History) > 0 && st.History[len(st.History)-1].Kind == "succeeded"
	})
	l.end()
	assert.GreaterOrEqual(t, took, 600*time.Millisecond, "two steps of 300ms each")
	assert.Equal(t, 100.0, st.CanaryPercent)
	assert.Empty(t, st.Reason)
	require.NotNil(t, st.LastVerdict)
	assert.Equal(t, "pass", st.LastVerdict.Verdict)
	assert.Subset(t, kinds(st.History), []string{"step_started@50", "analysis@50", "step_started@100", "analysis@100", "succeeded@100"})
	assert.Positive(t, st.Versions["canary"].Requests)
	assert.Positive(t, st.Versions["stable"].Requests)
	assert.Zero(t, st.Versions["canary"].Errors)
	t.Logf("succeeded %v after start; load answered by %v", took.Round(time.Millisecond), l.by)

	// The rollout is over; the proxy serves on, all to the canary.
	allFrom(t, in.proxy, "canary", 50)
	assert.Equal(t, 0, in.shutdown(t))
}

func TestRollsBackBadCanaryBeforeStepEnds(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		canary http.HandlerFunc
		args   []string
		reason string
	}{
		{
			name: "20% 5xx",
			canary: func(w http.ResponseWriter, r *http.Request) {
				if every5th(counter(r)) {
					http.Error(w, "canary failed", http.StatusInternalServerError)
					return
				}
				io.WriteString(w, "canary")
			},
			reason: "5xx rate",
		},
		{
			name: "20% slower than -max-p99",
			canary: func(w http.ResponseWriter, r *http.Request) {
				if every5th(counter(r)) {
					time.Sleep(150 * time.Millisecond)
				}
				io.WriteString(w, "canary")
			},
			args:   []string{"-max-p99", "100ms"},
			reason: "latency",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			stable := upstream(t, "stable")
			var n atomic.Int64
			canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.canary(w, r.WithContext(context.WithValue(r.Context(), counterKey{}, n.Add(1))))
			}))
			t.Cleanup(canary.Close)
			in := start(t, noEnv, append([]string{"-stable", stable.URL, "-canary", canary.URL,
				"-steps", "10,50,100", "-step-duration", "1m"}, c.args...)...)
			began := time.Now()
			startLoad(t, in.proxy, 2)

			st := in.waitPhase(t, 10*time.Second, "rolled_back")
			took := time.Since(began)
			assert.Less(t, took, 10*time.Second, "rolled back long before the 1m step ended")
			assert.Equal(t, 0, st.Step, "still in the first step")
			assert.Zero(t, st.CanaryPercent)
			assert.Contains(t, st.Reason, "guard")
			assert.Contains(t, st.Reason, c.reason)
			assert.Zero(t, st.Versions["stable"].Errors)
			t.Logf("rolled back %v after start: %s", took.Round(time.Millisecond), st.Reason)

			allFrom(t, in.proxy, "stable", 50)
			assert.Equal(t, 0, in.shutdown(t))
		})
	}
}

type counterKey struct{}

func counter(r *http.Request) int64 { return r.Context().Value(counterKey{}).(int64) }

func TestUnreachableCanaryAnswers502AndRollsBack(t *testing.T) {
	t.Parallel()
	stable := upstream(t, "stable")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more

	in := start(t, noEnv, "-stable", stable.URL, "-canary", dead, "-steps", "50,100", "-step-duration", "1m")
	l := startLoad(t, in.proxy, 2)
	st := in.waitPhase(t, 10*time.Second, "rolled_back")
	l.end()
	assert.Positive(t, l.by["502"], "clients routed to the dead canary got 502")
	canaryStats := st.Versions["canary"]
	assert.Positive(t, canaryStats.Requests)
	assert.Equal(t, canaryStats.Requests, canaryStats.Errors, "every 502 counts as a failure of the canary")
	allFrom(t, in.proxy, "stable", 20)
}

func TestStickyUsersStayOnTheirVersion(t *testing.T) {
	t.Parallel()
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	in := start(t, noEnv, "-stable", stable.URL, "-canary", canary.URL,
		"-steps", "10,50", "-step-duration", "1m", "-sticky", "header:X-User", "-admin-token", "tok")
	in.waitFor(t, 5*time.Second, "at 10%", func(st admin.Status) bool { return st.CanaryPercent == 10 })

	const users = 200
	// versionOf asks three times per user and requires the same answer.
	versionOf := func() []string {
		seen := make([]string, users)
		for round := range 3 {
			for u := range users {
				code, from := get(t, in.proxy, http.Header{"X-User": {fmt.Sprintf("user-%d", u)}})
				require.Equal(t, http.StatusOK, code)
				if round > 0 {
					require.Equal(t, seen[u], from, "user-%d switched versions at a fixed share", u)
				}
				seen[u] = from
			}
		}
		return seen
	}
	count := func(v []string) (n int) {
		for _, s := range v {
			if s == "canary" {
				n++
			}
		}
		return n
	}

	at10 := versionOf()
	code, _ := in.post(t, "/promote", "Bearer tok")
	require.Equal(t, http.StatusOK, code)
	in.waitFor(t, 5*time.Second, "at 50%", func(st admin.Status) bool { return st.CanaryPercent == 50 })
	at50 := versionOf()

	for u := range users {
		if at10[u] == "canary" {
			assert.Equal(t, "canary", at50[u], "user-%d went back to stable when the share rose", u)
		}
	}
	n10, n50 := count(at10), count(at50)
	t.Logf("canary users: %d/%d at 10%%, %d/%d at 50%%", n10, users, n50, users)
	assert.InDelta(t, 0.10*users, n10, 0.07*users)
	assert.InDelta(t, 0.50*users, n50, 0.12*users)
}

func TestAdminToken(t *testing.T) {
	t.Parallel()
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	args := []string{"-stable", stable.URL, "-canary", canary.URL, "-steps", "10,50", "-step-duration", "1m"}

	t.Run("no token configured: every operation is forbidden", func(t *testing.T) {
		t.Parallel()
		in := start(t, noEnv, args...)
		for _, op := range []string{"/promote", "/promote-full", "/pause", "/resume", "/abort"} {
			for _, auth := range []string{"", "Bearer ", "Bearer anything"} {
				code, body := in.post(t, op, auth)
				assert.Equal(t, http.StatusForbidden, code, "%s with %q", op, auth)
				assert.Contains(t, body["error"], "disabled")
			}
		}
		assert.Equal(t, "progressing", in.status(t).Phase, "nothing was done")
	})

	t.Run("token from the environment", func(t *testing.T) {
		t.Parallel()
		env := func(k string) string { return map[string]string{tokenEnv: "from-env"}[k] }
		in := start(t, env, args...)
		in.waitPhase(t, 5*time.Second, "progressing")
		code, _ := in.post(t, "/pause", "Bearer wrong")
		assert.Equal(t, http.StatusUnauthorized, code)
		code, _ = in.post(t, "/pause", "Bearer from-env")
		assert.Equal(t, http.StatusOK, code)
	})

	t.Run("operations by phase", func(t *testing.T) {
		t.Parallel()
		in := start(t, noEnv, append(args, "-admin-token", "s3cret")...)
		in.waitPhase(t, 5*time.Second, "progressing")
		const good = "Bearer s3cret"
		for i, c := range []struct {
			op, auth string
			want     int
			then     string // phase to wait for afterwards
		}{
			{"/pause", "", http.StatusUnauthorized, ""},
			{"/pause", "Bearer wrong", http.StatusUnauthorized, ""},
			{"/pause", "Bearer s3cret-and-more", http.StatusUnauthorized, ""},
			{"/pause", "Basic czNjcmV0", http.StatusUnauthorized, ""},
			{"/pause", good, http.StatusOK, "paused"},
			{"/pause", good, http.StatusConflict, ""},
			{"/resume", "bearer s3cret", http.StatusOK, "progressing"}, // the scheme is case-insensitive
			{"/resume", good, http.StatusConflict, ""},
			{"/promote", good, http.StatusOK, ""},
			{"/promote-full", good, http.StatusOK, "succeeded"},
			{"/pause", good, http.StatusConflict, ""},
			{"/promote", good, http.StatusConflict, ""},
			{"/abort?reason=checkout+conversions+dropped", good, http.StatusOK, "rolled_back"}, // within -rollback-window
			{"/abort", good, http.StatusConflict, ""},
			{"/resume", good, http.StatusConflict, ""},
			{"/promote-full", "Bearer wrong", http.StatusUnauthorized, ""},
		} {
			code, body := in.post(t, c.op, c.auth)
			require.Equal(t, c.want, code, "case %d: %s with %q: %v", i, c.op, c.auth, body)
			if c.then != "" {
				in.waitPhase(t, 5*time.Second, c.then)
			}
		}
		st := in.status(t)
		assert.Contains(t, st.Reason, "aborted via the admin API: checkout conversions dropped")
		allFrom(t, in.proxy, "stable", 10)

		resp, err := http.Get(in.admin + "/abort")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
}

func TestAbortReasonFromBody(t *testing.T) {
	t.Parallel()
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	in := start(t, noEnv, "-stable", stable.URL, "-canary", canary.URL, "-steps", "10", "-step-duration", "1m", "-admin-token", "t")
	in.waitPhase(t, 5*time.Second, "progressing")
	req, err := http.NewRequest(http.MethodPost, in.admin+"/abort", strings.NewReader(`{"reason": "p99 doubled\non the dashboard"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	st := in.status(t)
	assert.Equal(t, "rolled_back", st.Phase)
	assert.Equal(t, "aborted via the admin API: p99 doubled on the dashboard", st.Reason)
}

func TestBadFlagsExit2NamingTheFlag(t *testing.T) {
	t.Parallel()
	ok := []string{"-stable", "http://127.0.0.1:1", "-canary", "http://127.0.0.1:2"}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"no upstreams", nil, []string{"-stable: missing", "-canary: missing"}},
		{"unparseable URL", []string{"-stable", "http://127.0.0.1:1", "-canary", "http://[::1"}, []string{"-canary:", "not a URL"}},
		{"not http", []string{"-stable", "ftp://127.0.0.1/", "-canary", "http://127.0.0.1:2"}, []string{"-stable:", "scheme"}},
		{"no host", []string{"-stable", "http://", "-canary", "http://127.0.0.1:2"}, []string{"-stable:", "no host"}},
		{"share over 100", append(ok, "-steps", "10,120"), []string{"-steps:", "over 100"}},
		{"negative share", append(ok, "-steps", "-5,10"), []string{"-steps:", "negative"}},
		{"share not a number", append(ok, "-steps", "10,fifty"), []string{"-steps:", "not a number"}},
		{"shares falling", append(ok, "-steps", "50,10"), []string{"-steps:", "must rise"}},
		{"unknown sticky form", append(ok, "-sticky", "session"), []string{"-sticky:", "header:NAME"}},
		{"sticky without name", append(ok, "-sticky", "cookie:"), []string{"-sticky:", "cookie name"}},
		{"error rate over 1", append(ok, "-max-error-rate", "1.5"), []string{"-max-error-rate:", "outside [0, 1]"}},
		{"zero step duration", append(ok, "-step-duration", "0s"), []string{"-step-duration:", "positive"}},
		{"unparseable duration", append(ok, "-step-duration", "soon"), []string{"-step-duration"}},
		{"zero p99", append(ok, "-max-p99", "0s"), []string{"-max-p99:"}},
		{"same labels", append(ok, "-canary-version", "stable"), []string{"-canary-version:", "same as -stable-version"}},
		{"state without labels", append(ok, "-state", "state.json"), []string{"-state:", "-canary-version"}},
		{"unknown flag", append(ok, "-weight", "5"), []string{"-weight"}},
		{"stray argument", append(ok, "now"), []string{"unexpected arguments"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(context.Background(), c.args, noEnv, &stdout, &stderr, func(string, string) {
				t.Error("listened despite bad flags")
			})
			assert.Equal(t, 2, code)
			for _, w := range c.want {
				assert.Contains(t, stderr.String(), w)
			}
		})
	}
}

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") { // from either version
			started <- struct{}{}
			time.Sleep(400 * time.Millisecond)
		}
		io.WriteString(w, "stable")
	}))
	t.Cleanup(slow.Close)
	in := start(t, noEnv, "-stable", slow.URL, "-canary", slow.URL+"/canary", "-steps", "10", "-step-duration", "1m")

	type result struct {
		code int
		body string
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Get(in.proxy + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{code: resp.StatusCode, body: string(b), err: err, at: time.Now()}
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request did not reach the upstream")
	}
	code := in.shutdown(t) // as on SIGTERM, with the request in flight
	exited := time.Now()
	require.Equal(t, 0, code)
	res := <-done
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.code)
	assert.Equal(t, "stable", res.body)
	assert.False(t, res.at.After(exited), "the program exited before the request finished")
	_, err := client.Get(in.proxy + "/")
	assert.Error(t, err, "no longer accepting requests")
}

func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"-stable", stable.URL, "-canary", canary.URL, "-steps", "10,50,100", "-step-duration", "1m",
		"-state", state, "-stable-version", "v1", "-canary-version", "v2", "-admin-token", "t"}

	first := start(t, noEnv, args...)
	first.waitFor(t, 5*time.Second, "at 10%", func(st admin.Status) bool { return st.CanaryPercent == 10 })
	code, _ := first.post(t, "/promote", "Bearer t")
	require.Equal(t, http.StatusOK, code)
	first.waitFor(t, 5*time.Second, "at 50%", func(st admin.Status) bool { return st.CanaryPercent == 50 })
	require.Equal(t, 0, first.shutdown(t))
	_, err := os.Stat(state)
	require.NoError(t, err)

	second := start(t, noEnv, args...)
	st := second.status(t)
	assert.Equal(t, 1, st.Step, "carries on at the step it was on")
	assert.Equal(t, 50.0, st.CanaryPercent)
	assert.Equal(t, "v2", st.Versions["canary"].Version)
	assert.Contains(t, second.stdout.String(), "state restored")
}

func TestStatusPageAndMetrics(t *testing.T) {
	t.Parallel()
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	in := start(t, noEnv, "-stable", stable.URL, "-canary", canary.URL, "-steps", "50", "-step-duration", "1m")
	in.waitPhase(t, 5*time.Second, "progressing")
	for range 40 {
		code, _ := get(t, in.proxy, nil)
		require.Equal(t, http.StatusOK, code)
	}

	st := in.status(t)
	assert.Equal(t, []admin.Step{{Percent: 50, DurationSeconds: 60}}, st.Steps)
	assert.Equal(t, int64(40), st.Versions["stable"].Requests+st.Versions["canary"].Requests)
	assert.Equal(t, int64(40), st.Versions["stable"].Step.Requests+st.Versions["canary"].Step.Requests)
	assert.Equal(t, 0.01, st.Limits.MaxErrorRate)
	assert.Equal(t, 0.5, st.Limits.MaxP99Seconds)

	resp, err := http.Get(in.admin + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`ramp_requests_total{backend="canary",code="2xx"}`,
		`ramp_request_duration_seconds_bucket{backend="stable"`,
		`ramp_rollout_phase{canary="canary",phase="progressing",stable="stable"} 1`,
		`ramp_rollout_canary_percent{canary="canary",stable="stable"} 50`,
		`go_goroutines`,
	} {
		assert.Contains(t, string(metrics), want)
	}

	resp, err = http.Get(in.admin + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(page), "<svg")
	local := strings.ReplaceAll(string(page), `"http://www.w3.org/2000/svg"`, "") // a namespace name, not a fetch
	local = strings.Replace(local, `<link rel="icon" href="data:,">`, "", 1)      // no icon: no request for /favicon.ico
	for _, ref := range []string{"://", "src=", "href=", "@import"} {
		assert.NotContains(t, local, ref, "no external assets")
	}
	// The CSP allows exactly the inline script and style.
	csp := resp.Header.Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		_, rest, _ := strings.Cut(string(page), "<"+tag+">")
		body, _, _ := strings.Cut(rest, "</"+tag+">")
		sum := sha256.Sum256([]byte(body))
		assert.Contains(t, csp, tag+"-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}

	resp, err = http.Get(in.admin + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	base := []string{"-stable", "http://127.0.0.1:1", "-canary", "https://canary.internal:8443/api"}
	env := func(k string) string { return map[string]string{tokenEnv: "env-token"}[k] }

	t.Run("defaults", func(t *testing.T) {
		cfg, err := parseFlags(base, noEnv, io.Discard)
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1:8080", cfg.listen)
		assert.Equal(t, "127.0.0.1:8081", cfg.admin)
		assert.Equal(t, "/api", cfg.canary.Path)
		assert.Equal(t, []string{"stable", "canary"}, []string{cfg.stableVersion, cfg.canaryVersion})
		var shares []float64
		for _, s := range cfg.steps {
			shares = append(shares, s.Percent)
			assert.Equal(t, time.Minute, s.Hold)
		}
		assert.Equal(t, []float64{10, 50, 100}, shares)
		assert.Equal(t, 0.01, cfg.maxErrorRate)
		assert.Equal(t, 500*time.Millisecond, cfg.maxP99)
		assert.Nil(t, cfg.stickyKey)
		assert.Empty(t, cfg.adminToken)
	})

	t.Run("steps with decimals and their own holds", func(t *testing.T) {
		cfg, err := parseFlags(append(base, "-steps", "0.5, 10:5m, 100", "-step-duration", "2m"), noEnv, io.Discard)
		require.NoError(t, err)
		require.Len(t, cfg.steps, 3)
		for i, want := range []struct {
			percent float64
			hold    time.Duration
		}{{0.5, 2 * time.Minute}, {10, 5 * time.Minute}, {100, 2 * time.Minute}} {
			assert.Equal(t, want.percent, cfg.steps[i].Percent)
			assert.Equal(t, want.hold, cfg.steps[i].Hold)
		}
	})

	t.Run("admin token: the flag wins over the environment", func(t *testing.T) {
		cfg, err := parseFlags(base, env, io.Discard)
		require.NoError(t, err)
		assert.Equal(t, "env-token", cfg.adminToken)
		cfg, err = parseFlags(append(base, "-admin-token", "flag-token"), env, io.Discard)
		require.NoError(t, err)
		assert.Equal(t, "flag-token", cfg.adminToken)
	})

	for _, c := range []struct {
		sticky string
		req    func(r *http.Request)
		want   string
	}{
		{"header:X-User", func(r *http.Request) { r.Header.Set("X-User", "ann") }, "ann"},
		{"cookie:sid", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "sid", Value: "s-42"}) }, "s-42"},
		{"ip", func(r *http.Request) { r.RemoteAddr = "192.0.2.7:5555" }, "192.0.2.7"},
	} {
		t.Run("sticky "+c.sticky, func(t *testing.T) {
			cfg, err := parseFlags(append(base, "-sticky", c.sticky), noEnv, io.Discard)
			require.NoError(t, err)
			require.NotNil(t, cfg.stickyKey)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			c.req(r)
			assert.Equal(t, c.want, cfg.stickyKey(r))
		})
	}
}

// rawAbort sends an authorized POST /abort with the given framing and body
// over a raw connection, half-closes it and returns the status line.
func rawAbort(t *testing.T, adminURL, framing, body string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(adminURL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /abort HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer t\r\n"+framing+"\r\n\r\n"+body)
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSpace(line)
}

func TestUnreadableAbortBodyIs400(t *testing.T) {
	t.Parallel()
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	in := start(t, noEnv, "-stable", stable.URL, "-canary", canary.URL, "-steps", "10", "-step-duration", "1m", "-admin-token", "t")
	in.waitPhase(t, 5*time.Second, "progressing")
	for _, c := range []struct{ name, framing, body, want string }{
		{"malformed chunked", "Transfer-Encoding: chunked", "zz\r\nabc\r\n0\r\n\r\n", "400"},
		{"short of Content-Length", "Content-Length: 100", "abc", "400"},
		{"over the limit", "Content-Length: 5000", strings.Repeat("x", 5000), "413"},
	} {
		line := rawAbort(t, in.admin, c.framing, c.body)
		assert.Contains(t, line, " "+c.want+" ", "%s: %s", c.name, line)
	}
	assert.Equal(t, "progressing", in.status(t).Phase, "no abort from an unreadable body")
}

func TestShutdownDoesNotWaitForConnectionsWithoutARequest(t *testing.T) {
	t.Parallel()
	stable, canary := upstream(t, "stable"), upstream(t, "canary")
	in := start(t, noEnv, "-stable", stable.URL, "-canary", canary.URL, "-steps", "10", "-step-duration", "1m")
	for _, addr := range []string{in.proxy, in.admin} {
		c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://")) // a spare keep-alive dial: no request
		require.NoError(t, err)
		defer c.Close()
	}
	time.Sleep(50 * time.Millisecond) // accepted
	t0 := time.Now()
	require.Equal(t, 0, in.shutdown(t))
	// net/http's Shutdown waits 5s for such connections.
	assert.Less(t, time.Since(t0), 4*time.Second, "drained without waiting on unused connections")
}
