package release

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/window"
)

// Errors of Pipeline.Promote, tested with errors.Is.
var (
	// ErrOrder: the release has not succeeded in the environment before.
	ErrOrder = errors.New("release: not promoted in order")
	// ErrStopped: the release failed in an environment and goes no further.
	ErrStopped = errors.New("release: stopped by an earlier failure")
	// ErrNotApproved: the environment's approval was refused or did not come.
	ErrNotApproved = errors.New("release: not approved")
	// ErrDone: the release already succeeded in the environment.
	ErrDone = errors.New("release: already live in that environment")
	// ErrRunning: a rollout of the release in the environment has not
	// ended (see Pipeline.Abandon when its process died).
	ErrRunning = errors.New("release: already running in that environment")
	// ErrUnknownEnv: no environment of that name.
	ErrUnknownEnv = errors.New("release: no such environment")
	// ErrClosed: the environment's deployment window is closed (a
	// *ClosedError says why and until when).
	ErrClosed = errors.New("release: outside the deployment window")
)

// ClosedError is returned (wrapping ErrClosed) when an environment's
// window refuses a release.
type ClosedError struct {
	Env      string
	Decision window.Decision
}

func (e *ClosedError) Error() string {
	return fmt.Sprintf("%s: outside the deployment window: %s", e.Env, e.Decision.Reason)
}

// Unwrap makes errors.Is(err, ErrClosed) true.
func (e *ClosedError) Unwrap() error { return ErrClosed }

// Outcome is what a rollout in one environment came to.
type Outcome struct {
	// Succeeded: the release is fully live in the environment.
	Succeeded bool
	// Reason says why it did not succeed.
	Reason string
	// FaultAt is when the fault was detected (the first rollback reason);
	// zero if none or unknown.
	FaultAt time.Time
	// End is when the rollout ended (the stable version serving again,
	// after a rollback); zero means when Run returned.
	End time.Time
}

// Approval is who let a release into an environment.
type Approval struct {
	By   string
	Note string
}

// Environment is one stage of a pipeline.
type Environment struct {
	// Name is unique in the pipeline ("dev", "staging", "prod").
	Name string
	// Run runs the release's rollout in this environment with the
	// environment's own configuration (strategy, router, analyzer,
	// triggers) and reports how it ended. An error counts as a failure
	// with the error as its reason. Required.
	Run func(ctx context.Context, id Identity) (Outcome, error)
	// Approve, when set, must approve before the release may enter: it
	// may block (a person deciding) until ctx ends. An error refuses
	// (Promote's error then wraps ErrNotApproved and nothing is recorded:
	// the release may ask again); an Approval with an empty By is refused
	// too.
	Approve func(ctx context.Context, id Identity, env string) (Approval, error)
	// Window, when set, must be open for the release to enter: a closed
	// window refuses it (ErrClosed) unless an override opens it, which
	// the stage records. Windows do not stop a rollout that runs: Run
	// passes the Checker to its rollout (ramp.Config.Window) for that.
	Window window.Checker
}

// Config configures a Pipeline.
type Config struct {
	// Environments in promotion order; at least one, names unique.
	Environments []Environment
	// Store keeps the history; nil means a MemoryStore.
	Store Store
	// LabelPattern is the host's extra form of version label (see
	// CheckLabel); nil accepts semantic versions and git SHAs only.
	LabelPattern *regexp.Regexp
	// Clock stamps the stages; nil means the real clock.
	Clock clock.Clock
}

// Pipeline promotes releases through environments in order. Each release
// has one identity, fixed when it enters the first environment; it enters
// an environment only after it succeeded in the one before, after the
// environment's approval when it needs one, and stops at the first
// failure. Every step is written to the Store before and after the
// rollout, so separate processes (one CI job per environment) share one
// history. A Pipeline is safe for concurrent use; promoting one release
// into one environment twice at once is refused (ErrRunning).
type Pipeline struct {
	envs    []Environment
	store   Store
	pattern *regexp.Regexp
	clk     clock.Clock
}

