package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrInUse marks a ledger whose lock another process, or another File of
// this one, holds.
var ErrInUse = errors.New("in use by another process")

// lockPath is the file whose flock guards the ledger at path. It is never
// removed: removing a lock file lets two processes lock two different files.
func lockPath(path string) string { return path + ".lock" }

// acquireLock takes the exclusive advisory lock of the ledger at path without
// waiting. Closing the returned file releases it.
func acquireLock(path string) (*os.File, error) {
	lf, err := os.OpenFile(lockPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open ledger %s: folder %s does not exist", path, filepath.Dir(path))
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if err := flock(lf); err != nil {
		_ = lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("ledger %s is %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("lock ledger %s: %w", path, err)
	}
	return lf, nil
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
