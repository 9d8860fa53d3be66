package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// removeLock deletes the lock file of the ledger at path, as a careless
// clean-up script or a person would.
func removeLock(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(lockPath(path)); err != nil {
		t.Fatal(err)
	}
}

// replaceLock puts a new file in place of the lock file of the ledger at
// path, the way a restore or a sync tool would: a rename over it.
func replaceLock(t *testing.T, path string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "new-lock")
	mustWrite(t, tmp, "")
	if err := os.Rename(tmp, lockPath(path)); err != nil {
		t.Fatal(err)
	}
}

// assertLockLost fails unless err is a lost lock naming the lock file and
// what happened to it.
func assertLockLost(t *testing.T, err error, path, what string) {
	t.Helper()
	if !errors.Is(err, ErrLockLost) {
		t.Fatalf("error = %v, want ErrLockLost", err)
	}
	for _, s := range []string{lockPath(path), what, "only one watchdog"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func TestUpdateRefusesToWriteOnceTheLockFileIsRemoved(t *testing.T) {
	path := statePath(t)
	first := mustOpen(t, path)
	if err := first.Update(context.Background(), appendRecord(record("a", 0))); err != nil {
		t.Fatal(err)
	}
	removeLock(t, path)
	second := mustOpen(t, path) // nothing stops a second watchdog now
	if err := second.Update(context.Background(), appendRecord(record("b", time.Second))); err != nil {
		t.Fatal(err)
	}
	want := mustRead(t, path)

	// The second Open made a new lock file: another file than the one held.
	err := first.Update(context.Background(), appendRecord(record("c", 2*time.Second)))
	assertLockLost(t, err, path, "was replaced by another file")
	if got := mustRead(t, path); string(got) != string(want) {
		t.Errorf("the first File wrote after losing its lock:\n%s\nwant the second's:\n%s", got, want)
	}
	if s := mustView(t, first); len(s.TopUps) != 1 {
		t.Errorf("the refused Update changed the state: %d records", len(s.TopUps))
	}
}

func TestUpdateRefusesToWriteOnceTheLockFileIsReplaced(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	before := mustRead(t, path)
	replaceLock(t, path)

	err := f.Update(context.Background(), appendRecord(record("a", 0)))
	assertLockLost(t, err, path, "was replaced by another file")
	if got := mustRead(t, path); string(got) != string(before) {
		t.Errorf("the File wrote after losing its lock: %s", got)
	}
}

func TestUpdateRefusesToWriteOnceTheLockFileIsGone(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	before := mustRead(t, path)
	removeLock(t, path)

	err := f.Update(context.Background(), appendRecord(record("a", 0)))
	assertLockLost(t, err, path, "was removed")
	if got := mustRead(t, path); string(got) != string(before) {
		t.Errorf("the File wrote after losing its lock: %s", got)
	}
}

func TestALostLockStaysLost(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	removeLock(t, path)
	noChange := func(*State) error { return nil }
	assertLockLost(t, f.Update(context.Background(), noChange), path, "was removed")
	// A new lock file at the path is not the lock this File holds.
	mustWrite(t, lockPath(path), "")
	assertLockLost(t, f.Update(context.Background(), noChange), path, "was removed")
}

func TestWatchReturnsTheLossOfTheLock(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, tt := range []struct {
		name string
		lose func(*testing.T, string)
		what string
	}{
		{"removed", removeLock, "was removed"},
		{"replaced", replaceLock, "was replaced by another file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := statePath(t)
			f := mustOpen(t, path)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- f.Watch(ctx, 10*time.Millisecond) }()
			tt.lose(t, path)
			assertLockLost(t, <-done, path, tt.what)
			if ctx.Err() != nil {
				t.Errorf("Watch returned only when its context ended")
			}
		})
	}
}

func TestWatchReturnsAtOnceWhenUpdateFindsTheLoss(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := statePath(t)
	f := mustOpen(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Watch(ctx, time.Hour) }()
	removeLock(t, path)
	_ = f.Update(context.Background(), appendRecord(record("a", 0)))
	assertLockLost(t, <-done, path, "was removed")
	if ctx.Err() != nil {
		t.Errorf("Watch returned only when its context ended")
	}
}

func TestWatchReturnsNilWhenItsContextEnds(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := statePath(t)
	f := mustOpen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Watch(ctx, time.Millisecond) }()
	time.Sleep(20 * time.Millisecond) // a few checks of a lock that is fine
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch = %v, want nil", err)
	}
	if err := f.Update(context.Background(), appendRecord(record("a", 0))); err != nil {
		t.Errorf("Update with the lock held: %v", err)
	}
}

func TestWatchOfAClosedFileWaitsForItsContext(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	removeLock(t, path) // removing the lock of a closed ledger is fine
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.Watch(ctx, time.Millisecond); err != nil {
		t.Errorf("Watch = %v, want nil", err)
	}
}
