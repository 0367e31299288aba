package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp/traffic"
)

// Status describes the fleet as one replica sees it (the "fleet" object of
// a replica's /status).
type Status struct {
	Service string `json:"service"`
	Leader  string `json:"leader"`
	Self    string `json:"self"`
	// Replicas are the live replicas, by ID.
	Replicas []Member `json:"replicas"`
	// RouteRevision is the revision of the published route; Applied the
	// one this replica applies.
	RouteRevision int64 `json:"route_revision"`
	Applied       int64 `json:"applied_revision"`
	// Route is what this replica routes by now.
	Route traffic.Route `json:"route"`
	// Fallback: cut off from etcd for longer than the TTL, this replica
	// routes to the stable version until etcd is back.
	Fallback bool `json:"fallback,omitempty"`
	// Guarded: this replica's own guard moved it to the stable version.
	Guarded string `json:"guarded,omitempty"`
	// Error says why etcd could not be read for this status.
	Error string `json:"error,omitempty"`
}

// Status reports the fleet: this replica's own view, plus the live
// replicas and the route revision read from etcd (Error says when etcd
// could not be read; the local fields are filled all the same).
func (r *Replica) Status(ctx context.Context) Status {
	r.mu.Lock()
	st := Status{Service: r.cfg.Service, Leader: r.leader, Self: r.cfg.ID, Applied: r.appliedRev,
		Route: r.route.Clone(), Fallback: r.fallback, Guarded: r.guarded}
	r.mu.Unlock()
	resp, err := r.cli.Txn(ctx).Then(
		clientv3.OpGet(r.k.members(), clientv3.WithPrefix()),
		clientv3.OpGet(r.k.route(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.RouteRevision = modRev(resp.Responses[1])
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		var m Member
		if err := jsonUnmarshal(kv.Value, &m); err != nil {
			st.Error = fmt.Sprintf("replica %s: %v", strings.TrimPrefix(string(kv.Key), r.k.members()), err)
			continue
		}
		st.Replicas = append(st.Replicas, m)
	}
	slices.SortFunc(st.Replicas, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return st
}

// Failsafe is what a replica's own guard calls when it sees the canary
// failing: the replica routes to the fallback (stable) route at once,
// without waiting for the leader, says so in its member key, and asks the
// leader to roll the fleet back (an abort naming this replica and reason).
// It stays on the fallback route until the fleet's route gives the canary
// no traffic or a new release is published. The abort's error, if any, is
// returned (the local move has happened all the same).
func (r *Replica) Failsafe(ctx context.Context, reason string) error {
	r.applyMu.Lock()
	r.mu.Lock()
	fb, have := r.applied.Fallback, r.appliedRev != 0
	if r.route.Percent(r.applied.Canary) > 0 {
		r.guarded = reason // else the fleet already moved to stable
	}
	r.mu.Unlock()
	if have {
		if err := r.cfg.Router.Apply(ctx, fb); err != nil {
			r.applyMu.Unlock()
			return fmt.Errorf("fleet: failsafe: apply the stable route: %w", err)
		}
		r.mu.Lock()
		r.route = fb
		r.mu.Unlock()
	}
	r.applyMu.Unlock()
	r.logf(slog.LevelWarn, "fleet: local guard moved this replica to the stable version; asking the leader to roll back", "reason", reason)
	// The guarded state is published while the abort travels: the abort
	// does not wait for that write.
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		if err := r.ack(ctx); err != nil {
			r.logf(slog.LevelWarn, "fleet: failsafe: cannot publish the guarded state", "err", err)
		}
	}()
	err := r.Send(ctx, OpAbort, fmt.Sprintf("replica %s guard: %s", r.cfg.ID, reason))
	<-acked
	return err
}
