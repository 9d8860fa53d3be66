package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMemoryKeepsWhatUpdateWrote(t *testing.T) {
	m := NewMemory(State{})
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	err := m.Update(context.Background(), func(s *State) error {
		s.TopUps = append(s.TopUps, Record{ID: "a", At: at, Outcome: Pending})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := m.Update(context.Background(), func(s *State) error { s.Refilling = true; return boom }); err != boom {
		t.Fatalf("Update() = %v, want fn's error", err)
	}
	s, _ := m.View(context.Background())
	if len(s.TopUps) != 1 || s.Refilling || s.Version != SchemaVersion {
		t.Errorf("state = %+v", s)
	}
	if err := m.Update(context.Background(), func(s *State) error {
		s.TopUps = append(s.TopUps, Record{ID: "a", At: at, Outcome: Pending})
		return nil
	}); err == nil {
		t.Error("a duplicate id was accepted")
	}
}

func TestReadFileReadsWithoutTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Update(context.Background(), func(s *State) error { s.Refilling = true; return nil }); err != nil {
		t.Fatal(err)
	}
	s, err := ReadFile(path)
	if err != nil || !s.Refilling {
		t.Fatalf("ReadFile() = %+v, %v", s, err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadFile(corrupt) = %v, want ErrCorrupt", err)
	}
	if s, err := ReadFile(filepath.Join(t.TempDir(), "none.json")); err != nil || s.Version != SchemaVersion {
		t.Errorf("ReadFile(missing) = %+v, %v", s, err)
	}
}

func TestMemoryKeepsTheReadings(t *testing.T) {
	seed := []Reading{reading(0, "3"), reading(time.Minute, "2")}
	m := NewMemory(State{Readings: seed})
	seed[0].Balance = seed[1].Balance // NewMemory took a copy
	if err := m.Update(context.Background(), addReadings(reading(2*time.Minute, "1"))); err != nil {
		t.Fatal(err)
	}
	s, _ := m.View(context.Background())
	wantReadings(t, "View", s.Readings, reading(0, "3"), reading(time.Minute, "2"), reading(2*time.Minute, "1"))
	s.Readings[0].Balance = s.Readings[2].Balance // View returned a copy
	again, _ := m.View(context.Background())
	wantReadings(t, "View again", again.Readings, reading(0, "3"), reading(time.Minute, "2"), reading(2*time.Minute, "1"))
	err := m.Update(context.Background(), func(s *State) error { s.Readings = append(s.Readings, s.Readings[0]); return nil })
	if err == nil || !strings.Contains(err.Error(), "readings[3].at") {
		t.Errorf("Update with a reading out of order = %v, want it refused", err)
	}
}
