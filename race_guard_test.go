package ramp

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/analysis"
	"github.com/ramp-go/ramp/rollback"
	"github.com/ramp-go/ramp/strategy"
)

// A real Guard on a real Recorder, a manual Abort and promotions all race.
// Whatever the order: one rollback, stable has all traffic, and the reasons
// are kept. (A full promotion may finish before the Abort arrives; the
// rollback window makes that Abort roll back too.)
func TestGuardAbortAndPromoteRace(t *testing.T) {
	for i := range 20 {
		rec, err := analysis.NewRecorder(analysis.RecorderOptions{}, "v1", "v2")
		require.NoError(t, err)
		guard := &rollback.Guard{Source: rec, MaxErrorRate: 0.01, PollInterval: time.Millisecond}
		h := newHarness(t, steps(strategy.Step{Percent: 10}, strategy.Step{Percent: 50}), func(c *Config) {
			c.Triggers = []rollback.Trigger{guard}
			c.RollbackWindow = time.Hour
		})
		h.start()
		h.until(h.atStep(0))
		for range 300 { // the canary starts failing every request
			rec.Observe("v2", 503, time.Millisecond, 10)
			rec.Observe("v1", 200, time.Millisecond, 10)
		}
		var wg sync.WaitGroup
		var abortErr error
		wg.Add(3)
		go func() { defer wg.Done(); _ = h.r.PromoteFully() }()
		go func() { defer wg.Done(); _ = h.r.Promote() }()
		go func() { defer wg.Done(); abortErr = h.r.Abort(bg, "operator: abort") }()
		wg.Wait()
		require.NoError(t, h.wait(), "round %d", i)
		st := h.r.Status()
		require.Equal(t, RolledBack, st.Phase, "round %d", i)
		if abortErr != nil {
			// Only when the guard had already rolled back.
			require.ErrorIs(t, abortErr, ErrPhase)
			require.Contains(t, abortErr.Error(), "rolled_back")
		}
		assert.Equal(t, 0.0, h.router.canary())
		h.until(func() bool { return h.count(EventRolledBack) == 1 })
		if abortErr == nil {
			assert.Contains(t, st.Reasons, "operator: abort")
		}
		for _, r := range st.Reasons {
			assert.True(t, r == "operator: abort" || strings.HasPrefix(r, "guard: "), "unexpected reason %q", r)
		}
	}
}
