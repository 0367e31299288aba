// Package release holds what goes around a rollout: the identity of a
// release, its promotion through environments, and the four keys of
// software delivery.
//
// Identity is a release's version label and the facts that pin it to one
// build (image digest, commit and its time, build time, notes URL).
// CheckLabel accepts semantic versions, git SHAs and a host's pattern, and
// refuses empty labels and moving tags such as latest, with an error
// naming the field. Identity.Revision carries the metadata into a
// rollout's rollback.History.
//
// A Pipeline moves releases through ordered environments (dev → staging →
// prod), each running its rollout through the host's Environment.Run (a
// ramp.Rollout with that environment's strategy, router, analyzer and
// triggers): a release enters an environment only after it succeeded in
// the one before, after the environment's approval when it has one, with
// the identity it entered the first environment with; a failure stops it
// there. The history of every release's path is kept in a Store, for
// processes that share it a FileStore (a versioned JSON file).
//
// Keys computes deployment frequency, lead time for changes, change
// failure rate and time to restore from a rollout history (KeysOf) or a
// pipeline's records (KeysOfRecords), builds on rollback.Stats, places
// each in the bands of the 2023 Accelerate State of DevOps Report, and
// NewCollector exposes them to Prometheus.
//
//	p, _ := release.New(release.Config{
//		Environments: []release.Environment{
//			{Name: "staging", Run: runStaging},
//			{Name: "prod", Run: runProd, Approve: askOnCall},
//		},
//		Store: release.FileStore{Path: "releases.json"},
//	})
//	rec, err := p.Deliver(ctx, release.Identity{Label: "v1.4.0", Digest: digest})
package release