// New checks c and returns its Pipeline.
func New(c Config) (*Pipeline, error) {
	var errs []error
	if len(c.Environments) == 0 {
		errs = append(errs, errors.New("environments: none"))
	}
	seen := map[string]bool{}
	for i, e := range c.Environments {
		switch {
		case strings.TrimSpace(e.Name) == "":
			errs = append(errs, fmt.Errorf("environments[%d].name: empty", i))
		case seen[e.Name]:
			errs = append(errs, fmt.Errorf("environments[%d].name: %q is also an earlier environment", i, e.Name))
		}
		seen[e.Name] = true
		if e.Run == nil {
			errs = append(errs, fmt.Errorf("environments[%d].run: nil", i))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("release pipeline: %w", errors.Join(errs...))
	}
	p := &Pipeline{envs: c.Environments, store: c.Store, pattern: c.LabelPattern, clk: clock.Or(c.Clock)}
	if p.store == nil {
		p.store = &MemoryStore{}
	}
	return p, nil
}

// Environments returns the environments' names in order.
func (p *Pipeline) Environments() []string {
	names := make([]string, len(p.envs))
	for i, e := range p.envs {
		names[i] = e.Name
	}
	return names
}

func (p *Pipeline) index(env string) int {
	for i, e := range p.envs {
		if e.Name == env {
			return i
		}
	}
	return -1
}

// Promote runs the release id in environment env: it checks the order
// and the identity, asks the environment's approval, checks its window
// (after the approval, which may take long), records the stage as
// running, runs the rollout and records how it ended. The returned Stage
// is the recorded one. Errors wrap ErrUnknownEnv, ErrOrder, ErrStopped,
// ErrIdentity, ErrNotApproved, ErrClosed, ErrDone or ErrRunning when the release may
// not enter; a rollout that fails returns its Stage (Status Failed) and a
// nil error: the failure is recorded, not an error of Promote.
func (p *Pipeline) Promote(ctx context.Context, env string, id Identity) (Stage, error) {
	i := p.index(env)
	if i < 0 {
		return Stage{}, fmt.Errorf("release %s: env: %q: %w (have %s)", id.Label, env, ErrUnknownEnv, strings.Join(p.Environments(), ", "))
	}
	if err := id.Validate(p.pattern); err != nil {
		return Stage{}, fmt.Errorf("release: %w", err)
	}
	l, err := p.store.Load(ctx)
	if err != nil {
		return Stage{}, err
	}
	// Refuse before asking anyone for an approval.
	if _, err := p.admit(&l, i, id); err != nil {
		return Stage{}, err
	}
	var approval Approval
	if e := p.envs[i]; e.Approve != nil {
		a, err := e.Approve(ctx, id, env)
		if err == nil && strings.TrimSpace(a.By) == "" {
			err = errors.New("the approval names nobody")
		}
		if err != nil {
			return Stage{}, fmt.Errorf("release %s into %s: %w: %w", id.Label, env, ErrNotApproved, err)
		}
		approval = a
	}
	var pinned Identity
	stage := Stage{Env: env, Status: Running, Start: p.clk.Now(), ApprovedBy: approval.By, ApprovalNote: approval.Note}
	if w := p.envs[i].Window; w != nil {
		d := w.Check(stage.Start)
		if !d.Open {
			return Stage{}, fmt.Errorf("release %s: %w", id.Label, &ClosedError{Env: env, Decision: d})
		}
		if o := d.Override; o != nil {
			stage.OverrideBy, stage.OverrideReason = o.Who, o.Why
		}
	}
	err = p.store.Update(ctx, func(l *Ledger) error {
		r, err := p.admit(l, i, id) // again: the ledger may have changed while approving
		if err != nil {
			return err
		}
		if r == nil {
			l.Releases = append(l.Releases, Record{Identity: id})
			r = &l.Releases[len(l.Releases)-1]
		}
		r.Path = append(r.Path, stage)
		pinned = r.Identity
		return nil
	})
	if err != nil {
		return Stage{}, err
	}
	out, runErr := p.envs[i].Run(ctx, pinned)
	stage.End = out.End
	if stage.End.IsZero() {
		stage.End = p.clk.Now()
	}
	stage.Status, stage.Reason, stage.FaultAt = Succeeded, out.Reason, out.FaultAt
	if runErr != nil || !out.Succeeded {
		stage.Status = Failed
		if runErr != nil {
			stage.Reason = runErr.Error()
		}
		if stage.Reason == "" {
			stage.Reason = "the rollout did not succeed"
		}
	}
	// Record the end even when ctx has ended: the rollout did.
	err = p.store.Update(context.WithoutCancel(ctx), func(l *Ledger) error {
		r := l.find(id.Label)
		if r == nil || r.stage(env) == nil {
			return fmt.Errorf("release %s: its %s stage vanished from the history", id.Label, env)
		}
		*r.stage(env) = stage
		return nil
	})
	return stage, err
}

// admit checks that id may enter environment i of l and returns its
// record (nil for a release new to the first environment).
func (p *Pipeline) admit(l *Ledger, i int, id Identity) (*Record, error) {
	env := p.envs[i].Name
	r := l.find(id.Label)
	if r == nil {
		if i > 0 {
			return nil, fmt.Errorf("release %s: cannot enter %s: it has not entered %s (%w)", id.Label, env, p.envs[0].Name, ErrOrder)
		}
		return nil, nil
	}
	if err := r.Identity.pin(id); err != nil {
		return nil, fmt.Errorf("release %s into %s: %w", id.Label, env, err)
	}
	for _, s := range r.Path {
		if s.Status == Failed {
			return nil, fmt.Errorf("release %s: cannot enter %s: it failed in %s at %s: %s (%w)", id.Label, env, s.Env, s.End.Format(time.RFC3339), s.Reason, ErrStopped)
		}
	}
	if s := r.stage(env); s != nil {
		if s.Status == Running {
			return nil, fmt.Errorf("release %s: its rollout in %s started at %s has not ended (%w)", id.Label, env, s.Start.Format(time.RFC3339), ErrRunning)
		}
		return nil, fmt.Errorf("release %s: live in %s since %s (%w)", id.Label, env, s.End.Format(time.RFC3339), ErrDone)
	}
	if i > 0 {
		prev := p.envs[i-1].Name
		if s := r.stage(prev); s == nil || s.Status != Succeeded {
			state := "has not entered it"
			if s != nil {
				state = "is " + string(s.Status) + " there"
			}
			return nil, fmt.Errorf("release %s: cannot enter %s before it succeeded in %s: it %s (%w)", id.Label, env, prev, state, ErrOrder)
		}
	}
	return r, nil
}

// Abandon marks the release's running stage in env failed with reason:
// for a rollout whose process died, so that its outcome is unknown. The
// release stops there, as after any failure.
func (p *Pipeline) Abandon(ctx context.Context, env, label, reason string) error {
	return p.store.Update(ctx, func(l *Ledger) error {
		r := l.find(label)
		var s *Stage
		if r != nil {
			s = r.stage(env)
		}
		if s == nil || s.Status != Running {
			return fmt.Errorf("release %s: no running stage in %s to abandon", label, env)
		}
		s.Status, s.Reason, s.End = Failed, "abandoned: "+reason, p.clk.Now()
		return nil
	})
}

// Deliver promotes the release through every environment it has not
// succeeded in yet, in order, and returns its record. It stops at the
// first refusal (returned as the error) or failure (the record's last
// stage, with a nil error).
func (p *Pipeline) Deliver(ctx context.Context, id Identity) (Record, error) {
	for _, e := range p.envs {
		st, err := p.Promote(ctx, e.Name, id)
		if errors.Is(err, ErrDone) {
			continue
		}
		if err != nil || st.Status != Succeeded {
			rec, _, lerr := p.Record(ctx, id.Label)
			return rec, errors.Join(err, lerr)
		}
	}
	rec, _, err := p.Record(ctx, id.Label)
	return rec, err
}

// Record returns the release's path.
func (p *Pipeline) Record(ctx context.Context, label string) (Record, bool, error) {
	l, err := p.store.Load(ctx)
	if err != nil {
		return Record{}, false, err
	}
	if r := l.find(label); r != nil {
		return *r, true, nil
	}
	return Record{}, false, nil
}

// Records returns every release's path, oldest release first.
func (p *Pipeline) Records(ctx context.Context) ([]Record, error) {
	l, err := p.store.Load(ctx)
	return l.Releases, err
}
