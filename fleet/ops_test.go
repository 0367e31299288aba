package fleet

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A failsafe's abort may reach a fleet whose rollout was rolled back
// meanwhile, whose replicas all returned from Drive (each resigns as soon
// as it sees the rollout over): nobody leads any more. The abort is
// confirmed, and operations that were waiting when a term found its
// rollout over are answered before that leader resigns (seen in
// fleetproxy's TestFleetRollbackOnCanaryFault: a failsafe unanswered for
// 30 s after five terms in 160 ms).
func TestOperationsAfterTheRolloutRolledBack(t *testing.T) {
	ctx := testCtx(t)
	srv, _ := startEtcd(t)
	a := join(t, ctx, srv.Endpoint, "a", time.Second)
	b := join(t, ctx, srv.Endpoint, "b", time.Second)
	cfg := canaryConfig(0, 0) // step 1 holds for the default hold
	dones := []chan error{drive(ctx, a, cfg), drive(ctx, b, cfg)}
	eventually(t, 10*time.Second, func() bool { return a.router.percent("v2") == 10 && b.router.percent("v2") == 10 }, "step 1 not reached")
	require.NoError(t, a.Send(ctx, OpAbort, "bad canary"))
	for _, d := range dones {
		require.NoError(t, <-d)
	}

	// Nobody leads: an abort is confirmed all the same.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, b.Send(sctx, OpAbort, "late failsafe"), "an abort of a rolled-back fleet is a no-op success")

	// Operations waiting when a new term finds the rollout over: an abort
	// key as written before this fix (no state check) and a pause.
	abortKey := a.k.ops() + "b-raw"
	raw, _ := json.Marshal(op{Kind: OpAbort, Reason: "late", From: "b"})
	_, err := b.cli.Put(ctx, abortKey, string(raw))
	require.NoError(t, err)
	paused := make(chan error, 1)
	go func() { paused <- b.Send(sctx, OpPause, "") }()
	eventually(t, 5*time.Second, func() bool {
		resp, err := b.cli.Get(ctx, a.k.ops(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 2
	}, "the pause was not sent")
	c := join(t, ctx, srv.Endpoint, "c", time.Second)
	require.NoError(t, <-drive(ctx, c, cfg))
	select {
	case err := <-paused:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "pause in phase", "answered by the leader, not timed out: %v", err)
	case <-sctx.Done():
		t.Fatal("the pause waiting when c led was never answered")
	}
	resp, err := b.cli.Get(ctx, abortKey)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	var o op
	require.NoError(t, json.Unmarshal(resp.Kvs[0].Value, &o))
	assert.Equal(t, op{Kind: OpAbort, Reason: "late", From: "b", State: "done", By: "c"}, o,
		"the waiting abort is confirmed (no error) before c resigns")
}
