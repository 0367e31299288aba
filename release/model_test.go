package release_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/release"
)

// Model check: random promotions (any environment, either of two digests,
// approved or not, rollouts succeeding or failing) on the fake clock.
// After every step each recorded path follows the environments in order
// without gaps, each stage began after the one before succeeded, a
// failure is always last, the identity never changes, and Promote's
// answer matches a model of the rules.
func TestPipelineModel(t *testing.T) {
	ctx := context.Background()
	envs := []string{"dev", "staging", "prod"}
	rng := rand.New(rand.NewPCG(3, 5))
	seen := map[string]int{} // how often each answer came: the walk covers them all
	for run := range 10 {
		clk := clock.NewFake(t0)
		var succeed, approve bool
		cfg := release.Config{Clock: clk}
		for _, name := range envs {
			e := release.Environment{Name: name, Run: func(context.Context, release.Identity) (release.Outcome, error) {
				clk.Advance(time.Duration(1+rng.IntN(30)) * time.Minute)
				if succeed {
					return release.Outcome{Succeeded: true}, nil
				}
				return release.Outcome{Reason: "rolled back", FaultAt: clk.Now()}, nil
			}}
			if name == "prod" {
				e.Approve = func(context.Context, release.Identity, string) (release.Approval, error) {
					if approve {
						return release.Approval{By: "alice"}, nil
					}
					return release.Approval{}, errors.New("no")
				}
			}
			cfg.Environments = append(cfg.Environments, e)
		}
		p, err := release.New(cfg)
		require.NoError(t, err)

		type state struct {
			digest string
			done   int // environments succeeded
			failed bool
		}
		model := map[string]*state{}
		for step := range 60 {
			label := fmt.Sprintf("v1.%d.0", rng.IntN(4))
			env := rng.IntN(len(envs))
			digest := []string{digestA, digestB}[rng.IntN(2)]
			succeed, approve = rng.IntN(4) > 0, rng.IntN(3) > 0
			clk.Advance(time.Minute)
			st, err := p.Promote(ctx, envs[env], release.Identity{Label: label, Digest: digest})

			m := model[label]
			var want error
			switch {
			case m == nil && env > 0:
				want = release.ErrOrder
			case m != nil && m.digest != digest:
				want = release.ErrIdentity
			case m != nil && m.failed:
				want = release.ErrStopped
			case m != nil && env < m.done:
				want = release.ErrDone
			case m != nil && env > m.done:
				want = release.ErrOrder
			case envs[env] == "prod" && !approve:
				want = release.ErrNotApproved
			}
			where := fmt.Sprintf("run %d step %d: %s into %s", run, step, label, envs[env])
			if want != nil {
				require.ErrorIs(t, err, want, where)
				seen[want.Error()]++
			} else {
				require.NoError(t, err, where)
				if m == nil {
					m = &state{digest: digest}
					model[label] = m
				}
				if succeed {
					require.Equal(t, release.Succeeded, st.Status, where)
					m.done++
					seen["live in "+envs[env]]++
				} else {
					require.Equal(t, release.Failed, st.Status, where)
					m.failed = true
				}
			}
			recs, err := p.Records(ctx)
			require.NoError(t, err)
			require.Len(t, recs, len(model), where)
			for _, r := range recs {
				m := model[r.Identity.Label]
				require.Equal(t, m.digest, r.Identity.Digest, "%s: the identity changed", where)
				wantLen := m.done
				if m.failed {
					wantLen++
				}
				require.Len(t, r.Path, wantLen, where)
				for k, s := range r.Path {
					require.Equal(t, envs[k], s.Env, "%s: environments in order, none skipped", where)
					require.False(t, s.End.Before(s.Start), where)
					if k > 0 {
						prev := r.Path[k-1]
						require.Equal(t, release.Succeeded, prev.Status, "%s: entered %s after %s %s", where, s.Env, prev.Env, prev.Status)
						require.False(t, s.Start.Before(prev.End), "%s: began before the one before ended", where)
					}
					if s.Status == release.Failed {
						require.Equal(t, len(r.Path)-1, k, "%s: nothing after a failure", where)
					}
					if s.Env == "prod" {
						require.Equal(t, "alice", s.ApprovedBy, where)
					}
				}
			}
		}
	}
	for _, k := range []error{release.ErrOrder, release.ErrIdentity, release.ErrStopped, release.ErrDone, release.ErrNotApproved} {
		require.Positive(t, seen[k.Error()], "never refused with %v", k)
	}
	require.Positive(t, seen["live in prod"], "no release reached prod")
}
