package ledger

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// at returns the instant d after the one the tests' records start from.
func at(d time.Duration) time.Time {
	return time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC).Add(d)
}

// statePath returns a ledger path in a fresh folder.
func statePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "state.json")
}

// mustOpen opens the ledger at path and closes it when the test ends.
func mustOpen(t testing.TB, path string) *File {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// mustView returns the state of f.
func mustView(t testing.TB, f *File) State {
	t.Helper()
	s, err := f.View(context.Background())
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return s
}

// mustRead returns the bytes of the file at path.
func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// mustWrite writes data to the file at path.
func mustWrite(t testing.TB, path string, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// tempFiles lists the temporary files left in dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// record returns a pending record with the given id, decided d after the start.
func record(id string, d time.Duration) Record {
	return Record{
		ID: id, At: at(d), Outcome: Pending,
		BalanceBefore: decimal.RequireFromString("10.17127500"),
	}
}

// appendRecord is an Update function adding r.
func appendRecord(r Record) func(*State) error {
	return func(s *State) error {
		s.TopUps = append(s.TopUps, r)
		return nil
	}
}

// equalStates reports whether a and b hold the same values: times as
// instants, decimals by value, readings included.
func equalStates(a, b State) bool {
	if a.Version != b.Version || a.Refilling != b.Refilling || len(a.TopUps) != len(b.TopUps) ||
		!sameReadings(a.Readings, b.Readings) {
		return false
	}
	for i := range a.TopUps {
		if !equalRecords(a.TopUps[i], b.TopUps[i]) {
			return false
		}
	}
	return true
}

// equalRecords reports whether a and b hold the same values.
func equalRecords(a, b Record) bool {
	return a.ID == b.ID && a.At.Equal(b.At) && a.BalanceBefore.Equal(b.BalanceBefore) &&
		a.Outcome == b.Outcome && a.Attempts == b.Attempts && a.Error == b.Error &&
		a.FinishedAt.Equal(b.FinishedAt) && a.ConfirmedAt.Equal(b.ConfirmedAt) &&
		a.BalanceAfter.Valid == b.BalanceAfter.Valid &&
		(!a.BalanceAfter.Valid || a.BalanceAfter.Decimal.Equal(b.BalanceAfter.Decimal)) &&
		a.Expired == b.Expired
}

// reading returns a balance reading taken d after the start.
func reading(d time.Duration, balance string) Reading {
	return Reading{At: at(d), Balance: decimal.RequireFromString(balance), AutoReload: true}
}

// addReadings is an Update function adding rs, as a check adds its reading.
func addReadings(rs ...Reading) func(*State) error {
	return func(s *State) error {
		for _, r := range rs {
			s.AddReading(r)
		}
		return nil
	}
}

// wantReadings fails the test unless got holds the values of want, in order.
func wantReadings(t testing.TB, what string, got []Reading, want ...Reading) {
	t.Helper()
	if !sameReadings(got, want) {
		t.Errorf("%s: readings\n got %v\nwant %v", what, got, want)
	}
}

// crash lets go of f as the kernel does when its process is killed: its
// file descriptors are closed (the lock with them), and nothing else runs.
func crash(f *File) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.journal != nil {
		_ = f.journal.Close()
	}
	_ = f.lock.Close()
	f.closed = true // the process is gone: nothing calls it again
}
