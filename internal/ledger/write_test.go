package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFailedWriteChangesNothing(t *testing.T) {
	injected := errors.New("injected")
	for _, failing := range []step{stepCreate, stepWrite, stepChmod, stepSync, stepClose, stepRename, stepSyncDir} {
		t.Run(string(failing), func(t *testing.T) {
			path := statePath(t)
			f := mustOpen(t, path)
			ctx := context.Background()
			if err := f.Update(ctx, appendRecord(record("first", 0))); err != nil {
				t.Fatal(err)
			}
			before, onDisk := mustView(t, f), mustRead(t, path)
			f.fault = func(s step) error {
				if s == failing {
					return injected
				}
				return nil
			}
			err := f.Update(ctx, appendRecord(record("second", time.Second)))
			if !errors.Is(err, injected) || !strings.HasPrefix(err.Error(), "write ledger "+path+": ") {
				t.Fatalf("Update error = %v, want the injected one", err)
			}
			if got := mustView(t, f); !reflect.DeepEqual(got, before) {
				t.Errorf("View = %+v, want %+v", got, before)
			}
			if names := tempFiles(t, filepath.Dir(path)); len(names) != 0 {
				t.Errorf("temp files left: %v", names)
			}
			got := mustRead(t, path)
			if failing != stepSyncDir && string(got) != string(onDisk) {
				t.Errorf("file = %s, want it unchanged", got)
			}
			assertRetryWritesView(t, f, path)
		})
	}
}

// assertRetryWritesView checks that after a failed write the next Update
// writes even without a change, and that the file then holds what View shows.
func assertRetryWritesView(t *testing.T, f *File, path string) {
	t.Helper()
	f.fault = nil
	if err := f.Update(context.Background(), func(*State) error { return nil }); err != nil {
		t.Fatalf("Update after the failure: %v", err)
	}
	want := mustView(t, f)
	got, err := Decode(mustRead(t, path))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("file holds %+v, %v; want %+v", got, err, want)
	}
}

func TestUpdateFailsWhenTheFolderIsGone(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	// The lock file went with the folder: the File can no longer know that
	// it is the only writer.
	err := f.Update(context.Background(), appendRecord(record("a", 0)))
	if !errors.Is(err, ErrLockLost) || !strings.HasPrefix(err.Error(), "update ledger "+path+": ") {
		t.Fatalf("Update error = %v", err)
	}
	if s := mustView(t, f); len(s.TopUps) != 0 {
		t.Errorf("View = %+v, want no records", s)
	}
}

func TestFailedFirstWriteFailsOpen(t *testing.T) {
	path := statePath(t)
	injected := errors.New("disk full")
	_, err := open(path, func(s step) error {
		if s == stepSync {
			return injected
		}
		return nil
	})
	if !errors.Is(err, injected) || err.Error() != "write ledger "+path+": sync: disk full" {
		t.Fatalf("Open error = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat = %v, want no file", err)
	}
	if names := tempFiles(t, filepath.Dir(path)); len(names) != 0 {
		t.Errorf("temp files left: %v", names)
	}
	mustOpen(t, path) // the failed Open released the lock
}

func TestIsTempName(t *testing.T) {
	tests := map[string]bool{
		"state.json.tmp-1":          true,
		"state.json.tmp-4294967295": true,
		"state.json.tmp-":           false,
		"state.json.tmp-1a":         false,
		"state.json.lock":           false,
		"state.json":                false,
	}
	for name, want := range tests {
		if got := isTempName(name, "state.json.tmp-"); got != want {
			t.Errorf("isTempName(%q) = %v, want %v", name, got, want)
		}
	}
}
