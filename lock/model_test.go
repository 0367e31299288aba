//go:build unix

package lock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/lock"
)

// Model check: random acquire, release and holder calls on several File
// values of one path; after every step at most one holds, and what each
// call returns matches a model of who holds.
func TestFileModel(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 13))
	for run := range 5 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("m%d.lock", run))
		const n = 4
		locks := make([]*lock.File, n)
		for i := range locks {
			locks[i] = lock.NewFile(path, "svc")
		}
		holder := -1 // the model: which lock holds, -1 none
		for step := range 200 {
			i := rng.IntN(n)
			switch rng.IntN(3) {
			case 0:
				err := locks[i].TryAcquire(ctx, lock.Holder{Host: fmt.Sprintf("h%d", i), PID: 100 + i})
				switch holder {
				case -1:
					require.NoError(t, err, "run %d step %d", run, step)
					holder = i
				case i:
					require.Error(t, err)
					require.False(t, errors.Is(err, lock.ErrHeld), "own lock: misuse, not held by another")
				default:
					var held *lock.HeldError
					require.ErrorAs(t, err, &held, "run %d step %d", run, step)
					require.Equal(t, fmt.Sprintf("h%d", holder), held.Holder.Host)
				}
			case 1:
				err := locks[i].Release(ctx)
				if holder == i {
					require.NoError(t, err)
					holder = -1
				} else {
					require.ErrorIs(t, err, lock.ErrNotHeld)
				}
			default:
				h, ok, err := locks[i].Holder(ctx)
				require.NoError(t, err)
				require.Equal(t, holder != -1, ok, "run %d step %d", run, step)
				if ok {
					require.Equal(t, fmt.Sprintf("h%d", holder), h.Host)
				}
			}
		}
		if holder != -1 {
			require.NoError(t, locks[holder].Release(ctx))
		}
	}
}
