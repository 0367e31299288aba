package admin

import (
	"sync"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/strategy"
)

// DefaultMaxEvents is how many events an Events with MaxEvents 0 keeps.
const DefaultMaxEvents = 200

// Events keeps a rollout's most recent events for the history in /status.
// Its Add is a ramp.Config.OnEvent (or is called from one). The zero value
// is ready to use and keeps DefaultMaxEvents.
type Events struct {
	// MaxEvents bounds the events kept; the oldest go first. Zero means
	// DefaultMaxEvents. Set it before the first Add.
	MaxEvents int

	mu     sync.Mutex
	events []Event
}

// Add records e.
func (l *Events) Add(e ramp.Event) {
	ev := Event{Time: e.Time, Kind: e.Kind.String(), Phase: e.Phase.String(), Step: e.Step, StepText: strategy.StepText(e.Step, e.Steps), CanaryPercent: e.Percent, Reason: e.Reason}
	if e.Result != nil {
		ev.Verdict = e.Result.Verdict.String()
	}
	limit := l.MaxEvents
	if limit <= 0 {
		limit = DefaultMaxEvents
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = appendBounded(l.events, ev, limit)
}

// List returns a copy of the events kept, oldest first.
func (l *Events) List() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event{}, l.events...)
}

func appendBounded[T any](s []T, v T, limit int) []T {
	if len(s) >= limit {
		s = s[len(s)-limit+1:]
	}
	return append(s, v)
}
