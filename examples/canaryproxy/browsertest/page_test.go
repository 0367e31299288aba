package browsertest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/internal/integration"
)

// canaryproxy builds the program from the repository root (whose go.mod
// has its dependencies) and starts it; it returns the proxy's and the
// admin API's base URLs.
func canaryproxy(t *testing.T, args ...string) (proxy, admin string, proc *integration.Process) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "canaryproxy")
	build := exec.Command("go", "build", "-o", bin, "./examples/canaryproxy")
	build.Dir = "../../.."
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	proc = integration.StartProcess(t, exec.Command(bin, append([]string{"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0"}, args...)...))
	serving := regexp.MustCompile(`msg=serving proxy=(\S+) admin=(\S+)`)
	proc.WaitReady(t, 20*time.Second, func() bool {
		m := serving.FindStringSubmatch(proc.Output())
		if m != nil {
			proxy, admin = "http://"+m[1], "http://"+m[2]
		}
		return m != nil
	})
	return proxy, admin, proc
}

// browser starts a headless Chromium with a fresh profile and returns a
// tab's context; it ends with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("RAMP_CHROMIUM")
	if path == "" {
		path = integration.Binary(t, "chromium")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1100, 1400),
		chromedp.UserDataDir(t.TempDir()),
	)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tab) }() // starts the browser, bound to tab's life
	select {
	case err := <-started:
		require.NoError(t, err, "starting %s", path)
	case <-ctx.Done():
		t.Fatalf("%s did not start within 30s", path)
	}
	return tab
}

// artifacts keeps a screenshot and the HTML of the page when the test
// fails, where CI can collect them.
func artifacts(t *testing.T, tab context.Context) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := os.Getenv("RAMP_ARTIFACTS")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "ramp-artifacts")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Logf("artifacts: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		base := filepath.Join(dir, fmt.Sprintf("%s-%s", t.Name(), time.Now().UTC().Format("20060102T150405")))
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
			t.Logf("artifacts: screenshot: %v", err)
		} else if err := os.WriteFile(base+".png", png, 0o644); err == nil {
			t.Logf("artifacts: screenshot saved to %s", base+".png")
		}
		if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
			if err := os.WriteFile(base+".html", []byte(html), 0o644); err == nil {
				t.Logf("artifacts: page saved to %s", base+".html")
			}
		}
	})
}

// console collects what the page writes to its console, uncaught
// exceptions and the browser's log (where CSP violations go).
type console struct {
	mu   sync.Mutex
	msgs []string
}

func watchConsole(tab context.Context) *console {
	c := &console{}
	messages := chromedp.Console(tab) // subscribes now: nothing is missed
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, fmt.Sprintf("%s (source %q, %s:%d)", m, m.Source, m.URL, m.Line+1))
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *console) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// page reads the status page in tab.
type page struct {
	t   *testing.T
	tab context.Context
}

func (p page) eval(js string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.tab, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	require.NoError(p.t, err, "evaluating %s", js)
	return s
}

func (p page) text(id string) string {
	return p.eval(fmt.Sprintf(`(document.getElementById(%q) || {textContent: "<no #%s>"}).textContent`, id, id))
}

