package admin

import (
	"math"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
)

// Status is the body of GET /status.
type Status struct {
	// Phase is pending, progressing, paused, rolling_back, succeeded or
	// rolled_back.
	Phase string `json:"phase"`
	// CanaryPercent is the canary's share as last confirmed by the router.
	CanaryPercent float64 `json:"canary_percent"`
	// TargetPercent is the share being applied; it differs from
	// CanaryPercent while a route change is in flight or keeps failing.
	TargetPercent float64 `json:"target_percent"`
	// Step indexes Steps: -1 before the first step.
	Step          int       `json:"step"`
	Steps         []Step    `json:"steps"`
	StepStartedAt time.Time `json:"step_started_at,omitzero"`
	// Reason says why the rollout rolled back (or paused itself).
	Reason      string   `json:"reason"`
	Reasons     []string `json:"reasons,omitempty"`
	LastVerdict *Verdict `json:"last_verdict,omitempty"`
	// Versions are keyed "stable" and "canary".
	Versions   map[string]Version `json:"versions"`
	Limits     StatusLimits       `json:"limits"`
	StartedAt  time.Time          `json:"started_at,omitzero"`
	FinishedAt time.Time          `json:"finished_at,omitzero"`
	// History is the rollout's recent events, oldest first.
	History []Event `json:"history"`
	// Timeline samples the share and cumulative counts, about one a
	// second, oldest first.
	Timeline  []Sample            `json:"timeline"`
	Revisions []rollback.Revision `json:"revisions,omitempty"`
	// Delivery is the four keys over Options.DeliveryWindow, from
	// Revisions.
	Delivery Delivery `json:"delivery"`
}

// Step is one step of the plan.
type Step struct {
	Percent float64 `json:"percent"`
	// DurationSeconds is how long the step is held; -1 until promoted.
	DurationSeconds float64 `json:"duration_seconds"`
}

// Version is what one version did.
type Version struct {
	Version string `json:"version"`
	// URL is where the version runs, from Options.Upstreams.
	URL string `json:"url,omitempty"`
	// Since the figures source started.
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	P99Seconds float64 `json:"p99_seconds"`
	// Step counts the requests of the step in force: what its analysis
	// judges.
	Step Window `json:"step"`
}

// Window is what a version did over a span.
type Window struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	P99Seconds float64 `json:"p99_seconds"`
}

// StatusLimits are Options.Limits in /status.
type StatusLimits struct {
	MaxErrorRate  float64 `json:"max_error_rate"`
	MaxP99Seconds float64 `json:"max_p99_seconds"`
	MinSamples    int64   `json:"min_samples"`
}

// Verdict is the rollout's last analysis result.
type Verdict struct {
	Verdict string        `json:"verdict"`
	Reason  string        `json:"reason"`
	At      time.Time     `json:"at,omitzero"`
	Metrics []Measurement `json:"metrics,omitempty"`
}

// Measurement is an analysis.Measurement with the NaN and infinite values
// JSON cannot carry written as null.
type Measurement struct {
	Name    string   `json:"name"`
	Verdict string   `json:"verdict"`
	Value   *float64 `json:"value"`
	Min     *float64 `json:"min"`
	Max     *float64 `json:"max"`
	Samples int64    `json:"samples"`
	Reason  string   `json:"reason"`
}

// Event is one event of the rollout.
type Event struct {
	Time          time.Time `json:"time"`
	Kind          string    `json:"kind"`
	Phase         string    `json:"phase"`
	Step          int       `json:"step"`
	StepText      string    `json:"step_text,omitempty"` // "step 2 of 3", from strategy.StepText
	CanaryPercent float64   `json:"canary_percent"`
	Verdict       string    `json:"verdict,omitempty"`
	Reason        string    `json:"reason,omitempty"`
}

