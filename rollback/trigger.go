package rollback

import "context"

// Target names the versions of a rollout a trigger watches.
type Target struct {
	Stable, Canary string
}

// Trigger demands a rollback when it sees cause. The engine runs Watch in
// its own goroutine while the rollout is progressing or paused and cancels
// ctx when the rollout ends. Watch calls fire with a reason as often as it
// likes; the engine rolls back once and records every reason. Watch
// returns when ctx is done; a non-nil error other than ctx's is reported
// as an event and does not roll back by itself.
type Trigger interface {
	Watch(ctx context.Context, t Target, fire func(reason string)) error
}

// TriggerFunc adapts a function to Trigger.
type TriggerFunc func(ctx context.Context, t Target, fire func(reason string)) error

// Watch calls f.
func (f TriggerFunc) Watch(ctx context.Context, t Target, fire func(reason string)) error {
	return f(ctx, t, fire)
}

// Gate holds traffic back from a new version until it is ready (for example
// until its health endpoint has answered N probes in a row). The engine
// calls Ready before the first step that gives the canary any traffic; a
// non-nil error rolls back with it as reason.
type Gate interface {
	Ready(ctx context.Context, t Target) error
}
