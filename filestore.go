package ramp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FileStore keeps a rollout's state in one human-readable JSON file. Save
// writes a temporary file beside it, fsyncs it, renames it over the old one
// and fsyncs the directory, so the file always holds either the old state
// or the new one, never a torn mix.
//
// The zero FileStore is not usable; set Path or call NewFileStore.
type FileStore struct {
	Path string
}

// NewFileStore returns a store that keeps its state at path.
func NewFileStore(path string) *FileStore { return &FileStore{Path: path} }

// String names the store in errors: "state file <path>".
func (f *FileStore) String() string { return "state file " + f.Path }

// Load reads the state. A missing file wraps ErrNoState; an unreadable or
// corrupt file, one of an unknown schema version, or one whose fields
// cannot be true (a share outside [0,100], a phase that does not fit the
// fields) is an error naming the file and the field — it is never silently
// reset. Version-1 files load (see StateVersion).
func (f *FileStore) Load(ctx context.Context) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("%w in %s", ErrNoState, f.Path)
	}
	if err != nil {
		return State{}, fmt.Errorf("ramp: read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("ramp: state file %s is corrupt: %w", f.Path, err)
	}
	if err := checkState(s, nil); err != nil {
		return State{}, fmt.Errorf("ramp: state file %s is invalid: %w", f.Path, err)
	}
	return s, nil
}

// Save replaces the state atomically and durably. It creates the file's
// directory when it does not exist.
func (f *FileStore) Save(ctx context.Context, s State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.Version = StateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state file %s: %w", f.Path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".tmp*")
	if err != nil {
		return fmt.Errorf("state file %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op error
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("state file %s: %w", f.Path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file %s: fsync: %w", f.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file %s: %w", f.Path, err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("state file %s: %w", f.Path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: some filesystems refuse to fsync a directory
		d.Close()
	}
	return nil
}
