//go:build unix

package lock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
)

// File is a deploy lock for one host: an exclusive flock(2) on a lock file
// that holds the holder's identity as one line of JSON.
//
// The kernel owns the lock, not the file's contents: it is released when
// the holder calls Release, closes the file, or dies in any way (SIGKILL
// and crashes included), so a lock left by a dead process never blocks.
// The contents only name the holder for the error a second caller gets.
// The file is never removed: removing a flock'ed file would let two
// processes lock two different inodes under one name.
//
// Two File values on one path exclude each other even in one process (each
// has its own open file description). The descriptor is opened
// close-on-exec, so a child process started by the holder does not keep
// the lock alive.
//
// Create a File with NewFile; the zero File has no path and refuses
// TryAcquire with an error. A File is safe for concurrent use.
type File struct {
	path string
	name string

	mu sync.Mutex
	f  *os.File // open and locked while held
	h  Holder
}

// NewFile returns a lock on the file at path (created on first use, mode
// 0644). name is how errors name the lock, typically the service; empty
// means the path.
func NewFile(path, name string) *File {
	if name == "" {
		name = path
	}
	return &File{path: path, name: name}
}

// Path is the lock file's path.
func (l *File) Path() string { return l.path }

// TryAcquire tries flock again when it may have met a Holder probe (a
// shared lock held for microseconds) rather than a holder: up to
// emptyTries times a millisecond apart while the file names nobody (a
// probe of a free lock, or a holder between its flock and its write), and
// once more when it names someone (a probe right after a holder died). A
// held lock is reported in about a millisecond.
const (
	emptyTries   = 5
	namedTries   = 2
	acquirePause = time.Millisecond
)

var _ Lock = (*File)(nil)

// TryAcquire takes the lock for h without waiting and writes h into the
// file. A zero h.Since is set to now; a zero h.PID to this process's id.
// When another process (or another File on the same path) holds the lock
// the error is a *HeldError naming it, wrapping ErrHeld.
func (l *File) TryAcquire(ctx context.Context, h Holder) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lock %q: %w", l.name, err)
	}
	if l.path == "" {
		return errors.New("lock: file: path: empty (use NewFile)")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return fmt.Errorf("lock %q: already held through this lock by %s (release it first)", l.name, l.h)
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("lock %q: %w", l.name, err)
	}
	if held, err := flockRetry(f); err != nil || held != nil {
		f.Close()
		if held != nil {
			return &HeldError{Name: l.name, Holder: *held}
		}
		return fmt.Errorf("lock %q: flock %s: %w", l.name, l.path, err)
	}
	if h.Since.IsZero() {
		h.Since = time.Now()
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Host == "" {
		h.Host, _ = os.Hostname()
	}
	if err := writeHolder(f, h); err != nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		return fmt.Errorf("lock %q: writing the holder to %s: %w", l.name, l.path, err)
	}
	l.f, l.h = f, h
	return nil
}

// flockRetry takes the exclusive lock on f, or returns who holds it.
func flockRetry(f *os.File) (*Holder, error) {
	for i := 1; ; i++ {
		err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, err
		}
		h := readHolder(f)
		limit := namedTries
		if h == (Holder{}) {
			limit = emptyTries
		}
		if i >= limit {
			return &h, nil
		}
		time.Sleep(acquirePause)
	}
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// writeHolder writes h as one JSON line at the start of f and then cuts
// what a longer earlier holder left behind. A reader between the two steps
// still decodes h: it reads the first JSON value only.
func writeHolder(f *os.File, h Holder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(b)))
}

// readHolder reads the holder named in f. A holder that cannot be read
// (an empty file: the holder is between flock and its write) comes back
// with only the fields it has; the HeldError then says "unknown".
func readHolder(f *os.File) Holder {
	var h Holder
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 64<<10))
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return h
	}
	_ = json.NewDecoder(bytes.NewReader(b)).Decode(&h)
	return h
}

// Release clears the holder from the file and unlocks it. Releasing a lock
// this File does not hold returns an error wrapping ErrNotHeld.
func (l *File) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("lock %q: release: %w", l.name, ErrNotHeld)
	}
	f := l.f
	l.f, l.h = nil, Holder{}
	terr := f.Truncate(0) // a reader after us sees no holder
	uerr := flock(f, syscall.LOCK_UN)
	cerr := f.Close() // closing alone would release the lock too
	if err := errors.Join(uerr, cerr); err != nil {
		return fmt.Errorf("lock %q: release: %w", l.name, err)
	}
	if terr != nil {
		return fmt.Errorf("lock %q: released, but clearing the holder from %s: %w", l.name, l.path, terr)
	}
	return nil
}

// Holder reports who holds the lock: this File's own holder when it holds
// it, else whoever the file names while its lock is taken. A file that does
// not exist, is empty or is not locked has no holder, whatever it contains
// (a process killed while holding leaves its line behind). A holder that
// has just taken the lock and not yet written its line is not seen.
func (l *File) Holder(ctx context.Context) (Holder, bool, error) {
	if err := ctx.Err(); err != nil {
		return Holder{}, false, fmt.Errorf("lock %q: %w", l.name, err)
	}
	l.mu.Lock()
	if l.f != nil {
		h := l.h
		l.mu.Unlock()
		return h, true, nil
	}
	l.mu.Unlock()
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return Holder{}, false, nil
	}
	if err != nil {
		return Holder{}, false, fmt.Errorf("lock %q: %w", l.name, err)
	}
	defer f.Close()
	// Release empties the file, so a file that names nobody is free (or
	// its holder is between flock and write: a moment). Only a file that
	// names someone is probed, so that probes rarely meet a TryAcquire.
	h := readHolder(f)
	if h == (Holder{}) {
		return Holder{}, false, nil
	}
	// A shared lock we can take means nobody holds the exclusive one: the
	// named holder died.
	switch err := flock(f, syscall.LOCK_SH|syscall.LOCK_NB); {
	case err == nil:
		_ = flock(f, syscall.LOCK_UN)
		return Holder{}, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return h, true, nil
	default:
		return Holder{}, false, fmt.Errorf("lock %q: flock %s: %w", l.name, l.path, err)
	}
}
