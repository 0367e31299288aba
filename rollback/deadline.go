package rollback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ramp-go/ramp/clock"
)

// Deadline is a trigger that rolls back a rollout that has not finished
// in time: within a duration of the moment it began to be watched, or by
// an absolute time (a change window that closes), whichever comes first.
//
// It is not a progress deadline — the engine's own ProgressDeadline rolls
// back a step that stalls. Deadline bounds the whole rollout, and time
// spent paused counts: the engine watches triggers while paused too. A
// rollout restarted after a crash is watched anew, so Within counts again
// from the restart; use By for a bound that survives restarts.
//
// The zero Deadline is invalid: set Within or By.
type Deadline struct {
	// Within: fire this long after Watch began. 0: no relative bound.
	Within time.Duration
	// By: fire at this time. Zero: no absolute bound. A By already past
	// when Watch begins fires at once.
	By time.Time
	// Clock is the time source; nil means the system clock.
	Clock clock.Clock
}

// Validate reports every problem with d at once.
func (d Deadline) Validate() error {
	var errs []error
	if d.Within < 0 {
		errs = append(errs, fmt.Errorf("rollback deadline: within: %v is negative", d.Within))
	}
	if d.Within == 0 && d.By.IsZero() {
		errs = append(errs, errors.New("rollback deadline: within and by are both unset: set at least one"))
	}
	return errors.Join(errs...)
}

// Watch fires once when the deadline passes, then waits for ctx. It
// returns d.Validate's error at once if d is invalid, else nil when ctx is
// done.
func (d Deadline) Watch(ctx context.Context, t Target, fire func(reason string)) error {
	if err := d.Validate(); err != nil {
		return err
	}
	clk := clock.Or(d.Clock)
	start := clk.Now()
	wait, reason := time.Duration(-1), ""
	if d.Within > 0 {
		wait = d.Within
		reason = fmt.Sprintf("deadline: rollout of %s not finished within %v (watched since %s)",
			t.Canary, d.Within, start.UTC().Format(time.RFC3339))
	}
	if !d.By.IsZero() {
		if w := d.By.Sub(start); wait < 0 || w < wait {
			wait = w
			reason = fmt.Sprintf("deadline: rollout of %s not finished by %s",
				t.Canary, d.By.UTC().Format(time.RFC3339))
		}
	}
	timer := clk.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-timer.C():
		fire(reason)
	}
	<-ctx.Done()
	return nil
}
