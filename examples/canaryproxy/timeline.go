package main

import (
	"context"
	"sync"
	"time"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/strategy"
)

// timeline keeps what the status page draws: the rollout's recent events
// and, once a second, the canary's share and each version's cumulative
// counts. Both are bounded rings.
type timeline struct {
	mu         sync.Mutex
	events     []eventJSON
	samples    []sampleJSON
	maxEvents  int
	maxSamples int
}

type eventJSON struct {
	Time          time.Time `json:"time"`
	Kind          string    `json:"kind"`
	Phase         string    `json:"phase"`
	Step          int       `json:"step"`
	StepText      string    `json:"step_text"`
	CanaryPercent float64   `json:"canary_percent"`
	Verdict       string    `json:"verdict,omitempty"`
	Reason        string    `json:"reason,omitempty"`
}

// sampleJSON holds cumulative counts: a reader takes differences between
// samples for rates.
type sampleJSON struct {
	Time          time.Time  `json:"time"`
	CanaryPercent float64    `json:"canary_percent"`
	Stable        countsJSON `json:"stable"`
	Canary        countsJSON `json:"canary"`
}

type countsJSON struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
}

func newTimeline(maxEvents, maxSamples int) *timeline {
	return &timeline{maxEvents: maxEvents, maxSamples: maxSamples}
}

func (t *timeline) addEvent(e ramp.Event) {
	ev := eventJSON{Time: e.Time, Kind: e.Kind.String(), Phase: e.Phase.String(), Step: e.Step, StepText: strategy.StepText(e.Step, e.Steps), CanaryPercent: e.Percent, Reason: e.Reason}
	if e.Result != nil {
		ev.Verdict = e.Result.Verdict.String()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = appendBounded(t.events, ev, t.maxEvents)
}

// sample records p's state every interval until ctx ends.
func (t *timeline) sample(ctx context.Context, p *proxy, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		st := p.rollout.Status()
		s := sampleJSON{Time: time.Now(), CanaryPercent: st.Percent}
		for _, v := range []struct {
			dst   *countsJSON
			label string
		}{{&s.Stable, p.cfg.stableVersion}, {&s.Canary, p.cfg.canaryVersion}} {
			w := p.rec.Total(v.label)
			*v.dst = countsJSON{Requests: w.Requests, Errors: w.Errors}
		}
		t.mu.Lock()
		t.samples = appendBounded(t.samples, s, t.maxSamples)
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// snapshot returns copies of the events and samples.
func (t *timeline) snapshot() ([]eventJSON, []sampleJSON) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]eventJSON{}, t.events...), append([]sampleJSON{}, t.samples...)
}

func appendBounded[T any](s []T, v T, limit int) []T {
	if len(s) >= limit {
		s = s[len(s)-limit+1:]
	}
	return append(s, v)
}
