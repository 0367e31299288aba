package release_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/rollback"
)

func ExampleCheckLabel() {
	for _, label := range []string{"v1.4.0", "3f2a9c1", "latest", " "} {
		fmt.Println(release.CheckLabel("version", label, nil))
	}
	// Output:
	// <nil>
	// <nil>
	// version: "latest" is a moving tag: it names whatever was built last; name one build (a semantic version such as v1.2.3, or a git SHA)
	// version: empty; name one build (a semantic version such as v1.2.3, or a git SHA)
}

// A release moves through staging into prod, which needs an approval; a
// different build under the same label is refused. Run would start a
// ramp.Rollout with the environment's own configuration.
func ExamplePipeline() {
	ctx := context.Background()
	run := func(env string) func(context.Context, release.Identity) (release.Outcome, error) {
		return func(_ context.Context, id release.Identity) (release.Outcome, error) {
			fmt.Printf("rolling out %s (%s…) in %s\n", id.Label, id.Digest[:13], env)
			return release.Outcome{Succeeded: true}, nil
		}
	}
	p, err := release.New(release.Config{
		Environments: []release.Environment{
			{Name: "staging", Run: run("staging")},
			{Name: "prod", Run: run("prod"), Approve: func(context.Context, release.Identity, string) (release.Approval, error) {
				return release.Approval{By: "alice", Note: "CHG-1234"}, nil
			}},
		},
		Store: &release.MemoryStore{}, // release.FileStore{Path: "releases.json"} to share it between jobs
	})
	if err != nil {
		panic(err)
	}
	id := release.Identity{Label: "v1.4.0", Digest: "sha256:" + strings.Repeat("a", 64)}

	_, err = p.Promote(ctx, "prod", id)
	fmt.Println(errors.Is(err, release.ErrOrder))

	rec, err := p.Deliver(ctx, id)
	if err != nil {
		panic(err)
	}
	for _, s := range rec.Path {
		fmt.Printf("%s %s %q\n", s.Env, s.Status, s.ApprovedBy)
	}

	_, err = p.Promote(ctx, "prod", release.Identity{Label: "v1.4.0", Digest: "sha256:" + strings.Repeat("b", 64)})
	fmt.Println(errors.Is(err, release.ErrIdentity))
	// Output:
	// true
	// rolling out v1.4.0 (sha256:aaaaaa…) in staging
	// rolling out v1.4.0 (sha256:aaaaaa…) in prod
	// staging succeeded ""
	// prod succeeded "alice"
	// true
}

// The four keys from a rollout's history, placed in the DORA bands.
func ExampleKeysOf() {
	h, _ := rollback.NewHistory(50)
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 10 { // one release a day, each 2 hours from commit to live
		at := start.Add(time.Duration(i) * 24 * time.Hour)
		id := release.Identity{Label: fmt.Sprintf("v1.%d.0", i), CommitTime: at.Add(-90 * time.Minute)}
		_ = h.Add(id.Revision("", at))
		if i == 4 { // found faulty 5 minutes in, rolled back 3 minutes later
			_ = h.Fault(id.Label, at.Add(5*time.Minute))
			_ = h.End(id.Label, rollback.OutcomeRolledBack, "error rate", at.Add(8*time.Minute))
			continue
		}
		_ = h.End(id.Label, rollback.OutcomeSucceeded, "", at.Add(30*time.Minute))
	}
	k := release.KeysOf(h.Revisions(), start.Add(10*24*time.Hour), 10*24*time.Hour)
	fmt.Println(k)
	// Output:
	// deployment frequency 1.00/day (elite), lead time 2h0m0s (elite), change failure rate 10% (1 of 10) (high), time to restore 3m0s (elite)
}

// The four keys as Prometheus metrics, computed at every scrape from the
// pipeline's history.
func ExampleNewCollector() {
	ctx := context.Background()
	p, _ := release.New(release.Config{Environments: []release.Environment{{Name: "prod",
		Run: func(context.Context, release.Identity) (release.Outcome, error) {
			return release.Outcome{Succeeded: true}, nil
		}}}})
	_, _ = p.Promote(ctx, "prod", release.Identity{Label: "v2.0.0", CommitTime: time.Now().Add(-3 * time.Hour)})

	reg := prometheus.NewRegistry()
	reg.MustRegister(release.NewCollector(func() release.Keys {
		recs, _ := p.Records(ctx)
		return release.KeysOfRecords(recs, "prod", time.Now(), 30*24*time.Hour)
	}, release.CollectorOpts{ConstLabels: prometheus.Labels{"service": "checkout"}}))
	families, _ := reg.Gather()
	for _, f := range families {
		for _, m := range f.GetMetric() {
			label := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "key" {
					label = "{" + l.GetValue() + "}"
				}
			}
			fmt.Printf("%s%s %.4g\n", f.GetName(), label, m.GetGauge().GetValue())
		}
	}
	// Output:
	// ramp_dora_band{change_failure_rate} 4
	// ramp_dora_band{deployment_frequency} 2
	// ramp_dora_band{lead_time} 4
	// ramp_dora_band{time_to_restore} 0
	// ramp_dora_change_failure_ratio 0
	// ramp_dora_deployments_per_day 0.03333
	// ramp_dora_lead_time_seconds 1.08e+04
}
