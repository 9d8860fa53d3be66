package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/bintest"
)

// A state folder the watchdog cannot write stops it at start with what to
// do, naming the user it runs as. chmod 0555 stops no write by root, and the
// tests run as root here: so as root the real binary runs as another user
// (the distroless image's nonroot, 65532, which this machine's passwd may
// not know, and nobody, which it does), and otherwise as the tests' own
// user; the folder is 0555 either way, and the write is really refused.
func TestAnUnwritableStateFolderNamesTheUser(t *testing.T) {
	base, err := os.MkdirTemp("", "topup-watchdog-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	bin := filepath.Join(base, "topup-watchdog")
	copyFile(t, bintest.Path(t), bin) // the build's folder is 0700: other users cannot run it there
	state := filepath.Join(base, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{base: 0o755, bin: 0o755, state: 0o555} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	uids := []int{os.Geteuid()}
	if os.Geteuid() == 0 {
		uids = []int{65532, 65534}
	}
	for _, uid := range uids {
		acct, srv := startAccount(t, testAccount("5", time.Minute))
		env := testEnv(t, srv.URL)
		env["TOPUP_STATE_FILE"] = filepath.Join(state, "state.json")
		want := "topup-watchdog: state file " + env["TOPUP_STATE_FILE"] + ": its folder " + state + " is not writable by " + describeUser(uid, user.LookupId) +
			": mount it writable for that user or set TOPUP_STATE_FILE\n"

		ctx, cancel := context.WithTimeout(context.Background(), waitLimit) // a watchdog that starts runs on
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "run")
		cmd.Env = environ(env)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if uid != os.Geteuid() {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		}
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitFatal {
			t.Fatalf("uid %d: %v, want exit status 1; stderr %q", uid, err, stderr.String())
		}
		if stderr.String() != want {
			t.Errorf("uid %d: stderr\n%q\nwant\n%q", uid, stderr.String(), want)
		}
		if n := strings.Count(stdout.String()+stderr.String(), "is not writable by"); n != 1 {
			t.Errorf("uid %d: the error is printed %d times, want once; stdout:\n%s", uid, n, stdout.String())
		}
		if s := acct.Stats(); s.BalanceRequests+s.TopUpRequests != 0 {
			t.Errorf("uid %d: %d requests from a watchdog that did not start", uid, s.BalanceRequests+s.TopUpRequests)
		}
		assertClean(t, "output", stdout.String()+stderr.String())
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close() }()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
