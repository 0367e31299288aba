// Package lock defines the deploy lock: one rollout of a service at a time.
//
// A Lock is taken by a rollout for its service for its whole life and names
// its holder, so a second attempt fails fast with an error that says who
// holds it (errors.Is(err, ErrHeld); errors.As to *HeldError for the
// holder). A lock dies with its holder: a file lock when the process exits
// (even by SIGKILL), an etcd lock when its lease expires. Implementations:
// File in this package for one host; the fleet module's etcd lock across
// hosts.
package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrHeld is wrapped by TryAcquire when another holder has the lock.
var ErrHeld = errors.New("lock: held by another")

// ErrNotHeld is wrapped by Release when the caller does not hold the lock.
var ErrNotHeld = errors.New("lock: not held")

// Holder identifies who holds a lock and why.
type Holder struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Version string    `json:"version,omitempty"` // the version being released
	Purpose string    `json:"purpose,omitempty"` // "rollout of shop v2.1.0", "manual hold"
	Since   time.Time `json:"since"`
}

// String says who holds the lock, for errors and logs.
func (h Holder) String() string {
	if h == (Holder{}) {
		return "an unknown holder"
	}
	s := fmt.Sprintf("%s pid %d", h.Host, h.PID)
	if h.Version != "" {
		s += " releasing " + h.Version
	}
	if h.Purpose != "" {
		s += " (" + h.Purpose + ")"
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s
}

// HeldError is returned (wrapping ErrHeld) when the lock is taken.
type HeldError struct {
	Name   string // the lock's name, e.g. the service
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lock %q is held by %s", e.Name, e.Holder)
}

// Unwrap makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Unwrap() error { return ErrHeld }

// Lock is a deploy lock for one service.
type Lock interface {
	// TryAcquire takes the lock for h without waiting. When another holder
	// has it, the error wraps ErrHeld (a *HeldError naming the holder).
	// Taking a lock this Lock already holds is an error, not a re-entry.
	TryAcquire(ctx context.Context, h Holder) error
	// Release gives the lock up. Releasing a lock this Lock does not hold
	// returns an error wrapping ErrNotHeld and never frees another's lock.
	Release(ctx context.Context) error
	// Holder reports who holds the lock now; ok is false when nobody does.
	Holder(ctx context.Context) (h Holder, ok bool, err error)
}
