package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// BenchmarkUpdate measures one durable write of a ledger holding a day of
// records: encode, temp file, fsync, rename, folder fsync.
func BenchmarkUpdate(b *testing.B) {
	f := mustOpen(b, statePath(b))
	ctx := context.Background()
	err := f.Update(ctx, func(s *State) error {
		for i := range 10 {
			s.TopUps = append(s.TopUps, record(fmt.Sprintf("r%d", i), time.Duration(i)*time.Hour))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		n++
		if err := f.Update(ctx, func(s *State) error { s.TopUps[0].Attempts = n; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateUnchanged measures the Update of a check that changes
// nothing, which writes nothing.
func BenchmarkUpdateUnchanged(b *testing.B) {
	f := mustOpen(b, statePath(b))
	ctx := context.Background()
	if err := f.Update(ctx, appendRecord(record("a", 0))); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := f.Update(ctx, func(*State) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFile is a File holding a day of records, as in BenchmarkUpdate.
func benchFile(b *testing.B) *File {
	f := mustOpen(b, statePath(b))
	err := f.Update(context.Background(), func(s *State) error {
		for i := range 10 {
			s.TopUps = append(s.TopUps, record(fmt.Sprintf("r%d", i), time.Duration(i)*time.Hour))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// benchReadings runs one check's Update that only adds a reading, 30
// seconds after the last, b.N times.
func benchReadings(b *testing.B, f *File) {
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		rd := Reading{At: at(time.Duration(n) * 30 * time.Second), Balance: decimal.New(int64(100000-n), -2), AutoReload: true}
		if err := f.Update(ctx, addReadings(rd)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateReading measures the Update of a check that changes no
// record and adds its reading: one append to the journal, without an
// fsync, and the rewrite of the state file each time the journal is full,
// spread over the checks.
func BenchmarkUpdateReading(b *testing.B) {
	benchReadings(b, benchFile(b))
}

// BenchmarkUpdateReadingWithoutJournal measures the same Update when the
// journal fails at every append: each reading is written with the state
// file, durably, and the journal is opened and started again after it. It
// bounds what a check costs without the journal.
func BenchmarkUpdateReadingWithoutJournal(b *testing.B) {
	f := benchFile(b)
	f.fault = func(s step) error {
		if s == stepJournal {
			return errors.New("no journal")
		}
		return nil
	}
	benchReadings(b, f)
}
