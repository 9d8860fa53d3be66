package ledger

import (
	"context"
	"fmt"
	"testing"
	"time"
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