// Sample holds cumulative counts: a reader takes differences between
// samples for rates.
type Sample struct {
	Time          time.Time `json:"time"`
	CanaryPercent float64   `json:"canary_percent"`
	Stable        Counts    `json:"stable"`
	Canary        Counts    `json:"canary"`
}

// Counts are cumulative request and 5xx counts.
type Counts struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
}

// OpResult is the body of an operation's answer.
type OpResult struct {
	Op            string  `json:"op"`
	Phase         string  `json:"phase,omitempty"`
	CanaryPercent float64 `json:"canary_percent"`
	Step          int     `json:"step"`
	Error         string  `json:"error,omitempty"`
}

func (h *Handler) status() Status {
	st := h.rollout.Status()
	h.sampleIfDue(st)
	out := Status{
		Phase:         st.Phase.String(),
		CanaryPercent: st.Percent,
		TargetPercent: st.Target,
		Step:          st.Step,
		Steps:         h.steps,
		StepStartedAt: st.StepStartedAt,
		Reason:        st.Reason,
		Reasons:       st.Reasons,
		Versions:      map[string]Version{},
		Limits: StatusLimits{
			MaxErrorRate:  h.opts.Limits.MaxErrorRate,
			MaxP99Seconds: h.opts.Limits.MaxP99.Seconds(),
			MinSamples:    h.opts.Limits.MinSamples,
		},
		StartedAt:  st.StartedAt,
		FinishedAt: st.FinishedAt,
		History:    []Event{},
		Timeline:   h.samplesCopy(),
		Revisions:  st.History,
		Delivery:   deliveryOf(st.History, time.Now(), h.deliveryWindow()),
	}
	if h.opts.Events != nil {
		out.History = h.opts.Events.List()
	}
	if res := st.LastResult; !res.At.IsZero() {
		out.LastVerdict = verdictOf(res)
	}
	for role, label := range map[string]string{"stable": st.Stable, "canary": st.Canary} {
		v := Version{Version: label, URL: h.opts.Upstreams[label]}
		if f := h.opts.Figures; f != nil {
			total := f.Total(label)
			v.Requests, v.Errors, v.ErrorRate, v.P99Seconds = total.Requests, total.Errors, total.ErrorRate(), p99(total)
			if !st.Phase.Done() && !st.StepStartedAt.IsZero() {
				w := f.Window(label, st.StepStartedAt, time.Time{})
				v.Step = Window{Requests: w.Requests, Errors: w.Errors, ErrorRate: w.ErrorRate(), P99Seconds: p99(w)}
			}
		}
		out.Versions[role] = v
	}
	return out
}

func p99(w analysis.Window) float64 {
	if w.Latency == nil {
		return 0
	}
	return w.Latency.Quantile(0.99).Seconds()
}

// sampleIfDue appends a sample when the last one is a second old or more.
func (h *Handler) sampleIfDue(st ramp.Status) {
	now := time.Now()
	h.mu.Lock()
	due := len(h.samples) == 0 || now.Sub(h.samples[len(h.samples)-1].Time) >= sampleEvery
	h.mu.Unlock()
	if !due {
		return
	}
	s := Sample{Time: now, CanaryPercent: st.Percent}
	if f := h.opts.Figures; f != nil {
		for _, v := range []struct {
			dst   *Counts
			label string
		}{{&s.Stable, st.Stable}, {&s.Canary, st.Canary}} {
			w := f.Total(v.label)
			*v.dst = Counts{Requests: w.Requests, Errors: w.Errors}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.samples); n > 0 && now.Sub(h.samples[n-1].Time) < sampleEvery {
		return // another reader took it meanwhile
	}
	h.samples = appendBounded(h.samples, s, maxSamples)
}

func (h *Handler) samplesCopy() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Sample{}, h.samples...)
}

func verdictOf(res analysis.Result) *Verdict {
	v := &Verdict{Verdict: res.Verdict.String(), Reason: res.Reason, At: res.At}
	for _, m := range res.Metrics {
		v.Metrics = append(v.Metrics, Measurement{
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
