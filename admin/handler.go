package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/strategy"
)

// DefaultAbortTimeout is how long POST /abort waits for the rollback when
// Options.AbortTimeout is zero.
const DefaultAbortTimeout = 30 * time.Second

// MaxBodyBytes bounds the body an operation reads (the abort reason).
const MaxBodyBytes = 4 << 10

// opSettle bounds how long an operation's answer waits for the rollout to
// change (an abort waits for the rollback itself).
const opSettle = time.Second

const (
	sampleEvery = time.Second
	maxSamples  = 600 // ten minutes of charts
)

// Figures gives per-version request figures; *analysis.Recorder is one.
type Figures interface {
	// Total is everything recorded for version.
	Total(version string) analysis.Window
	// Window is what was recorded for version between since and until
	// (until zero: now).
	Window(version string, since, until time.Time) analysis.Window
}

// Limits are the thresholds shown on the status page.
type Limits struct {
	MaxErrorRate float64
	MaxP99       time.Duration
	MinSamples   int64
}

// Options configure a Handler. The zero value serves a read-only API
// without figures, history or metrics.
type Options struct {
	// Token is the bearer token the operations require. Empty: every
	// operation is refused with 403 Forbidden.
	Token string
	// Steps is the plan shown in /status and on the page; nil: none shown.
	Steps []strategy.Step
	// Figures gives per-version counts, error rates and p99; nil: zeros.
	Figures Figures
	// Upstreams maps a version label to where it runs, shown as is (give
	// redacted URLs).
	Upstreams map[string]string
	// Limits are drawn on the page; zero: not drawn.
	Limits Limits
	// Events is the history shown; nil: none. Feed it from
	// ramp.Config.OnEvent.
	Events *Events
	// Metrics serves GET /metrics; nil: 404.
	Metrics http.Handler
	// AbortTimeout bounds how long POST /abort waits for stable to have
	// all traffic back; past it the answer is 202 and the rollback goes
	// on. Zero or negative: DefaultAbortTimeout.
	AbortTimeout time.Duration
	// Logger, when set, gets a line per operation and per refusal (never
	// the token).
	Logger *slog.Logger
	// DeliveryWindow is the span the four keys in /status (Status.Delivery)
	// are computed over. Zero or negative: DefaultDeliveryWindow (30 days).
	DeliveryWindow time.Duration
}

func (h *Handler) deliveryWindow() time.Duration {
	if h.opts.DeliveryWindow > 0 {
		return h.opts.DeliveryWindow
	}
	return DefaultDeliveryWindow
}

// Handler is the admin API of one rollout. Make it with NewHandler.
type Handler struct {
	rollout *ramp.Rollout
	opts    Options
	steps   []Step
	want    [sha256.Size]byte
	mux     *http.ServeMux

	mu      sync.Mutex
	samples []Sample
}

