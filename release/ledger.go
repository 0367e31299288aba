package release

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Status is where a release stands in one environment.
type Status string

// Statuses of a Stage.
const (
	Running   Status = "running"   // its rollout started and has not ended
	Succeeded Status = "succeeded" // fully live there
	Failed    Status = "failed"    // rolled back or broken there: the release stops
)

// Stage is one environment on a release's path.
type Stage struct {
	Env    string    `json:"env"`
	Status Status    `json:"status"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	// ApprovedBy and ApprovalNote record who let the release in, when the
	// environment needs an approval.
	ApprovedBy   string `json:"approved_by,omitempty"`
	ApprovalNote string `json:"approval_note,omitempty"`
	// OverrideBy and OverrideReason record who let the release in while
	// the environment's window was closed, and why.
	OverrideBy     string `json:"override_by,omitempty"`
	OverrideReason string `json:"override_reason,omitempty"`
	// Reason says why the stage failed.
	Reason string `json:"reason,omitempty"`
	// FaultAt is when the fault that failed the stage was detected (the
	// first rollback reason); End-FaultAt is its time to restore.
	FaultAt time.Time `json:"fault_at,omitzero"`
}

// Record is one release's path through the environments.
type Record struct {
	// Identity was fixed when the release entered its first environment.
	Identity Identity `json:"identity"`
	// Path lists the environments entered, in order.
	Path []Stage `json:"path"`
}

// Stage returns the release's stage in env.
func (r Record) Stage(env string) (Stage, bool) {
	for _, s := range r.Path {
		if s.Env == env {
			return s, true
		}
	}
	return Stage{}, false
}

func (r *Record) stage(env string) *Stage {
	for i := range r.Path {
		if r.Path[i].Env == env {
			return &r.Path[i]
		}
	}
	return nil
}

// Ledger is the pipeline history: every release's path, oldest release
// first.
type Ledger struct {
	Releases []Record
}

func (l *Ledger) find(label string) *Record {
	for i := len(l.Releases) - 1; i >= 0; i-- {
		if l.Releases[i].Identity.Label == label {
			return &l.Releases[i]
		}
	}
	return nil
}

// Store keeps a Ledger. Update must apply f atomically with respect to
// other Updates of the same ledger (other processes too, for a file).
type Store interface {
	Load(ctx context.Context) (Ledger, error)
	Update(ctx context.Context, f func(*Ledger) error) error
}

// MemoryStore keeps a Ledger in memory. The zero value is empty and ready.
type MemoryStore struct {
	mu sync.Mutex
	l  Ledger
}

// Load returns a copy of the ledger.
func (m *MemoryStore) Load(context.Context) (Ledger, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneLedger(m.l), nil
}

// Update applies f to a copy and keeps it when f succeeds.
func (m *MemoryStore) Update(_ context.Context, f func(*Ledger) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := cloneLedger(m.l)
	if err := f(&l); err != nil {
		return err
	}
	m.l = l
	return nil
}

func cloneLedger(l Ledger) Ledger {
	out := Ledger{Releases: make([]Record, len(l.Releases))}
	for i, r := range l.Releases {
		r.Path = append([]Stage(nil), r.Path...)
		out.Releases[i] = r
	}
	return out
}

// LedgerFormat is the version of the history file that FileStore writes;
// it reads this version and refuses others with an error that says so.
const LedgerFormat = 1

// ledgerFile is the history file:
//
//	{"format": 1, "releases": [{"identity": {...}, "path": [{"env": "dev", ...}]}]}
type ledgerFile struct {
	Format   int      `json:"format"`
	Releases []Record `json:"releases"`
}

// DecodeLedger reads a history file's contents. A format other than
// LedgerFormat is refused with an error naming it.
func DecodeLedger(b []byte) (Ledger, error) {
	var probe struct {
		Format *int `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Ledger{}, fmt.Errorf("release history: not valid JSON: %w", err)
	}
	switch {
	case probe.Format == nil:
		return Ledger{}, fmt.Errorf("release history: format: missing (this version reads format %d)", LedgerFormat)
	case *probe.Format > LedgerFormat:
		return Ledger{}, fmt.Errorf("release history: format: %d is newer than this version reads (%d): upgrade the tool", *probe.Format, LedgerFormat)
	case *probe.Format != LedgerFormat:
		return Ledger{}, fmt.Errorf("release history: format: %d is not supported (this version reads format %d)", *probe.Format, LedgerFormat)
	}
	var f ledgerFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Ledger{}, fmt.Errorf("release history: %w", err)
	}
	for i, r := range f.Releases {
		if r.Identity.Label == "" {
			return Ledger{}, fmt.Errorf("release history: releases[%d].identity.label: empty", i)
		}
		for j, st := range r.Path {
			switch st.Status {
			case Running, Succeeded, Failed:
			default:
				return Ledger{}, fmt.Errorf("release history: releases[%d].path[%d].status: %q is not running, succeeded or failed", i, j, st.Status)
			}
		}
	}
	return Ledger{Releases: f.Releases}, nil
}
