package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ramp-go/ramp"
)

// errSessionLost: the session ended while campaigning or leading.
var errSessionLost = errors.New("fleet: session lost")

// campaign is e.Campaign raced against the session's end: etcd's Campaign
// does not return when its own session expires while it waits (etcd issue
// #19597), which would leave a replica campaigning forever on a dead lease.
func campaign(ctx context.Context, e *concurrency.Election, sess *concurrency.Session, val string) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Campaign(cctx, val) }()
	select {
	case err := <-done:
		if err == nil {
			select {
			case <-sess.Done(): // won on a lease that just ended
				return errSessionLost
			default:
			}
		}
		return err
	case <-sess.Done():
		// Not waiting for Campaign: when it fails it resigns on the
		// client's context, which waits for etcd (the session may have
		// ended because etcd is unreachable). It ends by itself.
		return errSessionLost
	}
}

// Term is one term of leadership: a Leadership (the election key and its
// create revision) that fences every write made through it.
type Term struct {
	r    *Replica
	e    *concurrency.Election
	sess *concurrency.Session
}

// Key is the leader's election key.
func (t *Term) Key() string { return t.e.Key() }

// Rev is the create revision of the election key.
func (t *Term) Rev() int64 { return t.e.Rev() }

// Store returns the service's rollout state store, fenced by this term.
func (t *Term) Store() *Store {
	return &Store{cli: t.r.cli, key: t.r.k.state(), lead: t}
}

// Router returns the fleet router for a release of canary over stable,
// fenced by this term. Its fallback route is all traffic to stable, or to
// canary once a route gives the canary everything (after success the new
// version is the stable one).
func (t *Term) Router(stable, canary string) *Router {
	return &Router{r: t.r, lead: t, stable: stable, canary: canary}
}

// Lead campaigns for the leadership of the service and, each time this
// replica wins, runs fn with a context that ends when the leadership does
// (the session expired, etcd was lost for longer than the TTL). When fn
// returns nil Lead resigns and returns nil; when it fails because the term
// ended (the error wraps ErrDeposed, or the session was lost) Lead
// campaigns again; any other error of fn is returned. Lead returns ctx's
// error when ctx ends, and ErrClosed once the replica is closed. Every replica of a fleet calls Lead; one at a time
// runs fn.
func (r *Replica) Lead(ctx context.Context, fn func(ctx context.Context, t *Term) error) error {
	for {
		sess, err := r.session(ctx)
		if err != nil {
			return err
		}
		e := concurrency.NewElection(sess, r.k.election())
		err = campaign(ctx, e, sess, r.cfg.ID)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errSessionLost):
			continue
		case err != nil:
			r.logf(slog.LevelWarn, "fleet: campaign failed", "err", err)
			r.pause(ctx, sess, time.Second)
			continue
		}
		r.logf(slog.LevelInfo, "fleet: leading", "election_key", e.Key(), "rev", e.Rev())
		err = r.term(ctx, &Term{r: r, e: e, sess: sess}, fn)
		lostSession := isDone(sess.Done())
		if !lostSession {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = e.Resign(rctx)
			cancel()
		}
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case lostSession || errors.Is(err, ErrDeposed):
			r.logf(slog.LevelWarn, "fleet: leadership lost; campaigning again", "err", err)
		default:
			return err
		}
	}
}

func (r *Replica) term(ctx context.Context, t *Term, fn func(context.Context, *Term) error) error {
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-t.sess.Done():
			cancel(fmt.Errorf("%w: %w", ErrDeposed, errSessionLost))
		case <-stop:
		}
	}()
	return fn(tctx, t)
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Drive runs one release across the fleet: every replica calls it with
// the same cfg, the leader runs the rollout (cfg.Store and cfg.Router are
// replaced by the term's fenced Store and Router) and executes the
// operations sent to any replica (Send); a replica that takes over after
// the leader died resumes from the state in etcd. onRollout, when not nil,
// is told each rollout this replica drives (for its status page). Drive
// returns nil once the rollout succeeded or was rolled back.
func (r *Replica) Drive(ctx context.Context, cfg ramp.Config, onRollout func(*ramp.Rollout)) error {
	return r.Lead(ctx, func(ctx context.Context, t *Term) error {
		c := cfg
		c.Store = t.Store()
		c.Router = t.Router(cfg.Stable, cfg.Canary)
		ro, err := ramp.New(ctx, c)
		if err != nil {
			return err
		}
		if onRollout != nil {
			onRollout(ro)
		}
		return t.Run(ctx, ro)
	})
}

// Run drives ro (ro.Run) while executing the operations sent to the fleet.
// Once the rollout is over it answers the operations still waiting before
// it returns (an abort of a rolled-back rollout succeeds, it changes
// nothing), so that no sender waits for a leader that already left: the
// next term, and a Send that sees the rollout rolled back, handle the
// later ones.
func (t *Term) Run(ctx context.Context, ro *ramp.Rollout) error {
	octx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); t.serveOps(octx, ro) }()
	err := ro.Run(ctx)
	cancel()
	<-done
	if err == nil && ctx.Err() == nil {
		t.drainOps(ctx, ro)
	}
	if err != nil && context.Cause(ctx) != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
