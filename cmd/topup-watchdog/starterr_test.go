package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A watchdog that cannot start prints its error once: on stderr, one line,
// as bad configuration is. The log on stdout ends with "cannot start" at
// level error, without the error again.
func TestAStartErrorIsPrintedOnce(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, env map[string]string) (err string)
	}{
		{"missing state folder", func(t *testing.T, env map[string]string) string {
			dir := filepath.Join(t.TempDir(), "gone")
			env["TOPUP_STATE_FILE"] = filepath.Join(dir, "state.json")
			return "folder " + dir + " does not exist"
		}},
		{"corrupt ledger", func(t *testing.T, env map[string]string) string {
			if err := os.WriteFile(env["TOPUP_STATE_FILE"], []byte(`{"version":`), 0o600); err != nil {
				t.Fatal(err)
			}
			return "refusing to start from an empty ledger"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			acct, srv := startAccount(t, testAccount("5", time.Minute))
			env := testEnv(t, srv.URL)
			text := tt.setup(t, env)
			code, stdout, stderr := runOnce(t, env)
			if code != exitFatal {
				t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
			}
			if n := strings.Count(stdout+stderr, text); n != 1 {
				t.Errorf("%q is printed %d times, want once; stdout:\n%s\nstderr:\n%s", text, n, stdout, stderr)
			}
			if !strings.HasPrefix(stderr, "topup-watchdog: ") || !strings.Contains(stderr, text) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr is not one line with the error: %q", stderr)
			}
			out := newOutput()
			_, _ = out.Write([]byte(stdout))
			lines := out.lines()
			if last := lines[len(lines)-1]; last["msg"] != msgCannotStart || last["level"] != "error" || len(last) != 3 {
				t.Errorf("the log's last line is %v, want only ts, level error and msg %q", last, msgCannotStart)
			}
			if s := acct.Stats(); s.BalanceRequests+s.TopUpRequests != 0 {
				t.Errorf("%d requests from a watchdog that did not start", s.BalanceRequests+s.TopUpRequests)
			}
		})
	}
}

// The user named in a permission error: its name when the system knows
// it, else the uid alone (a distroless image may have no entry for it).
func TestDescribeUser(t *testing.T) {
	named := func(string) (*user.User, error) { return &user.User{Username: "nonroot"}, nil }
	unknown := func(id string) (*user.User, error) { return nil, user.UnknownUserIdError(65532) }
	if got := describeUser(65532, named); got != "uid 65532 (nonroot)" {
		t.Errorf("named: %q", got)
	}
	if got := describeUser(65532, unknown); got != "uid 65532" {
		t.Errorf("unknown: %q", got)
	}
}

// A read-only file system is said as such; a permission refused in a
// folder the watchdog can write (the file itself, or its lock, belongs to
// another user) keeps its error and adds the user; other errors pass as
// they are. Each keeps its cause for errors.Is.
func TestExplainOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	self := describeUser(os.Geteuid(), user.LookupId)
	for _, tt := range []struct {
		cause error
		want  string
	}{
		{syscall.EROFS, "state file " + path + ": its folder " + dir + " is on a read-only file system: mount it writable or set TOPUP_STATE_FILE"},
		{syscall.EACCES, "read ledger " + path + ": open " + path + ": permission denied (the watchdog runs as " + self + ")"},
		{syscall.EIO, "read ledger " + path + ": open " + path + ": input/output error"},
	} {
		err := explainOpen(path, fmt.Errorf("read ledger %s: %w", path, &fs.PathError{Op: "open", Path: path, Err: tt.cause}))
		if err.Error() != tt.want || !errors.Is(err, tt.cause) {
			t.Errorf("%v: %q (errors.Is %v), want %q", tt.cause, err, errors.Is(err, tt.cause), tt.want)
		}
	}
}
