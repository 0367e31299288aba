package rollback

import (
	"bytes"
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
	"net/url"
	"sort"
	"strings"
)

// DefaultWebhookMaxBody is the request body limit when
// Webhook.MaxBodyBytes is 0.
const DefaultWebhookMaxBody = 64 << 10

// Webhook is an http.Handler through which another system — an alerting
// rule, an incident bot, a deploy pipeline — demands a rollback, and the
// Trigger that delivers those demands to the rollouts watching it. A host
// mounts it on a route of its own choosing:
//
//	mux.Handle("POST /rollback", hook)
//
// # Authentication
//
// Every request must carry the shared secret as a bearer token:
//
//	Authorization: Bearer <Secret>
//
// The token is compared in constant time (both sides are hashed with
// SHA-256 first, so neither the content nor the length of the secret
// leaks through timing). A request without the header, with another
// scheme or with a wrong token is answered 401, logged at warning level
// when Logger is set (the token itself is never logged) and never acted
// on. A Webhook whose Secret is empty refuses every request.
//
// # Request
//
// Only POST is accepted (405 otherwise). The body, at most MaxBodyBytes
// (413 beyond), is either
//
//   - JSON (any Content-Type but a form): {"reason": "p99 over SLO", "canary": "v1.4.2"}.
//     "canary" is optional and narrows the demand to rollouts of that
//     canary version (a ?canary= query parameter does the same, for
//     senders whose body format is fixed). A body in Alertmanager's webhook format (version 4)
//     is understood too: its firing alerts become the reason
//     ("alertname: summary"), and a notification with no firing alert is
//     answered 200 and ignored, so resolved notifications roll nothing
//     back.
//   - a form (application/x-www-form-urlencoded) with fields reason and,
//     optionally, canary; query parameters of the same names count too.
//
// A missing or empty reason or a malformed body is answered 400.
//
// # Response
//
// 202 Accepted when at least one rollout is watching and took the demand;
// the rollback itself happens asynchronously in the engine. 409 Conflict
// when no rollout (of that canary) is watching: demands are not queued for
// a later rollout, because a stale demand must never roll back the next
// release. 429 when the watching rollouts already hold too many
// undelivered demands. Every response body is JSON: {"status": ...,
// "rollouts": n} or {"error": ...}.
//
// Reasons are recorded as "webhook: <reason>", with control characters
// replaced and the length bounded.
//
// Webhook's zero value refuses every request (empty Secret); set Secret.
// It must not be copied after first use.
type Webhook struct {
	// Secret is the shared bearer token. Required: empty refuses all.
	Secret string
	// MaxBodyBytes bounds the request body; 0 means DefaultWebhookMaxBody.
	MaxBodyBytes int64
	// Logger, when set, receives a warning for every refused request and
	// an info line for every accepted demand. nil: silent.
	Logger *slog.Logger

	hub hub
}

