package ledger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrInUse marks a ledger whose lock another process, or another File of
// this one, holds.
var ErrInUse = errors.New("in use by another process")

// ErrLockLost marks a File whose lock file was removed or replaced while it
// was open. Its flock then guards nothing: a second watchdog can open the
// same ledger, and the last writer wins. Such a File refuses every write.
var ErrLockLost = errors.New("ledger lock lost")

// lockPath is the file whose flock guards the ledger at path. It is never
// removed: removing a lock file lets two processes lock two different files.
func lockPath(path string) string { return path + ".lock" }

// lockAttempts bounds the retries of acquireLock when the lock file is
// removed or replaced between its open and its flock.
const lockAttempts = 3

// acquireLock takes the exclusive advisory lock of the ledger at path without
// waiting. Closing the returned file releases it. The lock is taken on the
// file that is at the lock path once it is held: a lock file removed or
// replaced by something else (an operator, a clean-up job) between the open
// and the flock is opened again.
func acquireLock(path string) (*os.File, os.FileInfo, error) {
	for attempt := 1; ; attempt++ {
		lf, held, err := tryLock(path)
		if err != nil {
			return nil, nil, err
		}
		err = lockLost(path, held)
		if err == nil {
			return lf, held, nil
		}
		_ = lf.Close()
		if attempt == lockAttempts {
			return nil, nil, fmt.Errorf("lock ledger %s: its lock file %s was removed or replaced each of the %d times it was locked: "+
				"make sure nothing removes it, then start again", path, lockPath(path), lockAttempts)
		}
	}
}

// tryLock opens, creates if need be, and flocks the lock file of the ledger
// at path, and returns it with what fstat says of it.
func tryLock(path string) (*os.File, os.FileInfo, error) {
	lf, err := os.OpenFile(lockPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("open ledger %s: folder %s does not exist", path, filepath.Dir(path))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if err := flock(lf); err != nil {
		_ = lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, fmt.Errorf("ledger %s is %w", path, ErrInUse)
		}
		return nil, nil, fmt.Errorf("lock ledger %s: %w", path, err)
	}
	held, err := lf.Stat() // fstat: the file the flock is on
	if err != nil {
		_ = lf.Close()
		return nil, nil, fmt.Errorf("lock ledger %s: %w", path, err)
	}
	return lf, held, nil
}

// flock takes an exclusive flock on f, failing with EWOULDBLOCK at once if
// it is held.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// lockLost returns an error wrapping ErrLockLost if the lock path of the
// ledger at path no longer names the file held, the one fstat described as
// held. A stat that fails for another reason than a missing file is
// returned as is: it proves nothing either way.
func lockLost(path string, held os.FileInfo) error {
	now, err := os.Stat(lockPath(path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return lostError(path, "was removed")
	case err != nil:
		return fmt.Errorf("check lock file: %w", err)
	case !os.SameFile(held, now): // same device and inode
		return lostError(path, "was replaced by another file")
	}
	return nil
}

// lostError says what happened to the lock file of the ledger at path and
// what to do about it.
func lostError(path, what string) error {
	return fmt.Errorf("%w: its lock file %s %s while the ledger was open, so a second watchdog "+
		"could open the same ledger and overwrite it; writes refused: make sure only one watchdog "+
		"uses %s and nothing removes %s, then start it again",
		ErrLockLost, lockPath(path), what, path, lockPath(path))
}

// checkLock returns the error of a lost lock, once lost always, and nil
// while the File holds the lock or once it is closed; or the error of a
// stat of the lock path that failed otherwise, for the caller to report.
// f.mu must be held.
func (f *File) checkLock() error {
	if f.lost != nil || f.closed {
		return f.lost
	}
	err := lockLost(f.path, f.held)
	if errors.Is(err, ErrLockLost) {
		f.lost = err
		close(f.lostCh)
	}
	return err
}

// Watch checks the lock of f every interval, and returns the error of a lost
// lock (wrapping ErrLockLost) as soon as a check, its own or an Update's,
// finds it lost. It returns nil when ctx ends. A program that runs for long
// runs it beside its work, and stops when it returns an error: Update
// refuses every write from then on.
func (f *File) Watch(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.lostCh:
			return f.lostErr()
		case <-t.C:
			f.mu.Lock()
			err := f.checkLock()
			f.mu.Unlock()
			if errors.Is(err, ErrLockLost) {
				return err
			}
		}
	}
}

// lostErr returns the error of the lost lock, if the lock is lost.
func (f *File) lostErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lost
}
