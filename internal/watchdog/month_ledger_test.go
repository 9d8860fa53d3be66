package watchdog_test

// The month's ledger through the real file: what a stop writes and a start
// reads back (see monthWorld).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// persist writes the ledger's state with the file ledger, sweeps the file
// and its readings journal, and returns the readings it wrote. It writes in
// two updates, as the checks of a process on the file ledger would have:
// the state with all but the newest half of its readings, which rewrites
// the file when a record changed, then the state itself, which only adds
// readings and so goes to the journal beside the file (ledger.File.Update).
func (r *monthWorld) persist() []ledger.Reading {
	st, err := r.led.View(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := ledger.Open(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	older := st.Clone()
	older.Readings = older.Readings[:len(older.Readings)-len(older.Readings)/2]
	for _, next := range []ledger.State{older, st} {
		if err := f.Update(context.Background(), func(s *ledger.State) error { *s = next; return nil }); err != nil {
			r.t.Fatal(err)
		}
	}
	for i, path := range []string{r.path, r.path + ".readings"} {
		data, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			r.t.Fatal(err)
		}
		r.ledgers += len(data)
		if n := bytes.Count(data, []byte{'\n'}); i == 1 && n > 0 {
			r.journaled += n - 1 // a header, then a reading a line
		}
		r.swept.Add(filepath.Base(path)+" at "+r.clock.Now().Format(time.RFC3339), data)
	}
	return st.Readings
}

// checkRestored fails the month when a start read back other readings
// than the last stop wrote: the burn rate, and the oracle with it, would
// then go wrong after a restart.
func (r *monthWorld) checkRestored(got []ledger.Reading) {
	want := r.stopped
	r.stopped = nil
	r.restored += len(got)
	for i := range max(len(got), len(want)) {
		if i < len(got) && i < len(want) && got[i].At.Equal(want[i].At) && got[i].Balance.Equal(want[i].Balance) {
			continue
		}
		if r.lost++; r.lost <= 5 {
			r.t.Errorf("%s: a start read %d readings back from the ledger file, the stop wrote %d; the first that differs is number %d: got %s, want %s",
				r.clock.Now().Format(time.RFC3339), len(got), len(want), i+1, monthReading(got, i), monthReading(want, i))
		}
		return
	}
}

// monthReading is reading i of rs, for a failure message.
func monthReading(rs []ledger.Reading, i int) string {
	if i >= len(rs) {
		return "none"
	}
	return fmt.Sprintf("%s at %s", rs[i].Balance, rs[i].At.Format(time.RFC3339))
}

// fileState is the state in the file ledger, as a starting process reads it.
func (r *monthWorld) fileState() ledger.State {
	f, err := ledger.Open(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	st, err := f.View(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}
