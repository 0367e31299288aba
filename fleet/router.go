package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp/traffic"
)

// ErrLagging is wrapped by Router.Apply when some live replicas did not
// acknowledge the route within the ack timeout.
var ErrLagging = errors.New("fleet: replicas did not acknowledge the route")

// Router is the traffic.Router of a fleet's leader. Apply publishes the
// route under the service's route key (a write fenced by the leader's
// election key) and returns only when every live replica has applied it
// and acknowledged its revision, or fails after the ack timeout naming
// the replicas that lag. Current reports the route of the least-advanced
// live replica: what the whole fleet is guaranteed to apply.
type Router struct {
	r              *Replica
	lead           Leadership
	stable, canary string
}

var _ traffic.Router = (*Router)(nil)

// Apply publishes route and waits for every live replica's acknowledgement.
// Publishing the route already published only waits.
func (p *Router) Apply(ctx context.Context, route traffic.Route) error {
	if err := route.Validate(nil); err != nil {
		return fmt.Errorf("fleet: apply: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.r.cfg.AckTimeout)
	defer cancel()
	// The acknowledgements are watched from the current revision, not from
	// the route's: a watch that starts at a past revision is served by
	// etcd's catch-up loop, every 100 ms, and would add that much to every
	// Apply. The watch is created while the route is published (a route
	// waits for no round trip but its own write); awaitAcks lists the
	// replicas only once it is created, so no acknowledgement falls
	// between the listing and the watch.
	wch := p.r.cli.Watch(clientv3.WithRequireLeader(ctx), p.r.k.members(), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	rev, err := p.publish(ctx, route)
	if err != nil {
		return err
	}
	select {
	case resp, ok := <-wch:
		if !ok || resp.Err() != nil || !resp.Created {
			return fmt.Errorf("fleet: watch acknowledgements: %v", resp.Err())
		}
	case <-ctx.Done():
		return fmt.Errorf("fleet: watch acknowledgements: %w", context.Cause(ctx))
	}
	p.r.logf(slog.LevelInfo, "fleet: route published", "revision", rev, "canary_percent", route.Percent(p.canary))
	return p.r.awaitAcks(ctx, rev, wch)
}

func (p *Router) publish(ctx context.Context, route traffic.Route) (int64, error) {
	fallback := traffic.Split(p.stable, p.canary, 0)
	if route.Percent(p.canary) >= 100 && len(route.Rules) == 0 {
		fallback = traffic.Split(p.stable, p.canary, 100) // the canary is the live version now
	}
	b, err := json.Marshal(Published{Route: route, Fallback: fallback, Stable: p.stable, Canary: p.canary})
	if err != nil {
		return 0, fmt.Errorf("fleet: encode route: %w", err)
	}
	key, leaderKey := p.r.k.route(), p.lead.Key()
	if leaderKey == "" {
		return 0, fmt.Errorf("fleet: publish route: %w", ErrDeposed)
	}
	fence := clientv3.Compare(clientv3.CreateRevision(leaderKey), "=", p.lead.Rev())
	resp, err := p.r.cli.Txn(ctx).
		If(fence, clientv3.Compare(clientv3.Value(key), "=", string(b))).
		Then(clientv3.OpGet(key, clientv3.WithKeysOnly())).
		Else(clientv3.OpTxn([]clientv3.Cmp{fence}, []clientv3.Op{clientv3.OpPut(key, string(b))}, nil)).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("fleet: publish route: %w", err)
	}
	if resp.Succeeded { // already published: wait for its revision
		return modRev(resp.Responses[0]), nil
	}
	if !resp.Responses[0].GetResponseTxn().GetSucceeded() {
		return 0, fmt.Errorf("fleet: publish route: %w (election key %s of revision %d is gone)", ErrDeposed, leaderKey, p.lead.Rev())
	}
	return resp.Header.Revision, nil
}

// Current reports the route of the live replica that applied the oldest
// revision.
func (p *Router) Current(ctx context.Context) (traffic.Route, error) {
	members, _, err := p.r.members(ctx)
	if err != nil {
		return traffic.Route{}, err
	}
	if len(members) == 0 {
		return traffic.Route{}, errors.New("fleet: no live replica")
	}
	least := members[0]
	for _, m := range members[1:] {
		if m.AppliedRevision < least.AppliedRevision {
			least = m
		}
	}
	return least.Route, nil
}

// members lists the live replicas and the revision of the listing.
func (r *Replica) members(ctx context.Context) ([]Member, int64, error) {
	resp, err := r.cli.Get(ctx, r.k.members(), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("fleet: list replicas: %w", err)
	}
	out := make([]Member, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var m Member
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			return nil, 0, fmt.Errorf("fleet: replica %s: %w", kv.Key, err)
		}
		out = append(out, m)
	}
	return out, resp.Header.Revision, nil
}

// awaitAcks waits until every live replica applied revision rev; wch
// watches the member keys since before the route was published.
func (r *Replica) awaitAcks(ctx context.Context, rev int64, wch clientv3.WatchChan) error {
	list, at, err := r.members(ctx)
	if err != nil {
		return err
	}
	applied := make(map[string]int64, len(list))
	for _, m := range list {
		applied[m.ID] = m.AppliedRevision
	}
	if len(applied) == 0 {
		return fmt.Errorf("fleet: revision %d: no live replica", rev)
	}
	if lagging(applied, rev) == nil {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return r.lagError(ctx, applied, rev)
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				if ctx.Err() != nil {
					return r.lagError(ctx, applied, rev)
				}
				return fmt.Errorf("fleet: watch acknowledgements: %v", resp.Err())
			}
			for _, ev := range resp.Events {
				if ev.Kv.ModRevision <= at {
					continue // already in the listing
				}
				id := strings.TrimPrefix(string(ev.Kv.Key), r.k.members())
				if ev.Type == clientv3.EventTypeDelete {
					delete(applied, id) // its lease ended: no longer live
					continue
				}
				var m Member
				if json.Unmarshal(ev.Kv.Value, &m) == nil {
					applied[m.ID] = m.AppliedRevision
				}
			}
			if lagging(applied, rev) == nil {
				return nil
			}
		}
	}
}

func lagging(applied map[string]int64, rev int64) []string {
	var ids []string
	for id, a := range applied {
		if a < rev {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (r *Replica) lagError(ctx context.Context, applied map[string]int64, rev int64) error {
	ids := lagging(applied, rev)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s (at revision %d)", id, applied[id])
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("%w: revision %d not acknowledged within %v by %s", ErrLagging, rev, r.cfg.AckTimeout, strings.Join(parts, ", "))
	}
	return fmt.Errorf("%w: revision %d not acknowledged by %s: %w", ErrLagging, rev, strings.Join(parts, ", "), cause)
}
