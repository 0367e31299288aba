// Package rollback decides when to give up on a new version, and keeps the
// history of what was live.
//
// # Triggers and gates
//
// A Trigger watches something and demands a rollback with a reason. The
// rollout engine runs every trigger's Watch in its own goroutine while the
// rollout is progressing or paused, rolls back once on the first demand,
// records every reason, and cancels the context when the rollout ends. A
// trigger may fire as often as it likes; the triggers here fire once per
// cause (a health check once per run of failures, each guard check once),
// and the push triggers (Webhook, Manual) never block the caller that
// demands a rollback: demands are queued, bounded, for the watching
// goroutine to deliver.
//
//   - Guard watches the canary's live outcomes in an analysis.WindowSource
//     (the in-process analysis.Recorder) every few milliseconds and fires
//     the moment an anytime-valid sequential test — from package analysis
//     — is confident that the 5xx rate or a latency quantile is over its
//     limit, or that the canary is worse than the baseline. The chance
//     that it ever fires on a canary within its limits is at most Alpha,
//     however long it watches; restarted tests keep it quick on a fault
//     that comes after hours of health.
//   - HealthCheck probes the new version's health endpoint over HTTP and
//     fires after FailureThreshold failed probes in a row; a hanging
//     endpoint is bounded by Timeout.
//   - Webhook is an http.Handler through which an alerting rule or an
//     incident bot demands a rollback, authenticated by a bearer secret
//     (401 and a log line otherwise, never acted on).
//   - Manual is the same for code in the process: Fire(reason).
//   - Deadline fires when the whole rollout has not finished in time.
//   - TriggerFunc adapts any function.
//
// A Gate holds traffic back from a new version until it is ready: the
// engine calls Ready before the first step that gives the canary traffic.
// HealthCheck is one: Ready returns after SuccessThreshold probes in a row
// have passed ("health checks before traffic").
//
// Guard, HealthCheck, Webhook and Deadline have a Validate method that
// reports all problems at once, naming the field and the value; Watch and
// Ready return that error at once rather than watching with a broken
// configuration (the engine reports it as an event). Time comes from an
// injectable clock, so that tests never sleep.
//
// # History
//
// Revision records one release: which version, what it replaced, how it
// ended and why. History keeps the last N (default 10) and derives the
// delivery figures teams track — deployments per day, change failure rate
// (the share of finished rollouts rolled back) and time to restore (from
// the first rollback reason to the rollback complete) — as a Stats value
// (StatsOf does the same for a plain slice, such as the one a rollout's
// State holds) and as Prometheus metrics (History.Collector).
//
// A minimal setup:
//
//	rec := &analysis.Recorder{}                  // fed by the traffic splitter
//	hook := &rollback.Webhook{Secret: os.Getenv("ROLLBACK_SECRET")}
//	mux.Handle("POST /rollback", hook)
//	cfg.Triggers = []rollback.Trigger{
//		&rollback.Guard{Source: rec, MaxErrorRate: 0.01, MaxLatency: 250 * time.Millisecond, CompareLatency: true},
//		hook,
//	}
//	cfg.Gate = &rollback.HealthCheck{URL: "http://10.0.0.7:8080/healthz", Interval: time.Second, SuccessThreshold: 3}
package rollback
