package rollback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secret = "s3cr3t-token"

func post(t *testing.T, h http.Handler, auth, ctype, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/rollback", strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestWebhookRefusesWithoutSecret(t *testing.T) {
	var logs bytes.Buffer
	hook := &Webhook{Secret: secret, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	f := newFires()
	watch(t, hook, target, f)
	waitFor(t, "watcher", func() bool { return hook.hub.count() == 1 })

	for _, tc := range []struct{ name, auth, why string }{
		{"no header", "", "no Authorization header"},
		{"wrong secret", "Bearer nope", "wrong secret"},
		{"secret prefix", "Bearer " + secret[:5], "wrong secret"},
		{"secret plus suffix", "Bearer " + secret + "x", "wrong secret"},
		{"basic scheme", "Basic " + secret, "Authorization scheme is not Bearer"},
		{"no scheme", secret, "Authorization scheme is not Bearer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			w := post(t, hook, tc.auth, "application/json", `{"reason":"evil"}`)
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Contains(t, w.Header().Get("WWW-Authenticate"), "Bearer")
			assert.Contains(t, logs.String(), "level=WARN")
			assert.Contains(t, logs.String(), tc.why)
			assert.NotContains(t, logs.String(), "nope", "the offered token is never logged")
		})
	}
	assert.Empty(t, f.all(), "a refused request is never acted on")
}

func TestWebhookEmptySecretRefusesAll(t *testing.T) {
	hook := &Webhook{}
	require.Error(t, hook.Validate())
	f := newFires()
	watch(t, hook, target, f)
	waitFor(t, "watcher", func() bool { return hook.hub.count() == 1 })
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		assert.Equal(t, http.StatusUnauthorized, post(t, hook, auth, "", `{"reason":"x"}`).Code, auth)
	}
	assert.Empty(t, f.all())
}

func TestWebhookSilentWithoutLogger(t *testing.T) {
	// No logger: refusing must not panic or write anywhere.
	hook := &Webhook{Secret: secret}
	assert.Equal(t, http.StatusUnauthorized, post(t, hook, "Bearer bad", "", `{}`).Code)
}

func TestWebhookAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body, want string
	}{
		{"json", "application/json", `{"reason":"error budget burn 14x"}`, "webhook: error budget burn 14x"},
		{"json without content type", "", `{"reason":"x"}`, "webhook: x"},
		{"json charset", "application/json; charset=utf-8", `{"reason":"y"}`, "webhook: y"},
		{"form", "application/x-www-form-urlencoded", `reason=p99+over+SLO`, "webhook: p99 over SLO"},
		{"control chars", "application/json", `{"reason":"line1\nfake log line"}`, "webhook: line1 fake log line"},
		{"alertmanager", "application/json", `{"version":"4","status":"firing","alerts":[
			{"status":"firing","labels":{"alertname":"HighErrorRate"},"annotations":{"summary":"5xx over 2%"}},
			{"status":"resolved","labels":{"alertname":"Old"}},
			{"status":"firing","labels":{"alertname":"Apdex"}}]}`, "webhook: alert firing: Apdex; HighErrorRate: 5xx over 2%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook := &Webhook{Secret: secret}
			f := newFires()
			watch(t, hook, target, f)
			waitFor(t, "watcher", func() bool { return hook.hub.count() == 1 })
			w := post(t, hook, "Bearer "+secret, tc.ctype, tc.body)
			require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
			var resp map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
			assert.Equal(t, "accepted", resp["status"])
			assert.EqualValues(t, 1, resp["rollouts"])
			assert.Equal(t, tc.want, f.next(t))
		})
	}
}

func TestWebhookRejects(t *testing.T) {
	hook := &Webhook{Secret: secret, MaxBodyBytes: 128}
	f := newFires()
	watch(t, hook, target, f)
	waitFor(t, "watcher", func() bool { return hook.hub.count() == 1 })
	auth := "Bearer " + secret
	for _, tc := range []struct {
		name, ctype, body string
		code              int
		msg               string
	}{
		{"empty body", "application/json", "", 400, "empty body"},
		{"bad json", "application/json", `{"reason":`, 400, "JSON body"},
		{"two values", "application/json", `{"reason":"a"} {"reason":"b"}`, 400, "more than one value"},
		{"wrong type", "application/json", `{"reason":7}`, 400, "JSON body"},
		{"no reason", "application/json", `{"canary":"v2"}`, 400, `"reason" is missing`},
		{"blank reason", "application/json", `{"reason":"   "}`, 400, `"reason" is missing`},
		{"form no reason", "application/x-www-form-urlencoded", `why=x`, 400, `form field "reason"`},
		{"bad form", "application/x-www-form-urlencoded", `reason=%zz`, 400, "form body"},
		{"too big", "application/json", `{"reason":"` + strings.Repeat("x", 200) + `"}`, 413, "body over 128 bytes"},
		{"alert resolved", "application/json", `{"status":"resolved","alerts":[{"status":"resolved","labels":{"alertname":"A"}}]}`, 200, "ignored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := post(t, hook, auth, tc.ctype, tc.body)
			assert.Equal(t, tc.code, w.Code)
			var resp map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
			assert.Contains(t, fmt.Sprint(resp["error"], resp["status"]), tc.msg)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		})
	}
	assert.Empty(t, f.all(), "nothing bad is acted on")
}

