package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ramp-go/ramp/traffic"
)

// Config configures one replica of a fleet. Client, Service and Router are
// required; every other field has a documented default.
type Config struct {
	// Client reaches etcd. The replica does not close it.
	Client *clientv3.Client
	// Service names the fleet: every replica of one service shares one
	// rollout, one route and one deploy lock.
	Service string
	// ID names this replica, unique in the service. "" means
	// hostname-pid.
	ID string
	// Prefix is the etcd key prefix; "" means DefaultPrefix.
	Prefix string
	// TTL is the lease of this replica's session: a replica silent for
	// that long (killed, stopped, cut off) leaves the fleet, a leader
	// loses its leadership, and a replica cut off from etcd that long
	// routes to the fallback (stable) route. 0 means DefaultTTL; etcd
	// rounds it up to whole seconds.
	TTL time.Duration
	// Router is the local router every published route is applied to,
	// typically the replica's *traffic.Splitter.
	Router traffic.Router
	// Admin is this replica's admin base URL (http://host:port), where the
	// leader pulls its recorded windows; "" when it serves none.
	Admin string
	// AckTimeout bounds how long the leader's route Apply waits for every
	// live replica to acknowledge; then it fails naming the replicas that
	// lag (the rollout retries it). 0 means twice the TTL, so a stopped
	// replica's lease expires before the timeout.
	AckTimeout time.Duration
	// Logger, when set, logs membership, leadership and fallbacks.
	Logger *slog.Logger
}

func (c *Config) check() (keys, error) {
	var errs []error
	if c.Client == nil {
		errs = append(errs, fmt.Errorf("%w: client is nil", ErrInvalidConfig))
	}
	if c.Router == nil {
		errs = append(errs, fmt.Errorf("%w: router is nil", ErrInvalidConfig))
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if err := checkName("id", c.ID); err != nil {
		errs = append(errs, err)
	}
	if c.TTL < 0 {
		errs = append(errs, fmt.Errorf("%w: ttl %v is negative", ErrInvalidConfig, c.TTL))
	}
	if c.AckTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: ack timeout %v is negative", ErrInvalidConfig, c.AckTimeout))
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 2 * c.TTL
	}
	k, err := newKeys(c.Prefix, c.Service)
	if err != nil {
		errs = append(errs, err)
	}
	return k, errors.Join(errs...)
}

func (c *Config) ttlSeconds() int { return max(1, int((c.TTL+time.Second-1)/time.Second)) }

// Published is the value of the route key: the route every replica
// applies, with the route a replica falls back to when it is cut off.
type Published struct {
	Route traffic.Route `json:"route"`
	// Fallback is the route to the version that is live without the
	// rollout: the stable version while a rollout runs or after a
	// rollback, the new version once it has succeeded (it is then the
	// stable one).
	Fallback traffic.Route `json:"fallback"`
	Stable   string        `json:"stable"`
	Canary   string        `json:"canary"`
}

