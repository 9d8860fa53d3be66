package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestOpenCreatesAMissingFile(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	if !f.Created() || f.Path() != path {
		t.Errorf("Created() = %v, Path() = %q", f.Created(), f.Path())
	}
	if got, want := string(mustRead(t, path)), "{\n  \"version\": 2,\n  \"refilling\": false,\n  \"topups\": []\n}\n"; got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	for _, p := range []string{path, lockPath(path)} {
		info, err := os.Stat(p)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("stat %s = %v, %v; want mode 0600", p, info, err)
		}
	}
	if s := mustView(t, f); s.Version != SchemaVersion || len(s.TopUps) != 0 || s.Refilling {
		t.Errorf("View = %+v, want an empty state", s)
	}
}

func TestOpenFailsInAMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	path := filepath.Join(dir, "state.json")
	_, err := Open(path)
	want := fmt.Sprintf("open ledger %s: folder %s does not exist", path, dir)
	if err == nil || err.Error() != want {
		t.Fatalf("Open error = %v, want %q", err, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created the folder: %v", err)
	}
}

func TestOpenRefusesAnEmptyPath(t *testing.T) {
	if _, err := Open(""); err == nil || err.Error() != "open ledger: empty path" {
		t.Errorf("Open error = %v", err)
	}
}

func TestOpenRefusesAnUnusableFile(t *testing.T) {
	const refuse = "; refusing to start from an empty ledger, which could repeat a top-up: fix or move the file"
	const rec = `{"id":"a","at":"2025-03-14T09:26:53Z","balance_before":"1","outcome":"pending"}`
	tests := []struct{ name, data, want string }{
		{"truncated JSON", `{"version":1,"topups":[` + rec, "corrupt: unexpected end of JSON input" + refuse},
		{"empty file", "", "corrupt: empty file" + refuse},
		{"garbage", "\xde\xad\xbe\xef", "corrupt: invalid character 'Þ' looking for beginning of value" + refuse},
		{"newer version", `{"version":3,"topups":[]}`, "written by a newer topup-watchdog: version 3, this one reads version 2: upgrade topup-watchdog"},
		{"version zero", `{"version":0,"topups":[]}`, "corrupt: version: 0, want 1 to 2" + refuse},
		{"duplicate ids", `{"version":1,"topups":[` + rec + `,` + rec + `]}`, `corrupt: topups[1].id: "a" already used by topups[0]` + refuse},
		{"unknown outcome", `{"version":1,"topups":[` + strings.Replace(rec, "pending", "maybe", 1) + `]}`, `corrupt: topups[0].outcome: unknown "maybe"` + refuse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := statePath(t)
			mustWrite(t, path, tt.data)
			_, err := Open(path)
			if want := "ledger " + path + ": " + tt.want; err == nil || err.Error() != want {
				t.Fatalf("Open error = %v\nwant %s", err, want)
			}
			if got := string(mustRead(t, path)); got != tt.data {
				t.Errorf("Open changed the file to %q", got)
			}
			mustWrite(t, path, `{"version":1}`)
			mustOpen(t, path) // the failed Open released the lock
		})
	}
}

func TestOpenRefusesADirectory(t *testing.T) {
	path := statePath(t)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if want := "ledger " + path + ": is a directory, not a file"; err == nil || err.Error() != want {
		t.Errorf("Open error = %v, want %q", err, want)
	}
}

func TestOpenRefusesASymbolicLink(t *testing.T) {
	path := statePath(t)
	if err := os.Symlink(filepath.Join(filepath.Dir(path), "elsewhere.json"), path); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if want := "ledger " + path + ": is a symbolic link"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Open error = %v, want it to start with %q", err, want)
	}
}

func TestOpenReportsAnUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	path := statePath(t)
	mustWrite(t, path, `{"version":1}`)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if want := "read ledger " + path + ": "; err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, os.ErrPermission) {
		t.Errorf("Open error = %v, want it to start with %q", err, want)
	}
}

func TestOpenRewritesAValidFile(t *testing.T) {
	path := statePath(t)
	mustWrite(t, path, `{"version":1,"topups":[{"id":"a","at":"2025-03-14T09:26:53Z","balance_before":"10.10","outcome":"rejected"}]}`)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	if f.Created() {
		t.Error("Created() = true for an existing file")
	}
	if got := string(mustRead(t, path)); !strings.Contains(got, `"balance_before": "10.1"`) {
		t.Errorf("file = %s, want it rewritten", got)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("stat = %v, %v; want mode 0600", info, err)
	}
}

func TestOpenRemovesStaleTempFiles(t *testing.T) {
	path := statePath(t)
	dir := filepath.Dir(path)
	for _, name := range []string{"state.json.tmp-123", "state.json.tmp-own", "other.json.tmp-1"} {
		mustWrite(t, filepath.Join(dir, name), "x")
	}
	mustOpen(t, path)
	if got, want := tempFiles(t, dir), []string{"other.json.tmp-1", "state.json.tmp-own"}; !reflect.DeepEqual(got, want) {
		t.Errorf("temp files = %v, want %v", got, want)
	}
}

