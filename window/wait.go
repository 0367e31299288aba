package window

import (
	"context"
	"fmt"
	"time"

	"github.com/ramp-go/ramp/clock"
)

// DefaultPoll is how long Wait sleeps when a decision has no Next (the
// stop-the-line switch, a schedule too dense to see through): it asks
// again after this long.
const DefaultPoll = time.Minute

// Wait blocks until c is open and returns the open decision, for a host
// that lets a new rollout wait for its window rather than refusing it. It
// sleeps until each closed decision's Next, or poll when Next is unknown
// (0 or less means DefaultPoll), on clk (nil: the real clock). When ctx
// ends first it returns the last closed decision and an error wrapping
// ctx's.
func Wait(ctx context.Context, c Checker, clk clock.Clock, poll time.Duration) (Decision, error) {
	clk = clock.Or(clk)
	if poll <= 0 {
		poll = DefaultPoll
	}
	for {
		now := clk.Now()
		d := c.Check(now)
		if d.Open {
			return d, nil
		}
		wait := poll
		if !d.Next.IsZero() {
			wait = max(d.Next.Sub(now), 0)
		}
		t := clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return d, fmt.Errorf("window: waiting for %s: %w", d.Reason, context.Cause(ctx))
		case <-t.C():
		}
	}
}