func TestWebhookMethod(t *testing.T) {
	hook := &Webhook{Secret: secret}
	w := httptest.NewRecorder()
	hook.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/rollback?reason=x", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, http.MethodPost, w.Header().Get("Allow"))
}

func TestWebhookNotWatched(t *testing.T) {
	hook := &Webhook{Secret: secret}
	w := post(t, hook, "Bearer "+secret, "application/json", `{"reason":"x"}`)
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), "no rollout is watching")

	// After a rollout stopped watching, a demand is refused too (never
	// queued for the next rollout).
	f := newFires()
	stop := watch(t, hook, target, f)
	waitFor(t, "watcher", func() bool { return hook.hub.count() == 1 })
	require.NoError(t, stop())
	assert.Equal(t, http.StatusConflict, post(t, hook, "Bearer "+secret, "", `{"reason":"late"}`).Code)
	f2 := newFires()
	watch(t, hook, target, f2)
	waitFor(t, "watcher", func() bool { return hook.hub.count() == 1 })
	require.Equal(t, http.StatusAccepted, post(t, hook, "Bearer "+secret, "", `{"reason":"now"}`).Code)
	assert.Equal(t, "webhook: now", f2.next(t))
	assert.Empty(t, f.all())
}

func TestWebhookCanaryFilter(t *testing.T) {
	hook := &Webhook{Secret: secret}
	fa, fb := newFires(), newFires()
	watch(t, hook, Target{Stable: "a1", Canary: "a2"}, fa)
	watch(t, hook, Target{Stable: "b1", Canary: "b2"}, fb)
	waitFor(t, "watchers", func() bool { return hook.hub.count() == 2 })
	auth := "Bearer " + secret

	w := post(t, hook, auth, "", `{"reason":"only b","canary":"b2"}`)
	require.Equal(t, http.StatusAccepted, w.Code)
	assert.Equal(t, "webhook: only b", fb.next(t))

	r := httptest.NewRequest(http.MethodPost, "/rollback?canary=a2", strings.NewReader(`{"reason":"only a"}`))
	r.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	hook.ServeHTTP(rec, r)
	require.Equal(t, http.StatusAccepted, rec.Code)
	assert.Equal(t, "webhook: only a", fa.next(t))

	assert.Equal(t, http.StatusConflict, post(t, hook, auth, "", `{"reason":"x","canary":"zz"}`).Code)
	w = post(t, hook, auth, "", `{"reason":"everyone"}`)
	require.Equal(t, http.StatusAccepted, w.Code)
	assert.Contains(t, w.Body.String(), `"rollouts":2`)
	assert.Equal(t, "webhook: everyone", fa.next(t))
	assert.Equal(t, "webhook: everyone", fb.next(t))
	assert.Len(t, fa.all(), 2)
	assert.Len(t, fb.all(), 2)
}

func TestWebhookQueryReason(t *testing.T) {
	hook := &Webhook{Secret: secret}
	f := newFires()
	watch(t, hook, target, f)
	waitFor(t, "watcher", func() bool { return hook.hub.count() == 1 })
	r := httptest.NewRequest(http.MethodPost, "/rollback?reason=from+query", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	w := httptest.NewRecorder()
	hook.ServeHTTP(w, r)
	require.Equal(t, http.StatusAccepted, w.Code)
	assert.Equal(t, "webhook: from query", f.next(t))
}

func TestWebhookValidate(t *testing.T) {
	err := (&Webhook{MaxBodyBytes: -1}).Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secret: empty")
	assert.Contains(t, err.Error(), "max body bytes: -1 is negative")
	require.NoError(t, (&Webhook{Secret: "x"}).Validate())
}

func FuzzParseDemand(f *testing.F) {
	for _, s := range []string{`{"reason":"x"}`, `{"alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`, `reason=a&canary=b`, ``, `{`, `[]`} {
		f.Add("application/json", []byte(s))
		f.Add("application/x-www-form-urlencoded", []byte(s))
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		d, err := parseDemand(ctype, body, nil)
		if err != nil {
			return
		}
		if d.ignore {
			return
		}
		if d.reason == "" || len(d.reason) > maxReasonLen+len("…") {
			t.Fatalf("accepted demand with reason %q", d.reason)
		}
		if strings.ContainsAny(d.reason, "\n\r\x00") {
			t.Fatalf("control character in reason %q", d.reason)
		}
	})
}
