package fleet

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ramp-go/ramp"
)

func TestStoreRoundTripAndNoState(t *testing.T) {
	ctx := testCtx(t)
	_, cli := startEtcd(t)
	s, err := NewStore(cli, "/t/state", nil)
	require.NoError(t, err)
	_, err = s.Load(ctx)
	require.ErrorIs(t, err, ramp.ErrNoState)

	want := ramp.State{Stable: "v1", Canary: "v2", Phase: ramp.Progressing, Step: 1, Completed: 1, Percent: 10, Target: 10,
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	require.NoError(t, s.Save(ctx, want))
	got, err := s.Load(ctx)
	require.NoError(t, err)
	want.Version = ramp.StateVersion
	assert.Equal(t, want, got)

	_, err = cli.Put(ctx, "/t/state", "{not json")
	require.NoError(t, err)
	_, err = s.Load(ctx)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ramp.ErrNoState, "a corrupt state is never taken for no state")
}

func TestStoreCompareAndSwap(t *testing.T) {
	ctx := testCtx(t)
	_, cli := startEtcd(t)
	a, _ := NewStore(cli, "/t/state", nil)
	b, _ := NewStore(cli, "/t/state", nil)
	require.NoError(t, a.Save(ctx, ramp.State{Stable: "v1", Canary: "v2", Step: 0}))
	// b never read the key: it expects it absent.
	err := b.Save(ctx, ramp.State{Stable: "v1", Canary: "v2", Step: 5})
	require.ErrorIs(t, err, ErrConflict)
	_, err = b.Load(ctx)
	require.NoError(t, err)
	require.NoError(t, a.Save(ctx, ramp.State{Stable: "v1", Canary: "v2", Step: 1}))
	err = b.Save(ctx, ramp.State{Stable: "v1", Canary: "v2", Step: 5})
	require.ErrorIs(t, err, ErrConflict, "b's read is stale after a's write")
	got, err := a.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Step, "the conflicting write changed nothing")
}

func TestStoreFencedByElection(t *testing.T) {
	ctx := testCtx(t)
	_, cli := startEtcd(t)
	sa, sb := session(t, cli, 1), session(t, cli, 1)
	ea := elect(t, ctx, sa, "/t/election", "a")
	storeA, _ := NewStore(cli, "/t/state", ea)
	_, err := storeA.Load(ctx)
	require.ErrorIs(t, err, ramp.ErrNoState)
	require.NoError(t, storeA.Save(ctx, ramp.State{Stable: "v1", Canary: "v2", Step: 0}))

	// a stalls: its lease runs out without a revoke, b wins.
	sa.Orphan()
	_, err = cli.Revoke(ctx, sa.Lease())
	require.NoError(t, err)
	eb := elect(t, ctx, sb, "/t/election", "b")
	storeB, _ := NewStore(cli, "/t/state", eb)
	got, err := storeB.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, got.Step)
	require.NoError(t, storeB.Save(ctx, ramp.State{Stable: "v1", Canary: "v2", Step: 1}))

	err = storeA.Save(ctx, ramp.State{Stable: "v1", Canary: "v2", Step: 7})
	require.ErrorIs(t, err, ErrDeposed)
	// Even having read the newest state, a deposed leader cannot write.
	_, err = storeA.Load(ctx)
	require.NoError(t, err)
	err = storeA.Save(ctx, ramp.State{Stable: "v1", Canary: "v2", Step: 7})
	require.ErrorIs(t, err, ErrDeposed)
	got, err = storeB.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Step)

	never := concurrency.NewElection(sb, "/t/other")
	storeN, _ := NewStore(cli, "/t/state", never)
	require.ErrorIs(t, storeN.Save(ctx, ramp.State{}), ErrDeposed)
	assert.True(t, errors.Is(storeN.Save(ctx, ramp.State{}), ErrDeposed))
}
