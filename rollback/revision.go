package rollback

import "time"

// Outcome is how a revision ended.
type Outcome string

// Outcomes of a revision.
const (
	OutcomeLive       Outcome = "live"        // still running
	OutcomeSucceeded  Outcome = "succeeded"   // promoted fully
	OutcomeRolledBack Outcome = "rolled_back" // traffic returned to the previous version
	OutcomeReplaced   Outcome = "replaced"    // a later release took its place
)

// Revision is one release in the history: what was live and how it ended.
type Revision struct {
	Version   string    `json:"version"`
	Previous  string    `json:"previous"`
	Outcome   Outcome   `json:"outcome"`
	Reason    string    `json:"reason,omitempty"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// FaultAt is when the first rollback reason arrived (zero if none);
	// EndedAt-FaultAt is the time to restore.
	FaultAt time.Time `json:"fault_at,omitzero"`
	// LiveAt is when the revision first became fully live (it ended
	// succeeded); unlike EndedAt it stays when a later release replaces
	// it. Zero for revisions that never succeeded.
	LiveAt time.Time `json:"live_at,omitzero"`

	// Release metadata, all optional (package release validates it): the
	// commit the version was built from and its time (CommitTime to
	// LiveAt is its lead time for changes), when it
	// was built, its image digest and a link to its release notes.
	Commit     string    `json:"commit,omitempty"`
	CommitTime time.Time `json:"commit_time,omitzero"`
	BuildTime  time.Time `json:"build_time,omitzero"`
	Digest     string    `json:"digest,omitempty"`
	NotesURL   string    `json:"notes_url,omitempty"`
}