// NewHandler returns the admin API of r.
func NewHandler(r *ramp.Rollout, opts Options) *Handler {
	if opts.AbortTimeout <= 0 {
		opts.AbortTimeout = DefaultAbortTimeout
	}
	h := &Handler{rollout: r, opts: opts, want: sha256.Sum256([]byte(opts.Token)), mux: http.NewServeMux(), steps: []Step{}}
	for _, s := range opts.Steps {
		hold := s.EffectiveHold()
		if hold == strategy.UntilPromoted {
			hold = -time.Second
		}
		h.steps = append(h.steps, Step{Percent: s.Percent, DurationSeconds: hold.Seconds()})
	}
	h.mux.HandleFunc("GET /{$}", servePage)
	h.mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, h.status()) })
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	if opts.Metrics != nil {
		h.mux.Handle("GET /metrics", opts.Metrics)
	}
	for name, op := range map[string]func(*http.Request) (int, error){
		"promote":      func(*http.Request) (int, error) { return http.StatusOK, r.Promote() },
		"promote-full": func(*http.Request) (int, error) { return http.StatusOK, r.PromoteFully() },
		"pause":        func(*http.Request) (int, error) { return http.StatusOK, r.Pause() },
		"resume":       func(*http.Request) (int, error) { return http.StatusOK, r.Resume() },
		"retry":        func(req *http.Request) (int, error) { return http.StatusOK, r.Retry(req.Context()) },
		"abort":        h.abort,
	} {
		h.mux.HandleFunc("POST /"+name, func(w http.ResponseWriter, req *http.Request) { h.serveOp(w, req, name, op) })
	}
	return h
}

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Run samples the timeline of the page's charts every second until ctx
// ends, so that they cover the time nobody was watching. Without it,
// samples are taken only when /status is read.
func (h *Handler) Run(ctx context.Context) {
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		h.sampleIfDue(h.rollout.Status())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (h *Handler) serveOp(w http.ResponseWriter, req *http.Request, name string, op func(*http.Request) (int, error)) {
	if code, msg := h.authorize(req); code != 0 {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ramp"`)
		}
		h.log(slog.LevelWarn, "admin: refused", "op", name, "remote", req.RemoteAddr, "status", code)
		writeJSON(w, code, OpResult{Op: name, Error: msg})
		return
	}
	changed := h.rollout.Changed()
	code, err := op(req)
	if err == nil && name != "abort" {
		// The driver carries the operation out: wait a moment for it, so
		// that the answer shows its effect rather than the phase before.
		t := time.NewTimer(opSettle)
		select {
		case <-changed:
		case <-t.C:
		case <-req.Context().Done():
		}
		t.Stop()
	}
	switch {
	case errors.Is(err, ramp.ErrPhase):
		code = http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusAccepted // the rollback goes on
	case err != nil && code < 400:
		code = http.StatusInternalServerError
	}
	st := h.rollout.Status()
	h.log(slog.LevelInfo, "admin: "+name, "remote", req.RemoteAddr, "status", code, "phase", st.Phase.String(), "err", err)
	res := OpResult{Op: name, Phase: st.Phase.String(), CanaryPercent: st.Percent, Step: st.Step}
	if err != nil {
		res.Error = err.Error()
	}
	writeJSON(w, code, res)
}

func (h *Handler) log(level slog.Level, msg string, args ...any) {
	if h.opts.Logger != nil {
		h.opts.Logger.Log(context.Background(), level, msg, args...)
	}
}

// authorize returns 0 when r carries the token, or the status and message
// to refuse it with. The tokens are compared as SHA-256 digests in
// constant time, so that neither their content nor their length leaks
// through timing. The message never repeats what the client sent.
func (h *Handler) authorize(r *http.Request) (int, string) {
	if h.opts.Token == "" {
		return http.StatusForbidden, "admin operations are disabled: no admin token is configured"
	}
	auth := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(auth) < len(scheme) || !strings.EqualFold(auth[:len(scheme)], scheme) {
		return http.StatusUnauthorized, "missing Authorization: Bearer <token>"
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(auth[len(scheme):])))
	if subtle.ConstantTimeCompare(got[:], h.want[:]) != 1 {
		return http.StatusUnauthorized, "wrong admin token"
	}
	return 0, ""
}

// abort rolls back with the reason given in ?reason= or in the body
// (plain text, or JSON {"reason": "..."}).
func (h *Handler) abort(r *http.Request) (int, error) {
	reason := r.URL.Query().Get("reason")
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("reason: body over %d bytes", MaxBodyBytes)
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
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.AbortTimeout)
	defer cancel()
	return http.StatusOK, h.rollout.Abort(ctx, reason)
}

// cleanReason keeps a reason to one printable line of at most 500 runes.
// Control characters become spaces; bidirectional overrides and isolates
// go, so that a reason cannot reorder how the text around it reads on the
// page or in a terminal.
func cleanReason(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 500 {
		s = string(r[:500]) + "…"
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away, or v is ours and always encodes
}