// until re-reads the page until ok holds of what js returns, for at most
// d, and returns it.
func (p page) until(d time.Duration, what, js string, ok func(string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := p.eval(js)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("after %v the page still does not show %s: %q", d, what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func textOf(id string) string {
	return fmt.Sprintf(`(document.getElementById(%q) || {textContent: ""}).textContent`, id)
}

func TestStatusPageFollowsARollout(t *testing.T) {
	var bad atomic.Bool
	upstream := func(name string, fails *atomic.Bool) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if fails != nil && fails.Load() {
				http.Error(w, "broken", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tab := browser(t)
	artifacts(t, tab)
	proxy, adminURL, _ := canaryproxy(t, "-stable", upstream("stable", nil), "-canary", upstream("canary", &bad),
		"-stable-version", "v1.4.2", "-canary-version", "v1.5.0", "-steps", "10:3s,50,100", "-step-duration", "1m",
		"-min-samples", "20", "-admin-token", "t")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // about 150 requests a second through the proxy
		defer wg.Done()
		c := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if resp, err := c.Get(proxy); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	con := watchConsole(tab)
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(adminURL+"/"))
	cancel()
	require.NoError(t, err)
	require.Equal(t, int64(http.StatusOK), resp.Status)
	assert.Contains(t, resp.Headers["Content-Security-Policy"], "default-src 'none'", "served under its CSP")
	p := page{t, tab}
	// A mark that a reload would wipe out.
	p.eval(`window.rampMark = "set before the rollout moved"; "ok"`)

	// The first step: phase, share, steps, per-version figures.
	p.until(10*time.Second, "the first step", textOf("share"), func(s string) bool { return s == "10%" })
	assert.Equal(t, "progressing", p.text("phase"))
	assert.Equal(t, "v1.4.2 → v1.5.0", p.text("versions"))
	steps := p.eval(`[...document.querySelectorAll("#steps span")].map(s => s.textContent + (s.className ? "/" + s.className : "")).join(" ")`)
	assert.Equal(t, "10%/now 50% 100%", steps)
	assert.Regexp(t, `^step 1 of 3 for \d+s of 3\.00s$`, p.text("stepinfo"))
	assert.Equal(t, "none yet", p.text("verdict"))
	rowsJS := `[...document.querySelectorAll("#vtable tr")].map(r => [...r.cells].map(c => c.textContent).join("|")).join("\n")`
	rows := p.until(10*time.Second, "requests for both versions", rowsJS, func(s string) bool {
		return regexp.MustCompile(`(?m)^stable\|v1\.4\.2\|http://127\.0\.0\.1:\d+\|[1-9][\d,]*\|0\|0\.00%\|`).MatchString(s) &&
			regexp.MustCompile(`(?m)^canary\|v1\.5\.0\|http://127\.0\.0\.1:\d+\|[1-9][\d,]*\|0\|0\.00%\|`).MatchString(s)
	})
	t.Logf("first step: share %s, steps %q, versions:\n%s", p.text("share"), steps, rows)

	// The step's analysis passes after 3s and the rollout moves on: the
	// page follows without a reload.
	p.until(15*time.Second, "the second step", textOf("share"), func(s string) bool { return s == "50%" })
	assert.Equal(t, "set before the rollout moved", p.eval(`window.rampMark || "reloaded"`), "updated in place, not reloaded")
	steps = p.eval(`[...document.querySelectorAll("#steps span")].map(s => s.textContent + (s.className ? "/" + s.className : "")).join(" ")`)
	assert.Equal(t, "10%/done 50%/now 100%", steps)
	verdict := p.until(5*time.Second, "the first step's verdict", textOf("verdict"), func(s string) bool { return strings.HasPrefix(s, "pass: ") })
	assert.Contains(t, verdict, "5xx rate")
	t.Logf("second step: share %s, steps %q, last verdict %q", p.text("share"), steps, verdict)
	assert.True(t, p.eval(`String(document.getElementById("reason").hidden)`) == "true", "no reason while all is well")

	// The page's own buttons work under the CSP: pause with a wrong
	// token is refused, with the right one it pauses; resume.
	click := func(op, token string) string {
		p.eval(fmt.Sprintf(`document.getElementById("opresult").textContent = ""; document.getElementById("token").value = %q;
			document.querySelector('button[data-op=%q]').click(); "ok"`, token, op))
		return p.until(10*time.Second, op+"'s answer", textOf("opresult"), func(s string) bool { return s != "" })
	}
	assert.Equal(t, "pause: 401 — wrong admin token", click("pause", "not-it"))
	assert.Equal(t, "pause: 200 — phase paused", click("pause", "t"))
	p.until(5*time.Second, "paused", textOf("phase"), func(s string) bool { return s == "paused" })
	assert.Equal(t, "resume: 200 — phase progressing", click("resume", "t"))
	p.until(5*time.Second, "progressing", textOf("phase"), func(s string) bool { return s == "progressing" })

	// The canary breaks: the guard rolls back and the page says why.
	bad.Store(true)
	p.until(15*time.Second, "the rollback", textOf("phase"), func(s string) bool { return s == "rolled back" })
	reason := p.until(5*time.Second, "the reason", textOf("reason"), func(s string) bool { return strings.HasPrefix(s, "Reason: guard: ") })
	assert.Equal(t, "false", p.eval(`String(document.getElementById("reason").hidden)`))
	assert.Contains(t, reason, "5xx rate")
	assert.Equal(t, "0%", p.until(5*time.Second, "share 0%", textOf("share"), func(s string) bool { return s == "0%" }))
	rows = p.eval(rowsJS)
	canaryErrors := regexp.MustCompile(`(?m)^canary\|v1\.5\.0\|[^|]*\|[\d,]+\|([\d,]+)\|`).FindStringSubmatch(rows)
	require.NotNil(t, canaryErrors, rows)
	n, _ := strconv.Atoi(strings.ReplaceAll(canaryErrors[1], ",", ""))
	assert.Positive(t, n, "the canary's 5xx are counted")
	events := p.until(5*time.Second, "the rollback in the events", `[...document.querySelectorAll("#events div")].map(d => d.textContent).join("\n")`,
		func(s string) bool { return strings.Contains(s, "rolled_back") })
	assert.Regexp(t, `(?m)rolled_back  step 2 of 3  0%  — guard: `, events, "events name steps as the step shown does")
	assert.Regexp(t, `(?m)analysis  step 1 of 3  10%  pass  — `, events)
	assert.Equal(t, "set before the rollout moved", p.eval(`window.rampMark || "reloaded"`))
	t.Logf("after the rollback: phase %q, %s, versions:\n%s", p.text("phase"), reason, rows)

	// The four keys from the rollout's history: one deployment, rolled
	// back.
	keys := p.until(5*time.Second, "the four keys", `[...document.querySelectorAll("#dtable tr")].map(r => [...r.cells].map(c => c.textContent).join("|")).join("\n")`,
		func(s string) bool { return strings.Contains(s, "change failure rate|100%|low|1 deployment") })
	assert.Contains(t, keys, "deployment frequency|0.03 a day|medium|1 deployment")
	assert.Regexp(t, `(?m)^time to restore\|[\d.]+(ms|s)\|elite\|1 deployment$`, keys)
	assert.Contains(t, keys, "lead time for changes|n/a|unknown|0 deployments")

	// Charts drew from the samples.
	assert.NotEqual(t, "0", p.eval(`String(document.querySelectorAll("#sharechart polyline").length)`), "the share chart has a line")

	// Nothing on the console: no CSP violation (the browser log reports
	// those as errors), no script error, no failed request.
	msgs := con.all()
	for _, m := range msgs {
		if strings.Contains(m, "status of 401") && strings.Contains(m, "/pause:") {
			continue // the browser logs the refused pause with the wrong token, as it should
		}
		for _, kind := range []string{"error:", "warning:", "exception:"} {
			assert.False(t, strings.HasPrefix(m, kind), "console: %s", m)
		}
	}
	t.Logf("console messages: %d %q", len(msgs), msgs)
}
