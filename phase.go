package ramp

import (
	"fmt"
	"strings"
)

// Phase is where a rollout stands. The package doc lists every transition
// between phases and what causes it (a test keeps that list and the
// engine's table the same). The zero value is Pending.
type Phase int

// Phases.
const (
	Pending Phase = iota
	Progressing
	Paused
	// RollingBack: a rollback was decided but the stable route is not yet
	// confirmed by the router (it is being retried).
	RollingBack
	Succeeded
	RolledBack
)

var phaseNames = [...]string{"pending", "progressing", "paused", "rolling_back", "succeeded", "rolled_back"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Done reports whether p is an end state.
func (p Phase) Done() bool { return p == Succeeded || p == RolledBack }

// MarshalText encodes the phase by name.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes a phase name.
func (p *Phase) UnmarshalText(b []byte) error {
	for i, n := range phaseNames {
		if strings.EqualFold(n, string(b)) {
			*p = Phase(i)
			return nil
		}
	}
	return fmt.Errorf("ramp: unknown phase %q", b)
}
