package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ramp-go/ramp/lock"
)

// DefaultTTL is the lease TTL of sessions when none is configured: how
// long a replica or lock holder that stopped answering keeps its keys.
const DefaultTTL = 10 * time.Second

// LockOptions configures a Lock. The zero value is usable.
type LockOptions struct {
	// Prefix is the key prefix (DefaultPrefix when empty).
	Prefix string
	// Session, when set, is the lease the lock lives on: it dies with that
	// session. nil: TryAcquire grants a session of TTL of its own, kept
	// alive until Release.
	Session *concurrency.Session
	// TTL of the lock's own session; 0 means DefaultTTL. etcd rounds up
	// TTLs shorter than its minimum.
	TTL time.Duration
}

// Lock is the deploy lock of one service on etcd: a lock.Lock across
// hosts. It is a try-lock (a second attempt fails at once with a
// *lock.HeldError naming the holder: host, pid, version, since) stored as
// one key bound to the holder's lease, so it dies with its holder.
//
// Release deletes the key only if its create revision is the one this
// Lock's TryAcquire wrote. concurrency.Mutex deletes by key alone, and its
// key is the same for every lock of one session, so a retried Unlock that
// lands late can delete a newer lock of that session (etcd issue #22082);
// here a late or repeated Release can never free a lock taken after it.
type Lock struct {
	cli     *clientv3.Client
	service string
	key     string
	opts    LockOptions

	mu   sync.Mutex
	sess *concurrency.Session // the session the held lock lives on
	own  bool                 // sess was granted by TryAcquire
	rev  int64                // create revision of the held key; 0: not held
}

var _ lock.Lock = (*Lock)(nil)

// NewLock returns the deploy lock of service.
func NewLock(cli *clientv3.Client, service string, opts LockOptions) (*Lock, error) {
	if cli == nil {
		return nil, fmt.Errorf("%w: lock client is nil", ErrInvalidConfig)
	}
	k, err := newKeys(opts.Prefix, service)
	if err != nil {
		return nil, err
	}
	if opts.TTL < 0 {
		return nil, fmt.Errorf("%w: lock TTL %v is negative", ErrInvalidConfig, opts.TTL)
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	return &Lock{cli: cli, service: service, key: k.lock(), opts: opts}, nil
}

// TryAcquire takes the lock for h without waiting. An empty h.Host, a zero
// h.PID and a zero h.Since are filled with this host, process and time.
func (l *Lock) TryAcquire(ctx context.Context, h lock.Holder) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev != 0 {
		return fmt.Errorf("fleet: lock %q is already held by this Lock", l.service)
	}
	if h.Host == "" {
		h.Host, _ = os.Hostname()
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Since.IsZero() {
		h.Since = time.Now()
	}
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("fleet: lock %q: encode holder: %w", l.service, err)
	}
	sess, own := l.opts.Session, false
	if sess == nil {
		ttl := max(1, int((l.opts.TTL+time.Second-1)/time.Second))
		if sess, err = concurrency.NewSession(l.cli, concurrency.WithTTL(ttl)); err != nil {
			return fmt.Errorf("fleet: lock %q: session: %w", l.service, err)
		}
		own = true
	}
	resp, err := l.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(l.key), "=", 0)).
		Then(clientv3.OpPut(l.key, string(b), clientv3.WithLease(sess.Lease()))).
		Else(clientv3.OpGet(l.key)).
		Commit()
	if err == nil && !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 1 && kvs[0].Lease == int64(sess.Lease()) && string(kvs[0].Value) == string(b) {
			// Our own earlier attempt, retried by the client after it was applied.
			l.sess, l.own, l.rev = sess, own, kvs[0].CreateRevision
			return nil
		}
		err = l.heldError(kvs)
	}
	if err != nil {
		if own {
			_ = sess.Close()
		}
		if errors.Is(err, lock.ErrHeld) {
			return err
		}
		return fmt.Errorf("fleet: lock %q: %w", l.service, err)
	}
	l.sess, l.own, l.rev = sess, own, resp.Header.Revision
	return nil
}

func (l *Lock) heldError(kvs []*mvccpb.KeyValue) error {
	var h lock.Holder
	if len(kvs) == 1 {
		if err := json.Unmarshal(kvs[0].Value, &h); err != nil {
			h.Purpose = fmt.Sprintf("unreadable holder: %v", err)
		}
	}
	return &lock.HeldError{Name: l.service, Holder: h}
}

// Release gives the lock up: it deletes the key only while it is still the
// one this Lock created. When the lock was lost meanwhile (its lease
// expired) the error wraps lock.ErrNotHeld. A Release that fails on the
// network may be retried: it never frees a lock taken after it.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev == 0 {
		return fmt.Errorf("fleet: lock %q: %w", l.service, lock.ErrNotHeld)
	}
	ok, err := l.deleteIfCreated(ctx, l.rev)
	if err != nil {
		return fmt.Errorf("fleet: release lock %q: %w", l.service, err)
	}
	l.rev = 0
	if l.own {
		_ = l.sess.Close() // revokes the lease
	}
	l.sess, l.own = nil, false
	if !ok {
		return fmt.Errorf("fleet: lock %q was lost before release (its lease expired): %w", l.service, lock.ErrNotHeld)
	}
	return nil
}

// deleteIfCreated deletes the lock key if its create revision is rev.
func (l *Lock) deleteIfCreated(ctx context.Context, rev int64) (bool, error) {
	resp, err := l.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(l.key), "=", rev)).
		Then(clientv3.OpDelete(l.key)).
		Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// Holder reports who holds the lock now.
func (l *Lock) Holder(ctx context.Context) (lock.Holder, bool, error) {
	resp, err := l.cli.Get(ctx, l.key)
	if err != nil {
		return lock.Holder{}, false, fmt.Errorf("fleet: lock %q: %w", l.service, err)
	}
	if len(resp.Kvs) == 0 {
		return lock.Holder{}, false, nil
	}
	var h lock.Holder
	if err := json.Unmarshal(resp.Kvs[0].Value, &h); err != nil {
		return lock.Holder{}, true, fmt.Errorf("fleet: lock %q: holder: %w", l.service, err)
	}
	return h, true, nil
}

// Lost is closed when the held lock's lease ends (its session expired or
// was closed); nil while the lock is not held.
func (l *Lock) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess == nil {
		return nil
	}
	return l.sess.Done()
}
