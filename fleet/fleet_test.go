package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ramp-go/ramp"
	"github.com/ramp-go/ramp/strategy"
	"github.com/ramp-go/ramp/traffic"
)

// localRouter is a replica's local router: it records every route
// applied, and blocks while stalled (a stopped process).
type localRouter struct {
	mu      sync.Mutex
	route   traffic.Route
	applies int
	stall   chan struct{} // non-nil: Apply waits until it is closed
}

func (l *localRouter) Apply(ctx context.Context, r traffic.Route) error {
	l.mu.Lock()
	stall := l.stall
	l.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := r.Validate(nil); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.route, l.applies = r.Clone(), l.applies+1
	return nil
}

func (l *localRouter) Current(context.Context) (traffic.Route, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.route.Clone(), nil
}

func (l *localRouter) percent(canary string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.route.Percent(canary)
}

type testReplica struct {
	*Replica
	router *localRouter
	cli    *clientv3.Client
}

func join(t testing.TB, ctx context.Context, endpoint, id string, ttl time.Duration) *testReplica {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	lr := &localRouter{}
	r, err := Join(ctx, Config{Client: cli, Service: "shop", ID: id, TTL: ttl, Router: lr})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return &testReplica{Replica: r, router: lr, cli: cli}
}

// leadOnce makes r lead and returns its term; the term lasts until the
// test ends or release is called.
func leadOnce(t testing.TB, ctx context.Context, r *Replica) (term *Term, release func()) {
	t.Helper()
	got := make(chan *Term)
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- r.Lead(ctx, func(ctx context.Context, t *Term) error {
			select {
			case got <- t:
			case <-stop:
				return nil
			}
			select {
			case <-stop:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()
	select {
	case term = <-got:
	case err := <-done:
		t.Fatalf("Lead returned %v", err)
	case <-ctx.Done():
		t.Fatal("not elected")
	}
	var once sync.Once
	release = func() { once.Do(func() { close(stop); cancel(); <-done }) }
	t.Cleanup(release)
	return term, release
}

func eventually(t *testing.T, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	_, err := Join(context.Background(), Config{Service: "a/b", TTL: -1})
	require.ErrorIs(t, err, ErrInvalidConfig)
	for _, want := range []string{"client is nil", "router is nil", `service "a/b"`, "ttl -1ns is negative"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestApplyReturnsWhenEveryReplicaApplied(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	rs := []*testReplica{
		join(t, ctx, srv.Endpoint, "a", time.Second),
		join(t, ctx, srv.Endpoint, "b", time.Second),
		join(t, ctx, srv.Endpoint, "c", time.Second),
	}
	term, _ := leadOnce(t, ctx, rs[0].Replica)
	router := term.Router("v1", "v2")
	for _, pct := range []float64{0, 10, 50, 100} {
		require.NoError(t, router.Apply(ctx, traffic.Split("v1", "v2", pct)))
		for _, r := range rs {
			assert.Equal(t, pct, r.router.percent("v2"), "replica %s when Apply(%v%%) returned", r.ID(), pct)
		}
		cur, err := router.Current(ctx)
		require.NoError(t, err)
		assert.Equal(t, pct, cur.Percent("v2"))
	}
	// Publishing the published route again is no new revision.
	applies := rs[1].router.applies
	require.NoError(t, router.Apply(ctx, traffic.Split("v1", "v2", 100)))
	assert.Equal(t, applies, rs[1].router.applies)

	eventually(t, 5*time.Second, func() bool { return rs[2].Status(ctx).Leader == "a" }, "c does not observe a as the leader")
	st := rs[2].Status(ctx)
	assert.Equal(t, "c", st.Self)
	require.Len(t, st.Replicas, 3)
	for _, m := range st.Replicas {
		assert.Equal(t, st.RouteRevision, m.AppliedRevision)
		assert.Equal(t, 100.0, m.CanaryPercent)
	}
	require.ErrorIs(t, router.Apply(ctx, traffic.Route{}), traffic.ErrInvalidRoute)

	// A replica that joins applies the current route before Join returns.
	late := join(t, ctx, srv.Endpoint, "d", time.Second)
	assert.Equal(t, 100.0, late.router.percent("v2"))
}

func TestApplyWaitsForAStoppedReplicaUntilItsLeaseExpires(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	a := join(t, ctx, srv.Endpoint, "a", time.Second)
	b := join(t, ctx, srv.Endpoint, "b", time.Second)
	stopped := join(t, ctx, srv.Endpoint, "stopped", time.Second)
	term, _ := leadOnce(t, ctx, a.Replica)
	router := term.Router("v1", "v2")
	require.NoError(t, router.Apply(ctx, traffic.Split("v1", "v2", 10)))

	// "stopped" stops applying, then stops answering altogether.
	stopped.router.mu.Lock()
	stopped.router.stall = make(chan struct{})
	stopped.router.mu.Unlock()
	short := &Router{r: &Replica{cfg: Config{AckTimeout: 300 * time.Millisecond}, k: a.k, cli: a.cli}, lead: term, stable: "v1", canary: "v2"}
	err := short.Apply(ctx, traffic.Split("v1", "v2", 50))
	require.ErrorIs(t, err, ErrLagging)
	assert.Contains(t, err.Error(), "stopped (at revision")
	assert.NotContains(t, err.Error(), "a (at")
	assert.Equal(t, 50.0, b.router.percent("v2"))
	cur, err := router.Current(ctx)
	require.NoError(t, err)
	assert.Equal(t, 10.0, cur.Percent("v2"), "Current is the least-advanced replica's route")

	stopped.mu.Lock()
	stopped.sess.Orphan() // no more keep-alives: the lease expires within its TTL
	stopped.mu.Unlock()
	start := time.Now()
	require.NoError(t, router.Apply(ctx, traffic.Split("v1", "v2", 50)))
	waited := time.Since(start)
	assert.Greater(t, waited, 500*time.Millisecond, "Apply returned before the stopped replica's lease expired")
	assert.Less(t, waited, 5*time.Second)
	cur, err = router.Current(ctx)
	require.NoError(t, err)
	assert.Equal(t, 50.0, cur.Percent("v2"))
	close(stopped.router.stall) // SIGCONT: it catches up and rejoins
	eventually(t, 10*time.Second, func() bool { return stopped.router.percent("v2") == 50 }, "the stopped replica did not catch up")
	eventually(t, 10*time.Second, func() bool { return len(a.Status(ctx).Replicas) == 3 }, "the stopped replica did not rejoin")
}

// A route watch on a compacted revision fails; the replica reads the
// route again and watches from there.
func TestFollowerRecoversFromCompactedWatch(t *testing.T) {
	ctx := testCtx(t)
	srv, cli := startEtcd(t)
	leader := join(t, ctx, srv.Endpoint, "leader", time.Second)
	term, _ := leadOnce(t, ctx, leader.Replica)
	router := term.Router("v1", "v2")
	require.NoError(t, router.Apply(ctx, traffic.Split("v1", "v2", 10)))

	var compacted atomic.Int32
	beforeWatch = func(rev int64) {
		if compacted.Load() != 0 {
			return
		}
		// The route moves on and history is compacted before the watch starts.
		_, err := router.publish(context.Background(), traffic.Split("v1", "v2", 20))
		assert.NoError(t, err)
		resp, err := cli.Put(context.Background(), "/unrelated", "x")
		assert.NoError(t, err)
		_, err = cli.Compact(context.Background(), resp.Header.Revision)
		assert.NoError(t, err)
		compacted.Add(1)
	}
	t.Cleanup(func() { beforeWatch = nil })
	f := join(t, ctx, srv.Endpoint, "follower", time.Second)
	eventually(t, 10*time.Second, func() bool { return f.router.percent("v2") == 20 }, "the follower never applied the route published before its compacted watch")
	require.NoError(t, router.Apply(ctx, traffic.Split("v1", "v2", 30)))
	assert.Equal(t, 30.0, f.router.percent("v2"))
	assert.EqualValues(t, 1, compacted.Load())
}

// etcd's Campaign does not return when its own session expires while it
// waits (#19597); campaign does.
func TestCampaignReturnsWhenItsSessionExpires(t *testing.T) {
	ctx := testCtx(t)
	_, cli := startEtcd(t)
	holder := session(t, cli, 5)
	elect(t, ctx, holder, "/e", "holder")

	run := func(raced bool) (time.Duration, error) {
		sess, err := concurrency.NewSession(cli, concurrency.WithTTL(1))
		require.NoError(t, err)
		e := concurrency.NewElection(sess, "/e")
		cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		defer cancel()
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			if raced {
				done <- campaign(cctx, e, sess, "waiter")
			} else {
				done <- e.Campaign(cctx, "waiter")
			}
		}()
		time.Sleep(200 * time.Millisecond) // waiting behind holder
		sess.Orphan()                      // its lease now expires within 1 s
		err = <-done
		return time.Since(start), err
	}
	took, err := run(false)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "etcd's Campaign only returned when its context ended (the trap)")
	assert.GreaterOrEqual(t, took, 4*time.Second)

	took, err = run(true)
	assert.ErrorIs(t, err, errSessionLost)
	assert.Less(t, took, 3*time.Second)
}

func canaryConfig(holds ...time.Duration) ramp.Config {
	steps := make([]strategy.Step, len(holds))
	for i, h := range holds {
		steps[i] = strategy.Step{Percent: float64(10 * (i + 1)), Hold: h}
	}
	return ramp.Config{Stable: "v1", Canary: "v2", Strategy: strategy.Canary{Steps: steps}, Router: nopRouter{}}
}

type nopRouter struct{}

func (nopRouter) Apply(context.Context, traffic.Route) error     { return nil }
func (nopRouter) Current(context.Context) (traffic.Route, error) { return traffic.Route{}, nil }

// watchPublished counts the routes published for the shop service (the
// canary's share of each) until ctx ends.
func watchPublished(ctx context.Context, t *testing.T, cli *clientv3.Client) func() []float64 {
	t.Helper()
	var mu sync.Mutex
	var published []float64
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go func() {
		for resp := range cli.Watch(wctx, "/ramp/shop/route") {
			for _, ev := range resp.Events {
				var p Published
				_ = jsonUnmarshal(ev.Kv.Value, &p)
				mu.Lock()
				published = append(published, p.Route.Percent("v2"))
				mu.Unlock()
			}
		}
	}()
	return func() []float64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(published)
	}
}

func drive(ctx context.Context, r *testReplica, cfg ramp.Config) chan error {
	done := make(chan error, 1)
	go func() { done <- r.Drive(ctx, cfg, nil) }()
	return done
}

func TestDriveOneRolloutAcrossTheFleet(t *testing.T) {
	ctx := testCtx(t)
	srv, cli := startEtcd(t)
	rs := []*testReplica{
		join(t, ctx, srv.Endpoint, "a", time.Second),
		join(t, ctx, srv.Endpoint, "b", time.Second),
		join(t, ctx, srv.Endpoint, "c", time.Second),
	}
	published := watchPublished(ctx, t, cli)
	cfg := canaryConfig(50*time.Millisecond, strategy.UntilPromoted, 50*time.Millisecond) // step 2 waits for a promote
	var dones []chan error
	for _, r := range rs {
		dones = append(dones, drive(ctx, r, cfg))
	}
	eventually(t, 10*time.Second, func() bool {
		for _, r := range rs {
			if r.router.percent("v2") != 20 {
				return false
			}
		}
		return true
	}, "the fleet did not reach step 2")
	// A promote sent to any replica reaches the leader.
	var follower *testReplica
	for _, r := range rs {
		if r.Status(ctx).Leader != r.ID() {
			follower = r
			break
		}
	}
	require.NotNil(t, follower)
	require.NoError(t, follower.Send(ctx, OpPromote, ""))
	for i, d := range dones {
		select {
		case err := <-d:
			require.NoError(t, err, "replica %d", i)
		case <-ctx.Done():
			t.Fatal("the rollout did not finish")
		}
	}
	for _, r := range rs {
		assert.Equal(t, 100.0, r.router.percent("v2"), "replica %s", r.ID())
	}
	st, err := (&Store{cli: cli, key: "/ramp/shop/state"}).Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, ramp.Succeeded, st.Phase)
	eventually(t, 5*time.Second, func() bool { return len(published()) >= 4 }, "publications missing")
	assert.Equal(t, []float64{10, 20, 30, 100}, published(), "each step's route is published once")
	// A promote with no rollout left has no leader to answer it.
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	require.Error(t, rs[0].Send(sctx, OpPromote, ""))
	require.ErrorIs(t, rs[0].Send(ctx, "jump", ""), ErrInvalidConfig)
}

// The leader's session ends mid-step (it was killed or stopped): another
// replica takes over within the TTL and resumes at the same step, with no
// step published twice; the deposed leader cannot write.
func TestLeaderFailoverResumesTheSameStep(t *testing.T) {
	ctx := testCtx(t)
	srv, cli := startEtcd(t)
	rs := []*testReplica{
		join(t, ctx, srv.Endpoint, "a", time.Second),
		join(t, ctx, srv.Endpoint, "b", time.Second),
		join(t, ctx, srv.Endpoint, "c", time.Second),
	}
	published := watchPublished(ctx, t, cli)
	cfg := canaryConfig(strategy.UntilPromoted, strategy.UntilPromoted, strategy.UntilPromoted) // every step waits for a promote
	dctx, dcancel := context.WithCancel(ctx)
	defer dcancel()
	dones := map[string]chan error{}
	for _, r := range rs {
		dones[r.ID()] = drive(dctx, r, cfg)
	}
	eventually(t, 10*time.Second, func() bool { return rs[2].router.percent("v2") == 10 }, "step 1 not reached")
	require.NoError(t, rs[2].Send(ctx, OpPromote, ""))
	eventually(t, 10*time.Second, func() bool { return rs[2].router.percent("v2") == 20 }, "step 2 not reached")
	var leader *testReplica
	eventually(t, 5*time.Second, func() bool {
		id := rs[2].Status(ctx).Leader
		for _, r := range rs {
			if r.ID() == id {
				leader = r
			}
		}
		return leader != nil
	}, "no leader")

	// The leader stops answering: no keep-alives, no resign.
	leader.mu.Lock()
	leader.sess.Orphan()
	leader.mu.Unlock()
	start := time.Now()
	var next string
	eventually(t, 5*time.Second, func() bool {
		for _, r := range rs {
			if r == leader {
				continue
			}
			if id := r.Status(ctx).Leader; id != "" && id != leader.ID() {
				next = id
				return true
			}
		}
		return false
	}, "no new leader")
	t.Logf("new leader %s after %v", next, time.Since(start))
	assert.Less(t, time.Since(start), 2*time.Second, "a new leader within TTL + 1 s")
	// The new leader drives the same rollout: a promote moves to step 3.
	var other *testReplica
	for _, r := range rs {
		if r != leader {
			other = r
		}
	}
	require.NoError(t, other.Send(ctx, OpPromote, ""))
	eventually(t, 10*time.Second, func() bool { return other.router.percent("v2") == 30 }, "step 3 not reached under the new leader")
	require.NoError(t, other.Send(ctx, OpPromote, ""))
	for id, d := range dones {
		if id == leader.ID() {
			continue
		}
		select {
		case err := <-d:
			require.NoError(t, err, "replica %s", id)
		case <-ctx.Done():
			t.Fatal("rollout did not finish")
		}
	}
	eventually(t, 5*time.Second, func() bool { return len(published()) >= 4 }, "publications missing")
	assert.Equal(t, []float64{10, 20, 30, 100}, published(), "no step published twice, none skipped")
	// The old leader rejoined with a new session and follows.
	eventually(t, 10*time.Second, func() bool { return leader.router.percent("v2") == 100 }, "the old leader did not rejoin")
	dcancel()
	err := <-dones[leader.ID()]
	assert.True(t, err == nil || errors.Is(err, context.Canceled), "old leader's Drive: %v", err)
}

func TestFailsafeWithoutEtcdAndRejoin(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	a := join(t, ctx, srv.Endpoint, "a", time.Second)
	b := join(t, ctx, srv.Endpoint, "b", time.Second)
	term, _ := leadOnce(t, ctx, a.Replica)
	router := term.Router("v1", "v2")
	require.NoError(t, router.Apply(ctx, traffic.Split("v1", "v2", 30)))

	srv.Kill()
	killed := time.Now()
	eventually(t, 10*time.Second, func() bool { return b.router.percent("v2") == 0 }, "no fallback to stable without etcd")
	t.Logf("fallback after %v", time.Since(killed))
	assert.GreaterOrEqual(t, time.Since(killed), 600*time.Millisecond, "fell back well before the TTL (keep-alives go every TTL/3)")
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	st := b.Status(sctx)
	cancel()
	assert.True(t, st.Fallback)
	assert.NotEmpty(t, st.Error)
	assert.Equal(t, 0.0, st.Route.Percent("v2"))

	srv.Restart()
	// History is compacted before the replicas' watches reconnect: their
	// resumed watches (route, leader observation) fail as compacted.
	cli := srv.Client(t)
	put, err := cli.Put(ctx, "/unrelated", "x")
	require.NoError(t, err)
	_, err = cli.Compact(ctx, put.Header.Revision)
	require.NoError(t, err)
	eventually(t, 30*time.Second, func() bool { return b.router.percent("v2") == 30 }, "did not rejoin with the current route")
	assert.False(t, b.Status(ctx).Fallback)
	// Observe's watch was disrupted with etcd; b observes again and sees
	// the leader of the new term (a campaigns again once it rejoined).
	eventually(t, 15*time.Second, func() bool { return b.Status(ctx).Leader == "a" }, "b does not see the new term's leader: %q", b.Status(ctx).Leader)
}

func TestFailsafeGuardMovesToStableAndAbortsTheFleet(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	rs := []*testReplica{
		join(t, ctx, srv.Endpoint, "a", time.Second),
		join(t, ctx, srv.Endpoint, "b", time.Second),
	}
	cfg := canaryConfig(0, 0)
	dones := []chan error{drive(ctx, rs[0], cfg), drive(ctx, rs[1], cfg)}
	eventually(t, 10*time.Second, func() bool { return rs[0].router.percent("v2") == 10 && rs[1].router.percent("v2") == 10 }, "step 1 not reached")
	require.NoError(t, rs[1].Failsafe(ctx, "5xx rate 40%"))
	assert.Equal(t, 0.0, rs[1].router.percent("v2"), "the guarded replica moved at once")
	for _, d := range dones {
		require.NoError(t, <-d)
	}
	for _, r := range rs {
		assert.Equal(t, 0.0, r.router.percent("v2"))
	}
	st, err := (&Store{cli: rs[0].cli, key: "/ramp/shop/state"}).Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, ramp.RolledBack, st.Phase)
	assert.Contains(t, fmt.Sprint(st.Reasons), "replica b guard: 5xx rate 40%")
}

