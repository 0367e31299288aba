package fleet

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ramp-go/ramp/fleet/internal/etcdtest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startEtcd(t *testing.T) (*etcdtest.Server, *clientv3.Client) {
	t.Helper()
	s := etcdtest.Start(t)
	return s, s.Client(t)
}

func session(t *testing.T, cli *clientv3.Client, ttl int) *concurrency.Session {
	t.Helper()
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl))
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// elect campaigns on prefix with sess and returns the won election.
func elect(t *testing.T, ctx context.Context, sess *concurrency.Session, prefix, val string) *concurrency.Election {
	t.Helper()
	e := concurrency.NewElection(sess, prefix)
	if err := e.Campaign(ctx, val); err != nil {
		t.Fatalf("campaign %s: %v", val, err)
	}
	return e
}
