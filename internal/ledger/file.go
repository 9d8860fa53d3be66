package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// refuseEmpty ends the error of a ledger that exists but cannot be used.
const refuseEmpty = "refusing to start from an empty ledger, which could repeat a top-up: fix or move the file"

// File is the ledger of one watchdog, kept in one JSON file. It holds an
// exclusive lock on the file from Open to Close, keeps the state in memory
// and rewrites the file atomically on every change. It is safe for
// concurrent use.
type File struct {
	path string
	lock *os.File
	held os.FileInfo // fstat of lock, to tell it from a file put in its place
	// lostCh is closed when lost is set.
	lostCh chan struct{}
	// fault, when set by a test, is asked before each step of a write and
	// fails the step with the error it returns.
	fault func(step) error

	mu      sync.Mutex
	state   State
	data    []byte // encoding of state
	synced  bool   // whether the file is known to hold data
	created bool
	closed  bool
	lost    error // why the lock is lost (wraps ErrLockLost), once it is
}

// Open locks and loads the ledger at path. It fails at once if another
// process holds the ledger, and refuses a file it cannot read or validate,
// never starting over from an empty ledger in its place. A missing file
// starts an empty ledger. Either way Open writes the file once, so a folder
// it cannot write to fails here rather than at the first top-up.
func Open(path string) (*File, error) {
	return open(path, nil)
}

// open is Open with a fault hook for the writes, including Open's own.
func open(path string, fault func(step) error) (*File, error) {
	if path == "" {
		return nil, errors.New("open ledger: empty path")
	}
	lock, held, err := acquireLock(path)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, lock: lock, held: held, lostCh: make(chan struct{}), fault: fault}
	if err := f.load(); err != nil {
		_ = lock.Close()
		return nil, err
	}
	return f, nil
}

// load reads the file, or starts an empty state if there is none, and
// writes it back.
func (f *File) load() error {
	removeStaleTemps(f.path)
	s, created, err := read(f.path)
	if err != nil {
		return err
	}
	data, err := encode(s)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", f.path, err)
	}
	if err := f.write(data); err != nil {
		return fmt.Errorf("write ledger %s: %w", f.path, err)
	}
	f.state, f.data, f.synced, f.created = s, data, true, created
	return nil
}

// read returns the state in the file at path, or an empty state and true if
// there is no file.
func read(path string) (State, bool, error) {
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return State{Version: SchemaVersion}, true, nil
	case err != nil:
		return State{}, false, fmt.Errorf("read ledger %s: %w", path, err)
	case info.IsDir():
		return State{}, false, fmt.Errorf("ledger %s: is a directory, not a file", path)
	case info.Mode()&fs.ModeSymlink != 0:
		return State{}, false, fmt.Errorf("ledger %s: is a symbolic link, which a write would replace: use the path it points to", path)
	case !info.Mode().IsRegular():
		return State{}, false, fmt.Errorf("ledger %s: not a regular file (%s)", path, info.Mode().Type())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, false, fmt.Errorf("read ledger %s: %w", path, err)
	}
	s, err := Decode(data)
	if errors.Is(err, ErrCorrupt) {
		return State{}, false, fmt.Errorf("ledger %s: %w; %s", path, err, refuseEmpty)
	}
	if err != nil {
		return State{}, false, fmt.Errorf("ledger %s: %w", path, err)
	}
	return s, false, nil
}

// Path returns the path of the ledger file.
func (f *File) Path() string { return f.path }

// Created reports whether Open found no file and started an empty ledger.
func (f *File) Created() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created
}

// View returns a copy of the current state.
func (f *File) View(ctx context.Context) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(ctx); err != nil {
		return State{}, fmt.Errorf("view ledger %s: %w", f.path, err)
	}
	return f.state.Clone(), nil
}

// Update applies fn to a copy of the state and, if the copy differs, writes
// it durably before it returns nil. If fn fails, or the new state is
// invalid, or the write fails, the state stays as it was and Update returns
// the error; fn's own error is returned as is. After Update returns nil,
// View returns what a restart would read from the file. fn must not call the
// File. Once the lock file is removed or replaced, every Update fails with an
// error wrapping ErrLockLost, and writes nothing.
func (f *File) Update(ctx context.Context, fn func(*State) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(ctx); err != nil {
		return fmt.Errorf("update ledger %s: %w", f.path, err)
	}
	if err := f.checkLock(); err != nil {
		return fmt.Errorf("update ledger %s: %w", f.path, err)
	}
	next := f.state.Clone()
	if err := fn(&next); err != nil {
		return err
	}
	// Most checks change nothing: compare the encoding before the dearer
	// validation and read-back that a write needs.
	if data, err := encode(next); err == nil && f.synced && bytes.Equal(data, f.data) {
		return nil
	}
	data, saved, err := prepare(next)
	if err != nil {
		return fmt.Errorf("update ledger %s: %w", f.path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update ledger %s: %w", f.path, err)
	}
	if err := f.write(data); err != nil {
		// The file may hold either state now: write the next change even if
		// it leaves the state as it is.
		f.synced = false
		return fmt.Errorf("write ledger %s: %w", f.path, err)
	}
	f.state, f.data, f.synced = saved, data, true
	return nil
}

// prepare validates s and returns its encoding and the state a restart would
// decode from it. Decoding before writing makes sure the file never holds
// what Open would refuse.
func prepare(s State) ([]byte, State, error) {
	if err := s.Validate(); err != nil {
		return nil, State{}, fmt.Errorf("invalid state: %w", err)
	}
	data, err := encode(s)
	if err != nil {
		return nil, State{}, err
	}
	saved, err := Decode(data)
	if err != nil {
		return nil, State{}, fmt.Errorf("read back state: %w", err)
	}
	return data, saved, nil
}

// usable reports why the File cannot serve a call, if it cannot.
func (f *File) usable(ctx context.Context) error {
	if f.closed {
		return errors.New("closed")
	}
	return ctx.Err()
}

// Close releases the lock. The state is already on disk. Calls after the
// first do nothing.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if err := f.lock.Close(); err != nil {
		return fmt.Errorf("close ledger %s: %w", f.path, err)
	}
	return nil
}
