package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/ramp-go/ramp/fleet/internal/etcdtest"
)

func TestStartKillRestart(t *testing.T) {
	s := etcdtest.Start(t)
	cli := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}
	s.Kill()
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := cli.Get(short, "k")
	cancelShort()
	if err == nil {
		t.Fatal("get succeeded with etcd killed")
	}
	s.Restart()
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restart got %v, want k=v kept on disk", resp.Kvs)
	}
}
