package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// stateFileExists refuses, for the check command, a state file that does
// not exist. run would create it and start from an empty ledger (or fail,
// without its folder), so an empty ledger in its place would preview a
// decision run does not take: most often TOPUP_STATE_FILE has a typo, or
// names another volume than run's.
//
// The error exits 1, not 2: the configuration is valid (2 is for what
// config validation reports, before anything is touched), and the contract
// counts a ledger that cannot be used, such as an unreadable one, with the
// other fatal errors, as run does for a missing folder or a corrupt file.
// Other errors are left to ledger.ReadFile, which names them.
func stateFileExists(path string) error {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check: state folder %s does not exist (TOPUP_STATE_FILE %s): run cannot start without it; check only reads the file", dir, path)
	}
	return fmt.Errorf("check: state file %s does not exist (TOPUP_STATE_FILE): run creates it at its first check; check only reads it", path)
}

// explainOpen turns a ledger file that could not be opened for want of a
// permission into what to do about it, naming the user the watchdog runs
// as: in a container the folder is a volume, most often mounted for
// another user than the image's.
func explainOpen(path string, err error) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, syscall.EROFS):
		return &explained{fmt.Sprintf("state file %s: its folder %s is on a read-only file system: mount it writable or set TOPUP_STATE_FILE", path, dir), err}
	case !errors.Is(err, fs.ErrPermission):
		return err
	case unix.Access(dir, unix.W_OK|unix.X_OK) != nil:
		return &explained{fmt.Sprintf("state file %s: its folder %s is not writable by %s: mount it writable for that user or set TOPUP_STATE_FILE",
			path, dir, describeUser(os.Geteuid(), user.LookupId)), err}
	default: // the folder is writable: the file itself, or its lock, is not
		return fmt.Errorf("%w (the watchdog runs as %s)", err, describeUser(os.Geteuid(), user.LookupId))
	}
}

// describeUser names uid for a person: "uid 65532 (nonroot)", or the uid
// alone when lookup cannot name it (an image without /etc/passwd).
func describeUser(uid int, lookup func(uid string) (*user.User, error)) string {
	id := strconv.Itoa(uid)
	if u, err := lookup(id); err == nil && u.Username != "" {
		return fmt.Sprintf("uid %s (%s)", id, u.Username)
	}
	return "uid " + id
}

// explained is an error said for a person, that still wraps its cause for
// errors.Is: the cause's text would only repeat the path.
type explained struct {
	msg   string
	cause error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.cause }
