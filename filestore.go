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

// Load reads the state. A missing file wraps ErrNoState; an unreadable or
// corrupt file, or one of an unknown schema version, is an error naming the
// file — it is never silently reset.
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
	if s.Version != StateVersion {
		return State{}, fmt.Errorf("ramp: state file %s: version %d is not supported (want %d)", f.Path, s.Version, StateVersion)
	}
	return s, nil
}

// Save replaces the state atomically and durably.
func (f *FileStore) Save(ctx context.Context, s State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.Version = StateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("ramp: encode state: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(f.Path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".tmp*")
	if err != nil {
		return fmt.Errorf("ramp: save state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op error
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("ramp: save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("ramp: save state: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ramp: save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("ramp: save state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: some filesystems refuse to fsync a directory
		d.Close()
	}
	return nil
}