// Validate reports whether w can accept requests.
func (w *Webhook) Validate() error {
	var errs []error
	if w.Secret == "" {
		errs = append(errs, errors.New("rollback webhook: secret: empty (every request would be refused)"))
	}
	if w.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("rollback webhook: max body bytes: %d is negative", w.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// Watch delivers every accepted demand to fire until ctx is done; then it
// returns nil.
func (w *Webhook) Watch(ctx context.Context, t Target, fire func(reason string)) error {
	return w.hub.watch(ctx, t, fire)
}

// Watching reports how many rollouts are watching w now.
func (w *Webhook) Watching() int { return w.hub.count() }

// ServeHTTP handles one rollback demand; see Webhook for the protocol.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		writeJSON(rw, http.StatusMethodNotAllowed, map[string]any{"error": "method " + r.Method + " not allowed; use POST"})
		return
	}
	if why := w.authorize(r); why != "" {
		if w.Logger != nil {
			w.Logger.LogAttrs(r.Context(), slog.LevelWarn, "rollback webhook: request refused",
				slog.String("why", why), slog.String("remote", r.RemoteAddr), slog.String("path", r.URL.Path))
		}
		rw.Header().Set("WWW-Authenticate", `Bearer realm="ramp rollback"`)
		writeJSON(rw, http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
		return
	}
	limit := w.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultWebhookMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(rw, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("body over %d bytes", limit)})
			return
		}
		writeJSON(rw, http.StatusBadRequest, map[string]any{"error": "reading body: " + err.Error()})
		return
	}
	d, err := parseDemand(r.Header.Get("Content-Type"), body, r.URL.Query())
	if err != nil {
		writeJSON(rw, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	if d.ignore {
		writeJSON(rw, http.StatusOK, map[string]any{"status": "ignored", "detail": "no firing alert"})
		return
	}
	reason := "webhook: " + d.reason
	n, err := w.hub.send(d.canary, reason)
	switch {
	case errors.Is(err, ErrNotWatched):
		msg := "no rollout is watching"
		if d.canary != "" {
			msg = "no rollout of canary " + d.canary + " is watching"
		}
		writeJSON(rw, http.StatusConflict, map[string]any{"error": msg})
		return
	case err != nil:
		writeJSON(rw, http.StatusTooManyRequests, map[string]any{"error": err.Error()})
		return
	}
	if w.Logger != nil {
		w.Logger.LogAttrs(r.Context(), slog.LevelInfo, "rollback webhook: rollback demanded",
			slog.String("reason", d.reason), slog.String("canary", d.canary),
			slog.Int("rollouts", n), slog.String("remote", r.RemoteAddr))
	}
	writeJSON(rw, http.StatusAccepted, map[string]any{"status": "accepted", "rollouts": n})
}

// authorize returns why r is refused, or "" when it carries the secret.
func (w *Webhook) authorize(r *http.Request) string {
	if w.Secret == "" {
		return "webhook has no secret configured"
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return "no Authorization header"
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "Authorization scheme is not Bearer"
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(w.Secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return "wrong secret"
	}
	return ""
}

// demand is a parsed webhook request.
type demand struct {
	reason, canary string
	ignore         bool // an Alertmanager notification with nothing firing
}

// webhookBody is the JSON accepted by Webhook: ramp's own fields plus the
// parts of Alertmanager's webhook payload (version 4) that matter here.
type webhookBody struct {
	Reason string `json:"reason"`
	Canary string `json:"canary"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// parseDemand decodes a webhook body. query supplies reason and canary for
// form requests.
func parseDemand(contentType string, body []byte, query url.Values) (demand, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return demand{}, fmt.Errorf("form body: %w", err)
		}
		get := func(k string) string {
			if v := form.Get(k); v != "" {
				return v
			}
			return query.Get(k)
		}
		d := demand{reason: cleanReason(get("reason"), ""), canary: strings.TrimSpace(get("canary"))}
		if d.reason == "" {
			return demand{}, errors.New(`form field "reason" is missing or empty`)
		}
		return d, nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if reason := cleanReason(query.Get("reason"), ""); reason != "" {
			return demand{reason: reason, canary: strings.TrimSpace(query.Get("canary"))}, nil
		}
		return demand{}, errors.New(`empty body: send JSON {"reason": "..."} or a form with field "reason"`)
	}
	var b webhookBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return demand{}, fmt.Errorf("JSON body: %w", err)
	}
	if dec.More() {
		return demand{}, errors.New("JSON body: more than one value")
	}
	d := demand{reason: cleanReason(b.Reason, ""), canary: strings.TrimSpace(b.Canary)}
	if d.canary == "" {
		d.canary = strings.TrimSpace(query.Get("canary"))
	}
	if d.reason != "" {
		return d, nil
	}
	if b.Alerts == nil {
		return demand{}, errors.New(`JSON body: field "reason" is missing or empty`)
	}
	var firing []string
	for _, a := range b.Alerts {
		if a.Status != "firing" {
			continue
		}
		s := a.Labels["alertname"]
		if s == "" {
			s = "unnamed alert"
		}
		if sum := a.Annotations["summary"]; sum != "" {
			s += ": " + sum
		}
		firing = append(firing, s)
	}
	if len(firing) == 0 {
		return demand{ignore: true}, nil
	}
	sort.Strings(firing)
	d.reason = cleanReason("alert firing: "+strings.Join(firing, "; "), "")
	return d, nil
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(code)
	_ = json.NewEncoder(rw).Encode(v)
}