func TestSecondOpenFailsUntilClose(t *testing.T) {
	path := statePath(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(path)
	if want := "ledger " + path + " is in use by another process"; err == nil || err.Error() != want || !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open error = %v, want %q", err, want)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	mustOpen(t, path)
}

func TestClosedFileRefusesCalls(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.View(ctx); err == nil || err.Error() != "view ledger "+path+": closed" {
		t.Errorf("View error = %v", err)
	}
	err := f.Update(ctx, func(s *State) error { s.Refilling = true; return nil })
	if err == nil || err.Error() != "update ledger "+path+": closed" {
		t.Errorf("Update error = %v", err)
	}
}

func TestUpdateSurvivesAReopen(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	done := record("done", time.Minute)
	done.Outcome, done.Attempts, done.Error = Succeeded, 3, "top up: 503 service unavailable"
	done.FinishedAt, done.ConfirmedAt = at(2*time.Minute), at(3*time.Minute)
	done.BalanceAfter = decimal.NewNullDecimal(decimal.RequireFromString("20.00000001"))
	done.Expired = true
	err := f.Update(context.Background(), func(s *State) error {
		s.Refilling = true
		s.TopUps = append(s.TopUps, record("open", 0), done)
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	before := mustView(t, f)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	after := mustView(t, mustOpen(t, path))
	if !reflect.DeepEqual(before, after) {
		t.Errorf("after reopen\n got %+v\nwant %+v", after, before)
	}
	want := State{Version: SchemaVersion, Refilling: true, TopUps: []Record{record("open", 0), done}}
	if !equalStates(after, want) {
		t.Errorf("after reopen\n got %+v\nwant %+v", after, want)
	}
	r := after.TopUps[0]
	if r.At.Location() != time.UTC || r.At.Nanosecond() != 589793238 || r.BalanceBefore.String() != "10.171275" {
		t.Errorf("record = %+v, want UTC time with nanoseconds and 10.171275", r)
	}
}

func TestUpdateWritesOnlyChanges(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	writes := 0
	f.fault = func(s step) error {
		if s == stepCreate {
			writes++
		}
		return nil
	}
	info, _ := os.Stat(path)
	ctx := context.Background()
	same := []func(*State) error{
		func(*State) error { return nil },
		func(s *State) error { s.Refilling = false; return nil },
		func(s *State) error { s.TopUps = nil; return nil },
		func(s *State) error { s.Prune(at(0)); return nil },
	}
	for _, fn := range same {
		if err := f.Update(ctx, fn); err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	if later, _ := os.Stat(path); writes != 0 || !os.SameFile(info, later) {
		t.Errorf("%d writes, same file %v; want none", writes, os.SameFile(info, later))
	}
	if err := f.Update(ctx, func(s *State) error { s.Refilling = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if later, _ := os.Stat(path); writes != 1 || os.SameFile(info, later) {
		t.Errorf("%d writes, same file %v; want one", writes, os.SameFile(info, later))
	}
}

func TestUpdateKeepsStateWhenFnFails(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	boom := errors.New("boom")
	err := f.Update(context.Background(), func(s *State) error {
		s.TopUps = append(s.TopUps, record("a", 0))
		return boom
	})
	if err != boom {
		t.Errorf("Update error = %v, want fn's error as is", err)
	}
	if s := mustView(t, f); len(s.TopUps) != 0 {
		t.Errorf("View = %+v, want no records", s)
	}
}

func TestUpdateRefusesAnInvalidState(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	before := mustRead(t, path)
	err := f.Update(context.Background(), func(s *State) error {
		s.TopUps = append(s.TopUps, record("a", 0), record("a", time.Second))
		return nil
	})
	want := "update ledger " + path + `: invalid state: topups[1].id: "a" already used by topups[0]`
	if err == nil || err.Error() != want {
		t.Errorf("Update error = %v\nwant %s", err, want)
	}
	if s := mustView(t, f); len(s.TopUps) != 0 || string(mustRead(t, path)) != string(before) {
		t.Errorf("state or file changed: %+v", s)
	}
}

func TestUpdateChecksTheContext(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := f.Update(ctx, func(*State) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("Update error = %v, fn called %v", err, called)
	}
	if _, err := f.View(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("View error = %v", err)
	}
}

func TestConcurrentUpdatesAllLand(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("r%02d", i)
			if err := f.Update(context.Background(), appendRecord(record(id, time.Duration(i)))); err != nil {
				t.Errorf("Update %s: %v", id, err)
			}
			if _, err := f.View(context.Background()); err != nil {
				t.Errorf("View: %v", err)
			}
		})
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if s := mustView(t, mustOpen(t, path)); len(s.TopUps) != n {
		t.Errorf("%d records after reopen, want %d", len(s.TopUps), n)
	}
}

func TestViewReturnsACopy(t *testing.T) {
	f := mustOpen(t, statePath(t))
	if err := f.Update(context.Background(), appendRecord(record("a", 0))); err != nil {
		t.Fatal(err)
	}
	s := mustView(t, f)
	s.TopUps[0].Outcome = NotSent
	s.Refilling = true
	if again := mustView(t, f); again.TopUps[0].Outcome != Pending || again.Refilling {
		t.Errorf("View = %+v, changed through an earlier copy", again)
	}
}
