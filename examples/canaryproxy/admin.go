package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
)

// abortTimeout bounds how long POST /abort waits for stable to have all
// traffic back; past it the answer is 202 and the rollback goes on.
const abortTimeout = 30 * time.Second

// maxReasonBytes bounds the abort reason read from a request body.
const maxReasonBytes = 4 << 10

func (p *proxy) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.HandleFunc("GET /status", p.serveStatus)
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })

	ops := map[string]func(*http.Request) (int, error){
		"promote":      func(*http.Request) (int, error) { return http.StatusOK, p.rollout.Promote() },
		"promote-full": func(*http.Request) (int, error) { return http.StatusOK, p.rollout.PromoteFully() },
		"pause":        func(*http.Request) (int, error) { return http.StatusOK, p.rollout.Pause() },
		"resume":       func(*http.Request) (int, error) { return http.StatusOK, p.rollout.Resume() },
		"abort":        p.abort,
	}
	want := sha256.Sum256([]byte(p.cfg.adminToken))
	for name, op := range ops {
		mux.HandleFunc("POST /"+name, func(w http.ResponseWriter, r *http.Request) {
			if code, msg := p.authorize(r, want); code != 0 {
				if code == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="canaryproxy"`)
				}
				p.log.Warn("admin: refused", "op", name, "remote", r.RemoteAddr, "status", code)
				writeJSON(w, code, map[string]string{"error": msg})
				return
			}
			code, err := op(r)
			switch {
			case errors.Is(err, ramp.ErrPhase):
				code = http.StatusConflict
			case errors.Is(err, context.DeadlineExceeded):
				code = http.StatusAccepted // the rollback goes on
			case err != nil && code < 400:
				code = http.StatusInternalServerError
			}
			st := p.rollout.Status()
			p.log.Info("admin: "+name, "remote", r.RemoteAddr, "status", code, "phase", st.Phase.String(), "err", err)
			body := map[string]any{"op": name, "phase": st.Phase.String(), "canary_percent": st.Percent, "step": st.Step}
			if err != nil {
				body["error"] = err.Error()
			}
			writeJSON(w, code, body)
		})
	}
	return mux
}

// authorize returns 0 when r carries the admin token, or the status and
// message to refuse it with. The tokens are compared as SHA-256 digests in
// constant time, so that neither their content nor their length leaks
// through timing.
func (p *proxy) authorize(r *http.Request, want [sha256.Size]byte) (int, string) {
	if p.cfg.adminToken == "" {
		return http.StatusForbidden, "admin operations are disabled: start the proxy with -admin-token or $" + tokenEnv
	}
	auth := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(auth) < len(scheme) || !strings.EqualFold(auth[:len(scheme)], scheme) {
		return http.StatusUnauthorized, "missing Authorization: Bearer <token>"
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(auth[len(scheme):])))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return http.StatusUnauthorized, "wrong admin token"
	}
	return 0, ""
}

// abort rolls back with the reason given in ?reason= or in the body
// (plain text, or JSON {"reason": "..."}).
func (p *proxy) abort(r *http.Request) (int, error) {
	reason := r.URL.Query().Get("reason")
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxReasonBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("reason: body over %d bytes", maxReasonBytes)
	case err != nil: // malformed chunks, or fewer bytes than Content-Length
		return http.StatusBadRequest, fmt.Errorf("body: unreadable: %v", err)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" && len(body) > 0 {
		var in struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return http.StatusBadRequest, fmt.Errorf("body: %v", err)
		}
		body = []byte(in.Reason)
	}
	if reason == "" {
		reason = string(body)
	}
	reason = cleanReason(reason)
	if reason == "" {
		reason = "aborted via the admin API"
	} else {
		reason = "aborted via the admin API: " + reason
	}
	ctx, cancel := context.WithTimeout(r.Context(), abortTimeout)
	defer cancel()
	return http.StatusOK, p.rollout.Abort(ctx, reason)
}

// cleanReason keeps a reason to one printable line of at most 500 runes.
func cleanReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 500 {
		s = string(r[:500]) + "…"
	}
	return s
}

// statusJSON is the body of GET /status.
type statusJSON struct {
	// Phase is pending, progressing, paused, rolling_back, succeeded or
	// rolled_back.
	Phase         string  `json:"phase"`
	CanaryPercent float64 `json:"canary_percent"`
	// Step indexes Steps; -1 before the first step, len(Steps) after
	// success.
	Step          int        `json:"step"`
	Steps         []stepJSON `json:"steps"`
	StepStartedAt time.Time  `json:"step_started_at,omitzero"`
	// Reason says why the rollout rolled back (or paused itself).
	Reason      string       `json:"reason"`
	Reasons     []string     `json:"reasons,omitempty"`
	LastVerdict *verdictJSON `json:"last_verdict,omitempty"`
	// Versions are keyed "stable" and "canary".
	Versions   map[string]versionJSON `json:"versions"`
	Limits     limitsJSON             `json:"limits"`
	StartedAt  time.Time              `json:"started_at,omitzero"`
	FinishedAt time.Time              `json:"finished_at,omitzero"`
	// History is the rollout's recent events, oldest first.
	History []eventJSON `json:"history"`
	// Timeline is a sample a second of the share and cumulative counts.
	Timeline  []sampleJSON        `json:"timeline"`
	Revisions []rollback.Revision `json:"revisions,omitempty"`
}

type stepJSON struct {
	Percent         float64 `json:"percent"`
	DurationSeconds float64 `json:"duration_seconds"`
}

type versionJSON struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	// Since the proxy started.
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	P99Seconds float64 `json:"p99_seconds"`
	// Step counts the requests of the step in force: what its analysis
	// judges.
	Step windowJSON `json:"step"`
}

type windowJSON struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	P99Seconds float64 `json:"p99_seconds"`
}

type limitsJSON struct {
	MaxErrorRate  float64 `json:"max_error_rate"`
	MaxP99Seconds float64 `json:"max_p99_seconds"`
	MinSamples    int64   `json:"min_samples"`
}

type verdictJSON struct {
	Verdict string            `json:"verdict"`
	Reason  string            `json:"reason"`
	At      time.Time         `json:"at,omitzero"`
	Metrics []measurementJSON `json:"metrics,omitempty"`
}

// measurementJSON is an analysis.Measurement with the NaN and infinite
// values JSON cannot carry written as null.
type measurementJSON struct {
	Name    string   `json:"name"`
	Verdict string   `json:"verdict"`
	Value   *float64 `json:"value"`
	Min     *float64 `json:"min"`
	Max     *float64 `json:"max"`
	Samples int64    `json:"samples"`
	Reason  string   `json:"reason"`
}

func (p *proxy) status() statusJSON {
	st := p.rollout.Status()
	events, samples := p.timeline.snapshot()
	out := statusJSON{
		Phase:         st.Phase.String(),
		CanaryPercent: st.Percent,
		Step:          st.Step,
		StepStartedAt: st.StepStartedAt,
		Reason:        st.Reason,
		Reasons:       st.Reasons,
		Versions:      map[string]versionJSON{},
		Limits: limitsJSON{
			MaxErrorRate:  p.cfg.maxErrorRate,
			MaxP99Seconds: p.cfg.maxP99.Seconds(),
			MinSamples:    p.cfg.minSamples,
		},
		StartedAt:  st.StartedAt,
		FinishedAt: st.FinishedAt,
		History:    events,
		Timeline:   samples,
		Revisions:  st.History,
	}
	for _, s := range p.cfg.steps {
		out.Steps = append(out.Steps, stepJSON{Percent: s.Percent, DurationSeconds: s.Hold.Seconds()})
	}
	if res := st.LastResult; !res.At.IsZero() {
		out.LastVerdict = verdictOf(res)
	}
	for _, v := range []struct{ role, label, url string }{
		{"stable", p.cfg.stableVersion, p.cfg.stable.Redacted()},
		{"canary", p.cfg.canaryVersion, p.cfg.canary.Redacted()},
	} {
		total := p.rec.Total(v.label)
		vj := versionJSON{Version: v.label, URL: v.url, Requests: total.Requests, Errors: total.Errors,
			ErrorRate: total.ErrorRate(), P99Seconds: total.Latency.Quantile(0.99).Seconds()}
		if !st.Phase.Done() && !st.StepStartedAt.IsZero() {
			w := p.rec.Window(v.label, st.StepStartedAt, time.Time{})
			vj.Step = windowJSON{Requests: w.Requests, Errors: w.Errors, ErrorRate: w.ErrorRate(),
				P99Seconds: w.Latency.Quantile(0.99).Seconds()}
		}
		out.Versions[v.role] = vj
	}
	return out
}

func verdictOf(res analysis.Result) *verdictJSON {
	v := &verdictJSON{Verdict: res.Verdict.String(), Reason: res.Reason, At: res.At}
	for _, m := range res.Metrics {
		v.Metrics = append(v.Metrics, measurementJSON{
			Name: m.Name, Verdict: m.Verdict.String(), Value: finite(m.Canary), Min: finite(m.Lower), Max: finite(m.Upper),
			Samples: m.CanaryN, Reason: m.Reason,
		})
	}
	return v
}

func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func (p *proxy) serveStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.status())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away, or v is ours and always encodes
}

// statusPage is the page GET / serves. It loads nothing from anywhere: its
// style and script are inline, allowed by their hashes in the
// Content-Security-Policy, which forbids everything else.
//
//go:embed status.html
var statusPage string

var pageCSP = func() string {
	hash := func(open, close string) string {
		_, rest, _ := strings.Cut(statusPage, open)
		body, _, _ := strings.Cut(rest, close)
		sum := sha256.Sum256([]byte(body))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; connect-src 'self'; img-src 'self' data:; " +
		"style-src " + hash("<style>", "</style>") + "; script-src " + hash("<script>", "</script>") +
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

func servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	io.WriteString(w, statusPage)
}
