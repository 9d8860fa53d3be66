package ledger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// step names one stage of a durable write, so that tests can make it fail.
type step string

// The stages of a durable write, in order.
const (
	stepCreate  step = "create"
	stepWrite   step = "write"
	stepChmod   step = "chmod"
	stepSync    step = "sync"
	stepClose   step = "close"
	stepRename  step = "rename"
	stepSyncDir step = "syncdir"
)

// tempPattern is the os.CreateTemp pattern of the ledger at path.
func tempPattern(path string) string { return filepath.Base(path) + ".tmp-*" }

// write replaces the file at f.path with data durably and atomically: a
// reader, or a restart after a crash, sees the old bytes or the new ones,
// never a mix. On failure the temporary file is removed; the file at f.path
// holds the old bytes, unless only the final folder sync failed.
func (f *File) write(data []byte) error {
	dir := filepath.Dir(f.path)
	var tmp *os.File
	err := f.do(stepCreate, func() (err error) {
		tmp, err = os.CreateTemp(dir, tempPattern(f.path))
		return err
	})
	if err != nil {
		return hint(err)
	}
	if err := f.commit(tmp, data, dir); err != nil {
		_ = tmp.Close()           // already closed unless an earlier step failed
		_ = os.Remove(tmp.Name()) // already gone if the rename happened
		return hint(err)
	}
	return nil
}

// commit fills tmp with data, makes it durable and renames it over f.path.
func (f *File) commit(tmp *os.File, data []byte, dir string) error {
	steps := []struct {
		name step
		run  func() error
	}{
		{stepWrite, func() error { _, err := tmp.Write(data); return err }},
		{stepChmod, func() error { return tmp.Chmod(0o600) }},
		{stepSync, tmp.Sync},
		{stepClose, tmp.Close},
		{stepRename, func() error { return os.Rename(tmp.Name(), f.path) }},
		{stepSyncDir, func() error { return syncDir(dir) }},
	}
	for _, s := range steps {
		if err := f.do(s.name, s.run); err != nil {
			return err
		}
	}
	return nil
}

// do runs one step, unless the test fault hook fails it first.
func (f *File) do(s step, run func() error) error {
	if f.fault != nil {
		if err := f.fault(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return run()
}

// syncDir flushes the folder entry of a rename to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// isTempName reports whether name is prefix followed by the digits that
// os.CreateTemp puts in place of its "*".
func isTempName(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && rest != "" && strings.Trim(rest, "0123456789") == ""
}

// hint adds the likely cause to the errors a misplaced mount gives.
func hint(err error) error {
	if errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EXDEV) {
		return fmt.Errorf("%w (is the file itself a mount point? mount its folder instead)", err)
	}
	return err
}

// removeStaleTemps removes the temporary files a crash in the middle of a
// write left beside the ledger at path. Only the lock holder calls it, so no
// write of another process is under way. It is best effort: a leftover
// temporary file is harmless.
func removeStaleTemps(path string) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := filepath.Base(path) + ".tmp-"
	for _, e := range entries {
		if e.Type().IsRegular() && isTempName(e.Name(), prefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