// Member is what a live replica publishes under its lease-bound key.
type Member struct {
	ID    string `json:"id"`
	Admin string `json:"admin,omitempty"`
	// AppliedRevision is the revision of the route key this replica
	// applied last; Route the route it applies.
	AppliedRevision int64         `json:"applied_revision"`
	Route           traffic.Route `json:"route"`
	CanaryPercent   float64       `json:"canary_percent"`
	// Guarded: the replica's own guard moved it to the fallback route.
	Guarded  bool      `json:"guarded,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	LastSeen time.Time `json:"last_seen"`
}

// Replica is one member of a fleet: it applies every published route to
// its local router and acknowledges it, campaigns to lead (see Lead), and
// falls back to the stable route when it loses etcd for longer than its
// TTL. Create one with Join; Close it when done.
type Replica struct {
	cfg Config
	k   keys
	cli *clientv3.Client
	log *slog.Logger

	// applyMu serializes changes of the local route (published routes,
	// the fallback, the guard's move), so none overwrites a later one.
	applyMu    sync.Mutex
	ackMu      sync.Mutex // serializes member key writes (see ack)
	mu         sync.Mutex
	sess       *concurrency.Session
	applied    Published
	appliedRev int64
	route      traffic.Route // what the local router applies
	fallback   bool          // cut off from etcd: routing to the fallback
	guarded    string        // reason the local guard moved us to stable
	leader     string
	leaderRev  int64

	bg     context.Context // ends with Close
	cancel context.CancelFunc
	closed chan struct{} // closed by Close
	wg     sync.WaitGroup
}

// ErrClosed is returned by the operations of a Replica after Close.
var ErrClosed = errors.New("fleet: replica closed")

// Join starts a replica: it opens a session, applies the current route
// (when one was published) to cfg.Router, registers the replica, and
// returns once it is ready to serve: a replica never serves before it
// applies the fleet's route. It keeps following until Close.
func Join(ctx context.Context, cfg Config) (*Replica, error) {
	k, err := cfg.check()
	if err != nil {
		return nil, err
	}
	r := &Replica{cfg: cfg, k: k, cli: cfg.Client, log: cfg.Logger, closed: make(chan struct{})}
	sess, err := concurrency.NewSession(r.cli, concurrency.WithTTL(cfg.ttlSeconds()))
	if err != nil {
		return nil, fmt.Errorf("fleet: replica %s: session: %w", cfg.ID, err)
	}
	r.setSession(sess)
	rev, err := r.sync(ctx)
	if err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("fleet: replica %s: join: %w", cfg.ID, err)
	}
	bg, cancel := context.WithCancel(context.Background())
	r.bg, r.cancel = bg, cancel
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.follow(bg, rev) }()
	go func() { defer r.wg.Done(); r.observe(bg) }()
	return r, nil
}

// ID is the replica's name in the fleet.
func (r *Replica) ID() string { return r.cfg.ID }

// Close stops following, leaves the fleet (its keys are deleted with its
// lease) and gives up leadership. The local router keeps its route.
func (r *Replica) Close() error {
	select {
	case <-r.closed:
		return nil
	default:
	}
	close(r.closed)
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	sess := r.sess
	r.mu.Unlock()
	return sess.Close()
}

func (r *Replica) setSession(s *concurrency.Session) {
	r.mu.Lock()
	r.sess = s
	r.mu.Unlock()
}

// session returns the current session, waiting while it is lost (until
// follow has opened a new one); ErrClosed after Close.
func (r *Replica) session(ctx context.Context) (*concurrency.Session, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		r.mu.Lock()
		s := r.sess
		r.mu.Unlock()
		select {
		case <-s.Done():
		default:
			return s, nil
		}
		select {
		case <-t.C:
		case <-r.closed:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (r *Replica) logf(level slog.Level, msg string, args ...any) {
	if r.log != nil {
		r.log.Log(context.Background(), level, msg, append([]any{"service", r.cfg.Service, "replica", r.cfg.ID}, args...)...)
	}
}

// sync reads the published route, applies it, acknowledges it, and reads
// again until the route did not change meanwhile; it returns the revision
// to watch from.
func (r *Replica) sync(ctx context.Context) (int64, error) {
	for range 10 {
		resp, err := r.cli.Get(ctx, r.k.route())
		if err != nil {
			return 0, err
		}
		modRev := int64(0)
		if len(resp.Kvs) == 1 {
			modRev = resp.Kvs[0].ModRevision
			if err := r.applyValue(ctx, resp.Kvs[0].Value, modRev); err != nil {
				return 0, err
			}
		} else if err := r.ack(ctx); err != nil {
			return 0, err
		}
		again, err := r.cli.Get(ctx, r.k.route(), clientv3.WithKeysOnly())
		if err != nil {
			return 0, err
		}
		if len(again.Kvs) == 0 && modRev == 0 || len(again.Kvs) == 1 && again.Kvs[0].ModRevision == modRev {
			return again.Header.Revision, nil
		}
	}
	return 0, errors.New("the route keeps changing")
}

// applyValue applies a published route value of revision rev locally and
// acknowledges it.
func (r *Replica) applyValue(ctx context.Context, v []byte, rev int64) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	var p Published
	if err := json.Unmarshal(v, &p); err != nil {
		return fmt.Errorf("route revision %d: %w", rev, err)
	}
	r.mu.Lock()
	route := p.Route
	if r.guarded != "" {
		if p.Route.Percent(p.Canary) == 0 || p.Canary != r.applied.Canary {
			r.guarded = "" // the fleet rolled back, or a new release
		} else {
			route = p.Fallback
		}
	}
	r.mu.Unlock()
	if err := r.cfg.Router.Apply(ctx, route); err != nil {
		r.logf(slog.LevelError, "fleet: cannot apply the published route", "revision", rev, "err", err)
		return fmt.Errorf("apply route revision %d: %w", rev, err)
	}
	r.mu.Lock()
	r.applied, r.appliedRev, r.route, r.fallback = p, rev, route, false
	r.mu.Unlock()
	r.logf(slog.LevelInfo, "fleet: route applied", "revision", rev, "canary_percent", route.Percent(p.Canary))
	return r.ack(ctx)
}

// beforeAckPut, when set by a test, runs between building an ack and
// writing it.
var beforeAckPut func(Member)

// ack writes this replica's member key, bound to its session's lease.
//
// Acks are serialized, each built from the state at the time it is
// written: two acks racing (a route applied while Failsafe reports the
// guard) could otherwise land out of order and leave an older applied
// revision in the key, and the leader would wait for an ack that never
// comes.
func (r *Replica) ack(ctx context.Context) error {
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	r.mu.Lock()
	m := Member{ID: r.cfg.ID, Admin: r.cfg.Admin, AppliedRevision: r.appliedRev, Route: r.route,
		CanaryPercent: r.route.Percent(r.applied.Canary), Guarded: r.guarded != "", Reason: r.guarded, LastSeen: time.Now()}
	sess := r.sess
	r.mu.Unlock()
	if beforeAckPut != nil {
		beforeAckPut(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = r.cli.Put(ctx, r.k.member(r.cfg.ID), string(b), clientv3.WithLease(sess.Lease()))
	return err
}
