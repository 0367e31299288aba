package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp/analysis"
)

// A replica's 5xx reaches the leader's guard as a nudge: the leader keeps
// one long-poll per live replica and backend on the replica's window
// handler (errors_after=N), answered as soon as that replica has recorded
// more than N errors. The leader's Source then closes the channel its
// Errored method handed out, and a rollback.Guard reading the Source polls
// the merged windows at once instead of at its next PollInterval. No etcd
// traffic: the nudge travels on the admin port, as the windows do.

const (
	// nudgeWait is how long a replica holds a long-poll without news:
	// short, since an admin server's Shutdown waits for the long-polls it
	// holds (an idle long-poll costs one loopback or LAN request a second).
	nudgeWait = time.Second
	// nudgeGap is the least time between two wakes of the leader's guard:
	// under a stream of 5xx the guard polls at most every nudgeGap rather
	// than once per error.
	nudgeGap = 10 * time.Millisecond
	// nudgeIdle: the long-polls of a backend stop when nobody asked for
	// Errored(backend) for that long (the rollout ended).
	nudgeIdle = time.Minute
)

// errorSource is what a window source needs to answer long-polls
// (*analysis.Recorder has it).
type errorSource interface {
	Errored(backend string) <-chan struct{}
	Total(backend string) analysis.Window
}

// serveErrors answers a long-poll: the backend's error count once it
// exceeds after, or when wait ends (after < 0: at once).
func serveErrors(w http.ResponseWriter, r *http.Request, src analysis.WindowSource, backend string) {
	es, ok := src.(errorSource)
	if !ok {
		http.Error(w, "this window source does not signal errors", http.StatusNotImplemented)
		return
	}
	q := r.URL.Query()
	after, err := strconv.ParseInt(q.Get("errors_after"), 10, 64)
	if err != nil {
		http.Error(w, fmt.Sprintf("errors_after: %q is not an integer", q.Get("errors_after")), http.StatusBadRequest)
		return
	}
	wait := nudgeWait
	if s := q.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 || wait > time.Minute {
			http.Error(w, fmt.Sprintf("wait: %q is not a duration in [0, 1m]", s), http.StatusBadRequest)
			return
		}
	}
	if es.Total(backend).Since.IsZero() {
		http.Error(w, fmt.Sprintf("backend %q: unknown", backend), http.StatusNotFound)
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		ch := es.Errored(backend) // before the count: no error falls in between
		n := es.Total(backend).Errors
		if n > after || after < 0 {
			writeErrors(w, n)
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			writeErrors(w, n)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func writeErrors(w http.ResponseWriter, n int64) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Errors int64 `json:"errors"`
	}{n})
}

// nudges are the leader's long-polls and the channels they close.
type nudges struct {
	mu   sync.Mutex
	subs map[string]*nudgeSub // by backend
}

type nudgeSub struct {
	ch      chan struct{}    // closed at the next nudge, then replaced
	asked   time.Time        // last Errored call
	last    time.Time        // last wake
	pending bool             // a wake is scheduled for last + nudgeGap
	polls   map[string]*poll // by replica ID and admin URL
}

type poll struct{ cancel context.CancelFunc }

// Errored returns a channel closed when a live replica records the next
// 5xx of backend (as analysis.Recorder's Errored does for one replica), so
// that a rollback.Guard on the fleet's Source polls the merged windows at
// once rather than at its next PollInterval. Wakes are at least 10 ms
// apart. Replicas whose admin server does not signal errors (a
// WindowHandler over a source without Errored and Total, or none) only
// count at the guard's polls.
func (s *Source) Errored(backend string) <-chan struct{} {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if s.n.subs == nil {
		s.n.subs = map[string]*nudgeSub{}
	}
	sub := s.n.subs[backend]
	if sub == nil {
		sub = &nudgeSub{ch: make(chan struct{}), polls: map[string]*poll{}}
		s.n.subs[backend] = sub
	}
	sub.asked = time.Now()
	s.reconcileLocked(backend, sub)
	return sub.ch
}

// reconcile starts the long-polls of new replicas and stops those of
// replicas no longer listed, for every backend asked for.
func (s *Source) reconcile() {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	for backend, sub := range s.n.subs {
		if time.Since(sub.asked) <= nudgeIdle {
			s.reconcileLocked(backend, sub)
		}
	}
}

func (s *Source) reconcileLocked(backend string, sub *nudgeSub) {
	s.mu.Lock()
	members := s.members
	s.mu.Unlock()
	live := map[string]bool{}
	for _, m := range members {
		key := m.ID + " " + m.Admin
		live[key] = true
		if _, ok := sub.polls[key]; ok || m.Admin == "" {
			continue
		}
		ctx, cancel := context.WithCancel(s.r.bg)
		p := &poll{cancel: cancel}
		sub.polls[key] = p
		go s.longPoll(ctx, p, key, m.Admin, backend)
	}
	for key, p := range sub.polls {
		if !live[key] {
			p.cancel()
			delete(sub.polls, key)
		}
	}
}