func TestLeadReturnsOnceTheReplicaIsClosed(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	a := join(t, ctx, srv.Endpoint, "a", time.Second)
	b := join(t, ctx, srv.Endpoint, "b", time.Second)
	leadOnce(t, ctx, a.Replica) // a leads: b waits in its campaign
	done := make(chan error, 1)
	go func() {
		done <- b.Lead(ctx, func(ctx context.Context, _ *Term) error { <-ctx.Done(); return ctx.Err() })
	}()
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, b.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Lead did not return after Close")
	}
	require.ErrorIs(t, b.Send(ctx, OpPromote, ""), ErrClosed)
}

// An ack built before a newer one must not land after it: the member key
// would keep the older revision and the leader would wait for an ack that
// never comes (seen with Failsafe racing the rollback route).
func TestAcksLandInOrder(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	a := join(t, ctx, srv.Endpoint, "a", time.Second)
	f := join(t, ctx, srv.Endpoint, "f", time.Second)
	slow := join(t, ctx, srv.Endpoint, "slow", time.Second)
	term, _ := leadOnce(t, ctx, a.Replica)
	router := term.Router("v1", "v2")
	require.NoError(t, router.Apply(ctx, traffic.Split("v1", "v2", 10)))
	// "slow" keeps the next Apply waiting until after f's delayed ack.
	stall := make(chan struct{})
	slow.router.mu.Lock()
	slow.router.stall = stall
	slow.router.mu.Unlock()
	time.AfterFunc(time.Second, func() { close(stall) })

	var once sync.Once
	slowed := make(chan struct{})
	beforeAckPut = func(m Member) {
		if m.ID == "f" && m.Guarded {
			once.Do(func() { close(slowed); time.Sleep(500 * time.Millisecond) })
		}
	}
	t.Cleanup(func() { beforeAckPut = nil })
	fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	go func() { _ = f.Failsafe(fctx, "5xx") }() // its abort finds no leader to serve it
	<-slowed
	short := &Router{r: &Replica{cfg: Config{AckTimeout: 2 * time.Second}, k: a.k, cli: a.cli}, lead: term, stable: "v1", canary: "v2"}
	require.NoError(t, short.Apply(ctx, traffic.Split("v1", "v2", 0)), "f's newer ack was overwritten by its older one")
	eventually(t, 5*time.Second, func() bool {
		for _, m := range f.Status(ctx).Replicas {
			if m.ID == "f" {
				return m.CanaryPercent == 0
			}
		}
		return false
	}, "f's key does not show its route")
}

// An Observe channel closes when its watch is disrupted; the replica
// observes again and keeps seeing who leads.
func TestObserveAgainAfterDisruption(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	disrupts := make(chan context.CancelFunc, 10)
	observing = func(id string, disrupt context.CancelFunc) {
		if id == "f" {
			select {
			case disrupts <- disrupt:
			default:
			}
		}
	}
	t.Cleanup(func() { observing = nil })
	a := join(t, ctx, srv.Endpoint, "a", time.Second)
	b := join(t, ctx, srv.Endpoint, "b", time.Second)
	f := join(t, ctx, srv.Endpoint, "f", time.Second)
	_, releaseA := leadOnce(t, ctx, a.Replica)
	eventually(t, 5*time.Second, func() bool { return f.Status(ctx).Leader == "a" }, "f does not see a lead")
	(<-disrupts)() // the watch breaks
	releaseA()     // a resigns; b takes over
	leadOnce(t, ctx, b.Replica)
	eventually(t, 5*time.Second, func() bool { return f.Status(ctx).Leader == "b" }, "f does not see b lead after its Observe was disrupted: %q", f.Status(ctx).Leader)
}
