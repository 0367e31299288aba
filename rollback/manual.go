package rollback

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// ErrNotWatched is returned when a rollback is demanded while no rollout is
// watching the trigger (none is progressing or paused), so nothing could
// act on it. The demand is dropped, not queued: a stale demand must never
// roll back the next release.
var ErrNotWatched = errors.New("rollback: no rollout is watching this trigger")

// ErrBacklog is returned when a rollout already holds 256 undelivered
// demands from this trigger. The rollback they asked for is already under
// way; the extra reason is dropped.
var ErrBacklog = errors.New("rollback: too many pending rollback demands")

// maxPending bounds the reasons queued for one watcher between two
// deliveries, so that a flood of demands cannot grow memory without bound.
// A reason identical to one still waiting is merged with it.
const maxPending = 256

// maxReasonLen bounds a reason taken from outside (a webhook body, a
// manual caller) so that events, logs and the store stay readable.
const maxReasonLen = 1024

// Manual is a trigger that other code in the process pulls by calling
// Fire: an operator console, a chat-ops command, a custom health monitor.
// (A person aborting one rollout can also call the Rollout's own abort.)
//
// The zero Manual is ready to use. One Manual may be given to several
// rollouts; Fire reaches every rollout watching it at that moment.
type Manual struct {
	// Name prefixes every reason ("<name>: <reason>"); empty means "manual".
	Name string

	hub hub
}

// Fire demands a rollback of every rollout watching m, with reason. It
// never blocks: the reason is queued and delivered by the watching
// goroutines (a reason identical to one still queued is merged with it). It returns ErrNotWatched when no rollout is watching (the
// demand is dropped) and ErrBacklog when a watcher's queue is full.
func (m *Manual) Fire(reason string) error {
	name := m.Name
	if name == "" {
		name = "manual"
	}
	_, err := m.hub.send("", name+": "+cleanReason(reason, "no reason given"))
	return err
}

// Watching reports how many rollouts are watching m now.
func (m *Manual) Watching() int { return m.hub.count() }

// Watch delivers every Fire to fire until ctx is done; then it returns nil.
func (m *Manual) Watch(ctx context.Context, t Target, fire func(reason string)) error {
	return m.hub.watch(ctx, t, fire)
}

// hub fans demands out to the goroutines watching a push trigger (Manual,
// Webhook). Its zero value is ready to use.
type hub struct {
	mu       sync.Mutex
	watchers map[*watcher]struct{}
}

type watcher struct {
	target  Target
	mu      sync.Mutex
	pending []string
	wake    chan struct{} // capacity 1: "pending is not empty"
}

// watch registers a watcher for t and delivers its reasons to fire until
// ctx is done.
func (h *hub) watch(ctx context.Context, t Target, fire func(string)) error {
	w := &watcher{target: t, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.watchers == nil {
		h.watchers = make(map[*watcher]struct{})
	}
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.watchers, w)
		h.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
		w.mu.Lock()
		reasons := w.pending
		w.pending = nil
		w.mu.Unlock()
		for _, r := range reasons {
			fire(r)
		}
	}
}

// send queues reason for every watcher whose canary is canary (every
// watcher when canary is empty). It reports how many watchers took it.
func (h *hub) send(canary, reason string) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, full := 0, 0
	for w := range h.watchers {
		if canary != "" && w.target.Canary != canary {
			continue
		}
		w.mu.Lock()
		switch {
		case slices.Contains(w.pending, reason):
			n++ // merged with the same reason, still undelivered
		case len(w.pending) >= maxPending:
			full++
		default:
			w.pending = append(w.pending, reason)
			n++
		}
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	switch {
	case n > 0:
		return n, nil
	case full > 0:
		return 0, ErrBacklog
	}
	return 0, ErrNotWatched
}

// cleanReason trims reason, replaces control characters (which could forge
// log lines) with spaces and bounds its length. An empty result becomes
// def.
func cleanReason(reason, def string) string {
	reason = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, reason)
	reason = strings.TrimSpace(reason)
	if len(reason) > maxReasonLen {
		cut := maxReasonLen
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut] + "…"
	}
	if reason == "" {
		return def
	}
	return reason
}

// count is the number of watchers (for tests and diagnostics).
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watchers)
}

// pending is the number of undelivered reasons over all watchers.
func (h *hub) pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for w := range h.watchers {
		w.mu.Lock()
		n += len(w.pending)
		w.mu.Unlock()
	}
	return n
}