// longPoll follows one replica's errors of backend until ctx ends, the
// replica cannot signal them, or nobody asked for nudgeIdle.
func (s *Source) longPoll(ctx context.Context, p *poll, key, admin, backend string) {
	defer s.dropPoll(p, key, backend)
	after := int64(-1)
	b := newBackoff()
	for ctx.Err() == nil {
		n, err := s.awaitErrors(ctx, admin, backend, after)
		var status statusError
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &status) && status == http.StatusNotImplemented:
			return // counted at the guard's polls only
		case err != nil:
			t := time.NewTimer(b.next())
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		b.reset()
		if after >= 0 && n > after {
			s.wake(backend)
		}
		after = n // a count that went back: the replica restarted
		s.n.mu.Lock()
		sub := s.n.subs[backend]
		idle := sub == nil || time.Since(sub.asked) > nudgeIdle
		s.n.mu.Unlock()
		if idle {
			return
		}
	}
}

func (s *Source) dropPoll(p *poll, key, backend string) {
	p.cancel()
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if sub := s.n.subs[backend]; sub != nil && sub.polls[key] == p {
		delete(sub.polls, key)
	}
}

type statusError int

func (e statusError) Error() string { return "status " + strconv.Itoa(int(e)) }

func (s *Source) awaitErrors(ctx context.Context, admin, backend string, after int64) (int64, error) {
	u := admin + WindowPath + "?" + url.Values{"backend": {backend},
		"errors_after": {strconv.FormatInt(after, 10)}, "wait": {nudgeWait.String()}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.polls.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, statusError(resp.StatusCode)
	}
	var out struct {
		Errors int64 `json:"errors"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.Errors, err
}

// wake closes the channel of backend now, or at nudgeGap after the last
// wake.
func (s *Source) wake(backend string) {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	sub := s.n.subs[backend]
	if sub == nil || sub.pending {
		return
	}
	if d := nudgeGap - time.Since(sub.last); d > 0 {
		sub.pending = true
		time.AfterFunc(d, func() {
			s.n.mu.Lock()
			defer s.n.mu.Unlock()
			sub.pending = false
			s.fireLocked(sub)
		})
		return
	}
	s.fireLocked(sub)
}

func (s *Source) fireLocked(sub *nudgeSub) {
	sub.last = time.Now()
	close(sub.ch)
	sub.ch = make(chan struct{})
}

// memberView is the Source's list of live replicas, kept by a watch on
// their keys, so that a guard's poll costs no etcd round trip (two per
// poll before: one per backend). Until the watch has read the list, and
// whenever it is broken, Window reads the list from etcd as before.
type memberView struct {
	once   sync.Once
	mu     sync.Mutex
	synced bool
	byKey  map[string]Member
}

// liveMembers lists the live replicas.
func (s *Source) liveMembers(ctx context.Context) ([]Member, error) {
	s.view.once.Do(func() { go s.watchMembers(s.r.bg) })
	s.view.mu.Lock()
	if s.view.synced {
		out := make([]Member, 0, len(s.view.byKey))
		for _, m := range s.view.byKey {
			out = append(out, m)
		}
		s.view.mu.Unlock()
		slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
		return out, nil
	}
	s.view.mu.Unlock()
	members, _, err := s.r.members(ctx)
	return members, err
}

func (s *Source) setView(byKey map[string]Member, synced bool) {
	s.view.mu.Lock()
	s.view.byKey, s.view.synced = byKey, synced
	s.view.mu.Unlock()
}

// watchMembers keeps the view until ctx ends: the list, then every change
// from the revision after it; a broken watch reads the list again.
func (s *Source) watchMembers(ctx context.Context) {
	b := newBackoff()
	prefix := s.r.k.members()
	for ctx.Err() == nil {
		resp, err := s.r.cli.Get(ctx, prefix, clientv3.WithPrefix())
		if err == nil {
			byKey := map[string]Member{}
			for _, kv := range resp.Kvs {
				var m Member
				if json.Unmarshal(kv.Value, &m) == nil {
					byKey[string(kv.Key)] = m
				}
			}
			s.setView(byKey, true)
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			for wr := range s.r.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
				if wr.Err() != nil {
					break
				}
				s.view.mu.Lock()
				for _, ev := range wr.Events {
					var m Member
					switch {
					case ev.Type == clientv3.EventTypeDelete:
						delete(s.view.byKey, string(ev.Kv.Key))
					case json.Unmarshal(ev.Kv.Value, &m) == nil:
						s.view.byKey[string(ev.Kv.Key)] = m
					}
				}
				s.view.mu.Unlock()
				b.reset()
			}
			cancel()
			s.setView(nil, false)
		}
		t := time.NewTimer(b.next())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
