package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/internal/integration"
)

// recorder is a testing.TB that records failures and logs instead of
// reporting them; everything else (Helper, Cleanup, TempDir) goes to the
// real test it wraps.
type recorder struct {
	testing.TB
	failed bool
	fatal  string
	logs   []string
}

func (r *recorder) Failed() bool { return r.failed }

func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// inGoroutine runs f where its Goexit ends only f.
func inGoroutine(f func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	<-done
}

func TestStartProcess(t *testing.T) {
	for _, tc := range []struct {
		name        string
		script      string
		stopTimeout time.Duration
		wantErr     string
	}{
		{name: "stops on SIGTERM", script: "echo hi; exec sleep 30", stopTimeout: 10 * time.Second, wantErr: "signal: terminated"},
		// The ignored SIGTERM stays ignored across exec.
		{name: "killed when it ignores SIGTERM", script: "trap '' TERM; echo hi; exec sleep 30", stopTimeout: 100 * time.Millisecond, wantErr: "signal: killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *integration.Process
			start := time.Now()
			t.Run("running", func(t *testing.T) {
				p = integration.StartProcess(t, exec.Command("/bin/sh", "-c", tc.script))
				p.StopTimeout = tc.stopTimeout
				p.WaitReady(t, 5*time.Second, func() bool { return p.Output() != "" })
				assert.Equal(t, "hi\n", p.Output())
				assert.NoError(t, p.Err(), "still running")
				select {
				case <-p.Exited():
					t.Fatal("exited early")
				default:
				}
			})
			select {
			case <-p.Exited():
			default:
				t.Fatal("still running after its test ended")
			}
			require.EqualError(t, p.Err(), tc.wantErr)
			assert.Less(t, time.Since(start), 5*time.Second, "stopped well before sleep 30 ends")
		})
	}
}

func TestWaitReadyFails(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    string
		wantFatal string
	}{
		{name: "process exits", script: "echo bad config >&2; exit 3", wantFatal: "sh exited before it was ready: exit status 3"},
		{name: "never ready", script: "echo bad config >&2; exec sleep 30", wantFatal: "sh not ready after 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *recorder
			t.Run("start", func(t *testing.T) {
				r = &recorder{TB: t}
				p := integration.StartProcess(r, exec.Command("/bin/sh", "-c", tc.script))
				inGoroutine(func() {
					p.WaitReady(r, 200*time.Millisecond, func() bool { return false })
					r.fatal = "WaitReady returned"
				})
			})
			assert.Equal(t, tc.wantFatal, r.fatal)
			// The cleanup logged the output of the failed test's process.
			require.Len(t, r.logs, 1)
			assert.Equal(t, "sh output:\nbad config\n", r.logs[0])
		})
	}
}

func TestStartProcessNoOutputLogWhenPassing(t *testing.T) {
	var r *recorder
	t.Run("start", func(t *testing.T) {
		r = &recorder{TB: t}
		p := integration.StartProcess(r, exec.Command("/bin/sh", "-c", "echo hi; exec sleep 30"))
		p.WaitReady(r, 5*time.Second, func() bool { return strings.Contains(p.Output(), "hi") })
	})
	assert.Empty(t, r.logs)
}

func TestStartPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prometheus server")
	}
	targets := []string{integration.FreeAddr(t), integration.FreeAddr(t)}
	url := integration.StartPrometheus(t, targets...)

	// The configuration Prometheus loaded, as it marshals it back.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url + "/api/v1/status/config")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got struct {
		Data struct {
			YAML string `json:"yaml"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	for _, want := range []string{"job_name: ramp", "scrape_interval: 1s", "- " + targets[0], "- " + targets[1]} {
		assert.Contains(t, got.Data.YAML, want)
	}
}
