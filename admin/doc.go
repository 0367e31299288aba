// Package admin serves the operator's API of a rollout over HTTP: a JSON
// status, the operations (promote, promote fully, pause, resume, abort,
// retry) behind a bearer token, a status page and, when the host gives
// one, its Prometheus metrics. It is the API of examples/canaryproxy and
// of cmd/rampctl, and a host mounts it in its own server in one line:
//
//	mux.Handle("/ramp/", http.StripPrefix("/ramp", admin.NewHandler(rollout, admin.Options{Token: token})))
//
// # Endpoints
//
//	GET  /          status page (inline script and style under a strict CSP; loads nothing else)
//	GET  /status    JSON Status: phase, canary_percent, step, steps, reason, last verdict, versions, history, delivery
//	GET  /metrics   Options.Metrics (404 when nil)
//	GET  /healthz   200 "ok"
//	POST /promote       leave the current step now
//	POST /promote-full  skip the remaining steps
//	POST /pause         hold the current step
//	POST /resume        continue a paused rollout
//	POST /abort         roll back; reason in ?reason= or the body (text, or JSON {"reason": …})
//	POST /retry         reset a rolled-back rollout to start again (the host's next Run starts it)
//
// The operations need "Authorization: Bearer <Options.Token>". They answer
// 200 with an OpResult, 401 without the token or with a wrong one (the
// tokens are compared as SHA-256 digests in constant time), 403 when
// Options.Token is empty (the API is then read-only), 409 when the
// operation does not apply to the phase, 400 for a body that cannot be
// read and 413 for one over 4 KiB. An abort waits until stable has all
// traffic back, for at most Options.AbortTimeout; past it the answer is
// 202 and the rollback goes on. The other operations wait up to a second
// for the rollout to act on them, so that the phase in the answer is the
// one they led to.
//
// # Events and the timeline
//
// The history in /status comes from an Events log the host feeds from
// ramp.Config.OnEvent; the page's charts from samples of the share and
// per-version counts the handler takes at most once a second when /status
// is read, and every second while Handler.Run runs.
//
// # The four keys
//
// Status.Delivery holds deployment frequency, lead time for changes,
// change failure rate and time to restore, computed with release.KeysOf
// from the rollout's history over Options.DeliveryWindow (30 days by
// default), each placed in its band of the 2023 DORA report; the page
// shows them. The history holds one rollout's revisions (up to
// ramp.Config.HistoryLimit), so these are the keys of that service as
// far as its history reaches.
//
// The handler holds no lock while it reads the request or the rollout: an
// abort is never queued behind a slow status read.
package admin
