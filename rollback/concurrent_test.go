package rollback

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
)

// TestTriggersFireTogether runs every kind of trigger against one fire
// func, as the engine does, with all of them firing at once and the push
// triggers firing many times from many goroutines. Every reason must
// arrive, no trigger may block, and every Watch must return on cancel.
func TestTriggersFireTogether(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	fire := func(r string) { // what the engine's fire does: record, never block long
		kind, _, _ := strings.Cut(r, ":")
		mu.Lock()
		got[kind]++
		mu.Unlock()
	}

	e := newEndpoint(t)
	e.mode.Store(down)
	guardClock := clock.NewFake(t0)
	rec := newRecorder(t, guardClock)
	manual := &Manual{}
	hook := &Webhook{Secret: secret}
	triggers := []Trigger{
		manual,
		hook,
		Deadline{By: t0.Add(-time.Second), Clock: clock.NewFake(t0)},
		&HealthCheck{URL: e.URL, Interval: time.Second, FailureThreshold: 1, Clock: clock.NewFake(t0)},
		&Guard{Source: rec, MaxErrorRate: 0.01, MaxLatency: 100 * time.Millisecond, Clock: guardClock},
		TriggerFunc(func(ctx context.Context, _ Target, fire func(string)) error {
			for range 100 {
				fire("custom: burst")
			}
			<-ctx.Done()
			return nil
		}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, len(triggers))
	for _, tr := range triggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- tr.Watch(ctx, target, fire)
		}()
	}
	waitFor(t, "push triggers watched", func() bool { return manual.Watching() == 1 && hook.Watching() == 1 })
	// The canary times out on every request: the guard's two checks fire
	// in its next poll, together with everything else.
	waiters(t, guardClock, 1)
	observe(rec, "v2", 50, 504, 30*time.Second)
	guardClock.Advance(DefaultGuardPoll)

	const senders, each = 8, 25
	var send sync.WaitGroup
	for i := range senders {
		send.Add(2)
		go func() {
			defer send.Done()
			for j := range each {
				assert.NoError(t, manual.Fire(fmt.Sprintf("abort %d/%d", i, j)))
			}
		}()
		go func() {
			defer send.Done()
			for j := range each {
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(fmt.Sprintf(`{"reason":"incident %d/%d"}`, i, j)))
				r.Header.Set("Authorization", "Bearer "+secret)
				hook.ServeHTTP(w, r)
				assert.Equal(t, http.StatusAccepted, w.Code)
			}
		}()
	}
	send.Wait()
	want := map[string]int{"manual": senders * each, "webhook": senders * each, "deadline": 1, "health check http": 1, "custom": 100, "guard": 2}
	waitFor(t, "every reason", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["manual"] == want["manual"] && got["webhook"] == want["webhook"] &&
			got["deadline"] == 1 && got["health check http"] == 1 && got["custom"] == 100 && got["guard"] == 2
	})
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	mu.Lock()
	assert.Equal(t, want, got)
	mu.Unlock()
	assert.Equal(t, 0, manual.Watching())
	assert.Equal(t, 0, hook.Watching())
}
