//go:build unix

package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// FileStore keeps the Ledger in a JSON file (see LedgerFormat), written
// atomically (a temporary file renamed over it). Update holds an
// exclusive flock(2) on Path+".lock" while it reads, changes and writes,
// so processes sharing the file (deploytool runs of several environments)
// do not lose each other's records. A file that does not exist is an
// empty ledger.
type FileStore struct {
	Path string
}

// Load reads the ledger.
func (s FileStore) Load(ctx context.Context) (Ledger, error) {
	if err := ctx.Err(); err != nil {
		return Ledger{}, err
	}
	return s.read()
}

func (s FileStore) read() (Ledger, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Ledger{}, nil
	}
	if err != nil {
		return Ledger{}, fmt.Errorf("release history: %w", err)
	}
	return DecodeLedger(b)
}

// Update applies f under the file lock and writes the result when f
// succeeds.
func (s FileStore) Update(ctx context.Context, f func(*Ledger) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lf, err := os.OpenFile(s.Path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("release history: %w", err)
	}
	defer lf.Close() // releases the flock
	// Held only for a read and a write: blocking is short.
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("release history: flock %s.lock: %w", s.Path, err)
	}
	l, err := s.read()
	if err != nil {
		return err
	}
	if err := f(&l); err != nil {
		return err
	}
	b, err := json.MarshalIndent(ledgerFile{Format: LedgerFormat, Releases: l.Releases}, "", "  ")
	if err != nil {
		return fmt.Errorf("release history: %w", err)
	}
	return writeAtomic(s.Path, append(b, '\n'))
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("release history: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("release history: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("release history: %w", err)
	}
	return nil
}
