//go:build unix

package lock_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ramp-go/ramp/lock"
)

// What taking and giving up the file lock costs (open, flock, write the
// holder; truncate, unlock, close), and the answer a second caller gets.
func BenchmarkFile(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "svc.lock")
	h := lock.Holder{Host: "ci-1", PID: 1, Version: "v1.2.3"}
	b.Run("acquire+release", func(b *testing.B) {
		l := lock.NewFile(path, "svc")
		b.ReportAllocs()
		for b.Loop() {
			if err := l.TryAcquire(ctx, h); err != nil {
				b.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("held", func(b *testing.B) {
		holder, other := lock.NewFile(path, "svc"), lock.NewFile(path, "svc")
		if err := holder.TryAcquire(ctx, h); err != nil {
			b.Fatal(err)
		}
		defer holder.Release(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if err := other.TryAcquire(ctx, h); err == nil {
				b.Fatal("acquired a held lock")
			}
		}
	})
}
