//go:build unix

package lock_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ramp-go/ramp/lock"
)

// Two deploys of one service on one host: the second fails at once and
// says who holds the lock.
func ExampleFile() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "lock")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "checkout.lock")

	first := lock.NewFile(path, "checkout")
	since := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	if err := first.TryAcquire(ctx, lock.Holder{Host: "ci-7", PID: 812, Version: "v1.4.0", Since: since}); err != nil {
		panic(err)
	}

	second := lock.NewFile(path, "checkout")
	err := second.TryAcquire(ctx, lock.Holder{Host: "ci-9", Version: "v1.4.1"})
	fmt.Println(errors.Is(err, lock.ErrHeld))
	fmt.Println(err)

	_ = first.Release(ctx)
	fmt.Println(second.TryAcquire(ctx, lock.Holder{Host: "ci-9", Version: "v1.4.1"}))
	_ = second.Release(ctx)
	// Output:
	// true
	// lock "checkout" is held by ci-7 pid 812 releasing v1.4.0 since 2026-12-01T09:30:00Z
	// <nil>
}
