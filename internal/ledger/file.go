package ledger

import (
	"bytes"
	"context"
	"encoding/json"
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
// and rewrites the file atomically and durably on every change, but one: a
// change that only adds balance readings after the last one (what most
// checks make) is appended to the readings journal beside the file
// (journal.go), without an fsync, since the readings only feed the burn
// rate. It is safe for concurrent use.
type File struct {
	path string
	lock *os.File
	held os.FileInfo // fstat of lock, to tell it from a file put in its place
	// lostCh is closed when lost is set.
	lostCh chan struct{}
	// fault, when set by a test, is asked before each step of a write and
	// fails the step with the error it returns.
	fault func(step) error

	mu    sync.Mutex
	state State
	// records is the encoding of state without its readings: what a
	// change must differ from to be written to the file.
	records []byte
	synced  bool // whether the file and the journal are known to hold state
	created bool
	closed  bool
	lost    error // why the lock is lost (wraps ErrLockLost), once it is
	// journal is the readings journal, open for appending, and
	// journalSize its length; nil when it could not be opened or written.
	journal     *os.File
	journalSize int64
	// problem is what Open found wrong with the journal, if anything.
	problem error
}

// Open locks and loads the ledger at path. It fails at once if another
// process holds the ledger, and refuses a file it cannot read or validate,
// never starting over from an empty ledger in its place. A missing file
// starts an empty ledger. Either way Open writes the file once, so a folder
// it cannot write to fails here rather than at the first top-up; a file of
// an earlier SchemaVersion is written as this one's.
//
// The readings of the journal beside the file are added to the file's, and
// the file, written with them, starts the journal again. A journal that
// cannot be read or holds what is not a reading does not stop Open: the
// ledger loads with the file's readings alone (the burn rate restarts from
// them; no money record is ever in the journal), and Problem says what was
// wrong, naming the file and the line.
func Open(path string) (*File, error) {
	return open(path, nil)
}

// ReadFile returns the state in the ledger file at path, with the readings
// of its journal, without taking its lock or writing anything, for a look
// beside a running watchdog. A missing file is an empty state. A journal
// that cannot be read is left out, as Open leaves it out; one that names
// another file, as it does for a moment while the watchdog rewrites the
// file, is read again with the new file.
func ReadFile(path string) (State, error) {
	for attempt := 1; ; attempt++ {
		s, raw, created, err := read(path)
		if err != nil || created {
			return s, err
		}
		rs, stale, _ := readJournal(journalPath(path), stateSum(raw))
		if stale && attempt < 3 {
			continue
		}
		for _, r := range rs {
			s.AddReading(r)
		}
		return s, nil
	}
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

// load reads the file and its journal, or starts an empty state if there
// is no file, and writes the file back, starting the journal again.
func (f *File) load() error {
	removeStaleTemps(f.path)
	s, raw, created, err := read(f.path)
	if err != nil {
		return err
	}
	if !created { // a journal beside no file follows none
		var rs []Reading
		rs, _, f.problem = readJournal(journalPath(f.path), stateSum(raw))
		for _, r := range rs {
			s.AddReading(r)
		}
	}
	data, saved, err := prepare(s)
	if err != nil {
		return fmt.Errorf("ledger %s: %w", f.path, err)
	}
	if err := f.write(data); err != nil {
		return fmt.Errorf("write ledger %s: %w", f.path, err)
	}
	if err := f.resetJournal(stateSum(data)); err != nil && f.problem == nil {
		f.problem = fmt.Errorf("%w: readings are written with the state file until it can be", err)
	}
	records, err := encodeRecords(saved)
	if err != nil {
		f.closeJournal()
		return fmt.Errorf("ledger %s: %w", f.path, err)
	}
	f.state, f.records, f.synced, f.created = saved, records, true, created
	return nil
}

// encodeRecords is the encoding of s without its readings: all that a
// change must leave as it was for the journal to take it. It is compared,
// never written, so it is compact JSON: indenting it would double its cost
// at every check. No records encode as no records, nil or empty.
func encodeRecords(s State) ([]byte, error) {
	s.Readings = nil
	if s.TopUps == nil {
		s.TopUps = []Record{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return b, nil
}

// read returns the state in the file at path and the file's bytes, or an
// empty state and true if there is no file.
func read(path string) (State, []byte, bool, error) {
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return State{Version: SchemaVersion}, nil, true, nil
	case err != nil:
		return State{}, nil, false, fmt.Errorf("read ledger %s: %w", path, err)
	case info.IsDir():
		return State{}, nil, false, fmt.Errorf("ledger %s: is a directory, not a file", path)
	case info.Mode()&fs.ModeSymlink != 0:
		return State{}, nil, false, fmt.Errorf("ledger %s: is a symbolic link, which a write would replace: use the path it points to", path)
	case !info.Mode().IsRegular():
		return State{}, nil, false, fmt.Errorf("ledger %s: not a regular file (%s)", path, info.Mode().Type())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, nil, false, fmt.Errorf("read ledger %s: %w", path, err)
	}
	s, err := Decode(data)
	if errors.Is(err, ErrCorrupt) {
		return State{}, nil, false, fmt.Errorf("ledger %s: %w; %s", path, err, refuseEmpty)
	}
	if err != nil {
		return State{}, nil, false, fmt.Errorf("ledger %s: %w", path, err)
	}
	return s, data, false, nil
}

// Path returns the path of the ledger file.
func (f *File) Path() string { return f.path }

// Created reports whether Open found no file and started an empty ledger.
func (f *File) Created() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created
}

// Problem returns what Open found wrong with the readings journal, nil if
// nothing: a journal that could not be read, a line that is not a reading
// (the error names the file and the line), or a journal that could not be
// created. Open went on without the journal's readings, which only feed the
// burn rate: a ledger that refused to load would stop every top-up. The
// caller logs it as a warning. Later failures of the journal need no word:
// the change goes to the state file instead, durably, and Update fails only
// if that fails too.
func (f *File) Problem() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.problem
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
// View returns what a restart would read from the file and its journal. fn
// must not call the File. Once the lock file is removed or replaced, every
// Update fails with an error wrapping ErrLockLost, and writes nothing.
//
// A change that only adds readings after the last one is appended to the
// journal without an fsync: it survives the process being killed, and a
// power loss may lose it, which costs the burn rate some history and no
// money record. Should the append fail, or the journal be full, the change
// is written with the file, durably, as any other.
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
	// Most checks change no record: compare the encoding before the dearer
	// validation and read-back that a write needs.
	records, rerr := encodeRecords(next)
	if rerr == nil && f.synced && bytes.Equal(records, f.records) {
		if sameReadings(next.Readings, f.state.Readings) {
			return nil
		}
		if added, ok := addedReadings(f.state.Readings, next.Readings); ok {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("update ledger %s: %w", f.path, err)
			}
			if saved, err := f.appendJournal(added); err == nil {
				for _, r := range saved {
					f.state.AddReading(r)
				}
				return nil
			}
			// The journal is full or failed: the file takes the change.
		}
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
	// The file holds every reading now. Should the journal fail to start
	// again, it stays closed and the next additions rewrite the file; a
	// stale journal left behind names the previous file, and is ignored.
	_ = f.resetJournal(stateSum(data))
	// saved encodes as next does: the encoding of a decoded state is that
	// of the state (FuzzDecode holds it), and prepare succeeded, so rerr is
	// nil. Were it to differ, a later unchanged Update would write once.
	f.state, f.records, f.synced = saved, records, true
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

// Close closes the journal and releases the lock. The state is already on
// disk (the journal's lines in the page cache at least): Close flushes
// nothing, and a process that never calls it loses nothing. Calls after the
// first do nothing.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.closeJournal()
	if err := f.lock.Close(); err != nil {
		return fmt.Errorf("close ledger %s: %w", f.path, err)
	}
	return nil
}
