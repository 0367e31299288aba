package fleet

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// beforeWatch, when set by a test, runs before each route watch starts.
var beforeWatch func(rev int64)

// observing, when set by a test, is given the cancel function of each
// Observe, to disrupt it as a broken watch does.
var observing func(id string, disrupt context.CancelFunc)

// follow applies every published route from a watch starting after rev,
// until ctx ends. A watch that fails (disrupted, or on a compacted
// revision) is replaced after the route is read again; a lost session
// moves the replica to the fallback route until it rejoins.
func (r *Replica) follow(ctx context.Context, rev int64) {
	backoff := newBackoff()
	resync := false
	for ctx.Err() == nil {
		r.mu.Lock()
		sess := r.sess
		r.mu.Unlock()
		if isDone(sess.Done()) { // ended while this goroutine was busy
			r.lost(ctx)
			resync = true
			continue
		}
		var err error
		if resync {
			sctx, cancel := untilDone(ctx, sess.Done(), r.cfg.TTL)
			rev, err = r.sync(sctx)
			cancel()
			if err != nil {
				r.logf(slog.LevelWarn, "fleet: cannot read the route", "err", err)
				r.pause(ctx, sess, backoff.next())
				continue
			}
			resync = false
		}
		if beforeWatch != nil {
			beforeWatch(rev)
		}
		var lost bool
		rev, lost, err = r.watch(ctx, sess, rev)
		switch {
		case ctx.Err() != nil:
			return
		case lost:
			r.lost(ctx)
			resync = true
		case err != nil:
			r.logf(slog.LevelWarn, "fleet: route watch ended; reading the route again", "err", err)
			r.pause(ctx, sess, backoff.next())
			resync = true
		default:
			resync = true
		}
		if !lost && err == nil {
			backoff.reset()
		}
	}
}

// watch applies the routes of one watch from rev+1. It returns the last
// revision seen, lost when the session ended, and the watch's error.
func (r *Replica) watch(ctx context.Context, sess *concurrency.Session, rev int64) (int64, bool, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := r.cli.Watch(wctx, r.k.route(), clientv3.WithRev(rev+1))
	for {
		select {
		case <-sess.Done():
			return rev, true, nil
		case resp, ok := <-wch:
			if !ok {
				return rev, false, errors.New("watch closed")
			}
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					err = errors.New("watched revision was compacted")
				}
				return rev, false, err
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					actx, cancel := untilDone(ctx, sess.Done(), r.cfg.TTL)
					err := r.applyValue(actx, ev.Kv.Value, ev.Kv.ModRevision)
					cancel()
					if err != nil {
						return rev, false, err
					}
				}
				rev = ev.Kv.ModRevision
			}
		}
	}
}

// pause waits d, or less when ctx ends.
func (r *Replica) pause(ctx context.Context, sess *concurrency.Session, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-sess.Done():
	}
}

// lost handles a session that ended: the replica was cut off from etcd
// for longer than its TTL (or its lease was revoked). It routes to the
// fallback route at once, says so, and opens a new session as soon as
// etcd answers again; follow then rejoins with the current route.
func (r *Replica) lost(ctx context.Context) {
	r.applyMu.Lock()
	r.mu.Lock()
	fb, have := r.applied.Fallback, r.appliedRev != 0
	r.mu.Unlock()
	if have {
		if err := r.cfg.Router.Apply(ctx, fb); err != nil {
			r.logf(slog.LevelError, "fleet: lost etcd; cannot apply the fallback route", "err", err)
		} else {
			r.mu.Lock()
			r.route, r.fallback = fb, true
			r.mu.Unlock()
		}
	}
	r.applyMu.Unlock()
	r.logf(slog.LevelWarn, "fleet: lost etcd for longer than the TTL; routing to the stable version until it is back", "ttl", r.cfg.TTL)
	backoff := newBackoff()
	for ctx.Err() == nil {
		s, err := r.newSession(ctx)
		if err == nil {
			r.setSession(s)
			r.logf(slog.LevelInfo, "fleet: etcd is back; rejoining")
			return
		}
		t := time.NewTimer(backoff.next())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// observe keeps r.leader up to date. Observe's channel closes when its
// watch is disrupted (etcd restarted, leader lost): it is observed again.
func (r *Replica) observe(ctx context.Context) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		sess, err := r.session(ctx)
		if err != nil {
			return
		}
		e := concurrency.NewElection(sess, r.k.election())
		octx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		if observing != nil {
			observing(r.cfg.ID, cancel)
		}
		for resp := range e.Observe(octx) {
			if len(resp.Kvs) == 1 {
				r.mu.Lock()
				r.leader, r.leaderRev = string(resp.Kvs[0].Value), resp.Kvs[0].CreateRevision
				r.mu.Unlock()
				backoff.reset()
			}
		}
		cancel()
		r.mu.Lock()
		r.leader, r.leaderRev = "", 0
		r.mu.Unlock()
		r.pause(ctx, sess, backoff.next())
	}
}

// backoff doubles from 50 ms to 2 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	b.d = min(max(2*b.d, 50*time.Millisecond), 2*time.Second)
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// newSession grants a lease, each attempt bounded by the TTL (a grant may
// otherwise wait on a dead connection for long), and keeps it alive until
// ctx ends.
func (r *Replica) newSession(ctx context.Context) (*concurrency.Session, error) {
	gctx, cancel := context.WithTimeout(ctx, r.cfg.TTL)
	lease, err := r.cli.Grant(gctx, int64(r.cfg.ttlSeconds()))
	cancel()
	if err != nil {
		return nil, err
	}
	return concurrency.NewSession(r.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(ctx))
}

// untilDone derives a context that also ends after d or when done closes
// (the session ended): no etcd call of a follower outlives its session.
func untilDone(ctx context.Context, done <-chan struct{}, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d)
	stop := make(chan struct{})
	go func() {
		select {
		case <-done:
			cancel()
		case <-stop:
		case <-ctx.Done():
		}
	}()
	return ctx, func() { close(stop); cancel() }
}
