package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp"
)

// Operation kinds Send accepts.
const (
	OpPromote      = "promote"
	OpPromoteFully = "promote_fully"
	OpPause        = "pause"
	OpResume       = "resume"
	OpAbort        = "abort"
)

// ErrOpLost is wrapped by Send when the operation's key vanished before
// the leader answered (the sender's lease ended).
var ErrOpLost = errors.New("fleet: operation lost")

// op is the value of an operation key.
type op struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason,omitempty"`
	From   string `json:"from"`
	// Set by the leader: "taken" before it acts (so a new leader never
	// acts twice), then "done" with Error.
	State string `json:"state,omitempty"`
	Error string `json:"error,omitempty"`
	By    string `json:"by,omitempty"`
}

// Send asks the fleet's leader to carry out an operation on the rollout
// (OpPromote, OpPromoteFully, OpPause, OpResume, OpAbort with a reason)
// and waits for its answer: nil, or the rollout's error (for example one
// wrapping nothing but naming ramp.ErrPhase's text). The operation is a
// key bound to this replica's lease that the leader watches; it is
// carried out at most once, even when the leader changes meanwhile. An
// abort of a rollout that is rolled back, or rolls back while Send waits,
// returns nil without waiting for a leader (there may be none left).
func (r *Replica) Send(ctx context.Context, kind, reason string) error {
	switch kind {
	case OpPromote, OpPromoteFully, OpPause, OpResume, OpAbort:
	default:
		return fmt.Errorf("%w: operation kind %q (want promote, promote_fully, pause, resume or abort)", ErrInvalidConfig, kind)
	}
	sess, err := r.session(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(op{Kind: kind, Reason: reason, From: r.cfg.ID})
	key := r.k.ops() + r.cfg.ID + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	// The state is read in the same transaction: an abort of a rollout
	// already rolled back needs no leader (there may be none left).
	put, err := r.cli.Txn(ctx).Then(clientv3.OpPut(key, string(b), clientv3.WithLease(sess.Lease())),
		clientv3.OpGet(r.k.state())).Commit()
	if err != nil {
		return fmt.Errorf("fleet: send %s: %w", kind, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = r.cli.Delete(dctx, key)
		cancel()
	}()
	if kind == OpAbort && rolledBack(put.Responses[1].GetResponseRange().GetKvs()) {
		return nil
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	rev := clientv3.WithRev(put.Header.Revision + 1)
	wch := r.cli.Watch(wctx, key, rev)
	var sch clientv3.WatchChan // the state, for an abort
	if kind == OpAbort {
		sch = r.cli.Watch(wctx, r.k.state(), rev)
	}
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-wch:
		case resp, ok = <-sch:
		}
		if !ok {
			return fmt.Errorf("fleet: send %s: no answer from the leader: %w", kind, ctx.Err())
		}
		if resp.Err() != nil {
			return fmt.Errorf("fleet: send %s: %w", kind, resp.Err())
		}
		if done, err := answer(kind, key, resp.Events); done {
			return err
		}
	}
}

// answer reads the events of Send's watches: the operation's answer, or its
// key gone, or (an abort) the state rolled back.
func answer(kind, key string, evs []*clientv3.Event) (bool, error) {
	for _, ev := range evs {
		if string(ev.Kv.Key) != key {
			if ev.Type == clientv3.EventTypePut && rolledBack([]*mvccpb.KeyValue{ev.Kv}) {
				return true, nil
			}
			continue
		}
		if ev.Type == clientv3.EventTypeDelete {
			return true, fmt.Errorf("fleet: send %s: %w", kind, ErrOpLost)
		}
		var o op
		if json.Unmarshal(ev.Kv.Value, &o) == nil && o.State == "done" {
			if o.Error != "" {
				return true, fmt.Errorf("fleet: %s by leader %s: %s", kind, o.By, o.Error)
			}
			return true, nil
		}
	}
	return false, nil
}

// rolledBack: kvs is a saved state of a rollout that was rolled back.
func rolledBack(kvs []*mvccpb.KeyValue) bool {
	if len(kvs) != 1 {
		return false
	}
	var st ramp.State
	return json.Unmarshal(kvs[0].Value, &st) == nil && st.Phase == ramp.RolledBack
}

// serveOps carries out the operations sent to the fleet until ctx ends.
func (t *Term) serveOps(ctx context.Context, ro *ramp.Rollout) {
	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := newBackoff()
	for ctx.Err() == nil {
		resp, err := t.r.cli.Get(ctx, t.r.k.ops(), clientv3.WithPrefix())
		if err != nil {
			t.r.pause(ctx, t.sess, backoff.next())
			continue
		}
		for _, kv := range resp.Kvs {
			t.take(ctx, &wg, ro, kv.Key, kv.Value, kv.ModRevision, kv.CreateRevision)
		}
		wch := t.r.cli.Watch(clientv3.WithRequireLeader(ctx), t.r.k.ops(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if wr.Err() != nil { // compacted or disrupted: read again
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					t.take(ctx, &wg, ro, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision, ev.Kv.CreateRevision)
				}
			}
		}
		t.r.pause(ctx, t.sess, backoff.next())
	}
}

// drainOps answers, once, every operation waiting unclaimed, and returns
// when each is answered: the rollout is over, and its leader is about to
// resign.
func (t *Term) drainOps(ctx context.Context, ro *ramp.Rollout) {
	var wg sync.WaitGroup
	defer wg.Wait()
	resp, err := t.r.cli.Get(ctx, t.r.k.ops(), clientv3.WithPrefix())
	if err != nil {
		t.r.logf(slog.LevelWarn, "fleet: cannot read the operations left", "err", err)
		return
	}
	for _, kv := range resp.Kvs {
		t.take(ctx, &wg, ro, kv.Key, kv.Value, kv.ModRevision, kv.CreateRevision)
	}
}

// take claims an operation (fenced: only this term's leader, only if not
// claimed) and carries it out.
func (t *Term) take(ctx context.Context, wg *sync.WaitGroup, ro *ramp.Rollout, key, val []byte, mod, created int64) {
	var o op
	if json.Unmarshal(val, &o) != nil || o.State != "" {
		return
	}
	// Rollback wins: an abort starts at once, while its claim is written
	// (a failsafe's abort then waits for one etcd write less). Carried out
	// twice — another leader claimed it too — it changes nothing more: a
	// rolled-back rollout stays so, and a deposed leader's writes fail.
	var early chan error
	if o.Kind == OpAbort {
		early = make(chan error, 1)
		wg.Add(1)
		abort := o // o is marked taken below
		go func() { defer wg.Done(); early <- t.do(ctx, ro, abort) }()
	}
	o.State, o.By = "taken", t.r.cfg.ID
	b, _ := json.Marshal(o)
	resp, err := t.r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(string(key)), "=", mod),
			clientv3.Compare(clientv3.CreateRevision(t.Key()), "=", t.Rev())).
		Then(clientv3.OpPut(string(key), string(b), clientv3.WithIgnoreLease())).
		Commit()
	if err != nil || !resp.Succeeded {
		return
	}
	t.r.logf(slog.LevelInfo, "fleet: operation", "kind", o.Kind, "from", o.From, "reason", o.Reason)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if early != nil {
			err = <-early
		} else {
			err = t.do(ctx, ro, o)
		}
		o.State = "done"
		if err != nil {
			o.Error = err.Error()
		}
		b, _ := json.Marshal(o)
		_, _ = t.r.cli.Txn(context.WithoutCancel(ctx)).
			If(clientv3.Compare(clientv3.CreateRevision(string(key)), "=", created)).
			Then(clientv3.OpPut(string(key), string(b), clientv3.WithIgnoreLease())).
			Commit()
	}()
}

func (t *Term) do(ctx context.Context, ro *ramp.Rollout, o op) error {
	switch o.Kind {
	case OpPromote:
		return ro.Promote()
	case OpPromoteFully:
		return ro.PromoteFully()
	case OpPause:
		return ro.Pause()
	case OpResume:
		return ro.Resume()
	case OpAbort:
		reason := o.Reason
		if reason == "" {
			reason = "aborted"
		}
		err := ro.Abort(ctx, fmt.Sprintf("%s (from replica %s)", reason, o.From))
		if errors.Is(err, ramp.ErrPhase) && ro.Status().Phase == ramp.RolledBack {
			return nil // already rolled back: what the abort asks for
		}
		return err
	}
	return fmt.Errorf("unknown operation %q", o.Kind)
}
