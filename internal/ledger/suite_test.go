package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// store is what the suite asks of every ledger: the watchdog's Ledger.
type store interface {
	View(ctx context.Context) (State, error)
	Update(ctx context.Context, fn func(*State) error) error
}

// subject is one ledger under test.
type subject struct {
	l store
	// handles returns n handles on the same ledger for concurrent writers:
	// separate processes' where the store has more than one (Redis), else
	// l itself.
	handles func(n int) []store
	// mark makes the stored form of the state recognisable without changing
	// what it means, and marked reports whether it still is: no write
	// happened since. nil where nothing is stored (Memory).
	mark   func(t *testing.T)
	marked func(t *testing.T) bool
	// keepsReading is whether State.Reading survives an Update: a File does
	// not keep it (its one watchdog has it in memory).
	keepsReading bool
	// reopen returns a new handle on the stored ledger, as a restarted
	// process gets: the File's process was killed (no Close), the Redis
	// client is another one. nil where nothing outlives the process
	// (Memory).
	reopen func(t *testing.T) store
}

// implementations are the ledgers the suite runs on.
var implementations = []struct {
	name string
	open func(t *testing.T) subject
}{
	{"file", openFileSubject},
	{"memory", func(*testing.T) subject {
		m := NewMemory(State{})
		return subject{l: m, handles: same(m), keepsReading: true}
	}},
	{"redis", openRedisSubject},
}

func same(l store) func(int) []store {
	return func(n int) []store {
		out := make([]store, n)
		for i := range out {
			out[i] = l
		}
		return out
	}
}

func openFileSubject(t *testing.T) subject {
	path := statePath(t)
	f := mustOpen(t, path)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	return subject{l: f, handles: same(f),
		reopen: func(t *testing.T) store {
			crash(f)
			f = mustOpen(t, path)
			return f
		},
		mark: func(t *testing.T) {
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
		},
		marked: func(t *testing.T) bool {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			return info.ModTime().Equal(old)
		}}
}

func openRedisSubject(t *testing.T) subject {
	srv := redistest.Start(t)
	r, _ := openRedis(t, srv)
	seedLedger(t, srv, r)
	c := srv.Client()
	ctx := context.Background()
	var compact string
	return subject{l: r, keepsReading: true,
		reopen: func(t *testing.T) store { return openRedisQuiet(t, srv) },
		handles: func(n int) []store {
			others := []store{r, openRedisQuiet(t, srv)} // two processes on one server
			out := make([]store, n)
			for i := range out {
				out[i] = others[i%2]
			}
			return out
		},
		mark: func(t *testing.T) {
			s, err := Decode([]byte(c.Get(ctx, r.keys.ledger).Val()))
			if err != nil {
				t.Fatalf("decode the ledger key: %v", err)
			}
			b, _ := json.Marshal(s) // the same state, without the indentation
			compact = string(b)
			if err := c.Set(ctx, r.keys.ledger, compact, 0).Err(); err != nil {
				t.Fatal(err)
			}
		},
		marked: func(t *testing.T) bool { return c.Get(ctx, r.keys.ledger).Val() == compact }}
}

// pending returns a pending record decided now.
func pending(id string) Record {
	return Record{ID: id, At: time.Now().UTC().Round(time.Microsecond), Outcome: Pending,
		BalanceBefore: decimal.RequireFromString("4.25")}
}

func mustUpdate(t testing.TB, l store, fn func(*State) error) {
	t.Helper()
	if err := l.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func mustViewOf(t testing.TB, l store) State {
	t.Helper()
	s, err := l.View(context.Background())
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return s
}

func ids(s State) []string {
	var out []string
	for _, r := range s.TopUps {
		out = append(out, r.ID)
	}
	return out
}

func TestEveryLedger(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			t.Run("update applies fn and view returns the result", func(t *testing.T) { testApplies(t, impl.open(t)) })
			t.Run("fn's error changes nothing and is returned as is", func(t *testing.T) { testFnError(t, impl.open(t)) })
			t.Run("an invalid state is refused", func(t *testing.T) { testInvalid(t, impl.open(t)) })
			t.Run("an update that changes nothing writes nothing", func(t *testing.T) { testNoWrite(t, impl.open(t)) })
			t.Run("concurrent updates all land", func(t *testing.T) { testConcurrent(t, impl.open(t)) })
			t.Run("a cancelled context fails", func(t *testing.T) { testCancelled(t, impl.open(t)) })
			t.Run("the reading", func(t *testing.T) { testReading(t, impl.open(t)) })
			t.Run("the readings survive a restart", func(t *testing.T) { testReadings(t, impl.open(t)) })
			t.Run("adding a reading rewrites no record", func(t *testing.T) { testReadingOnly(t, impl.open(t)) })
		})
	}
}

func testApplies(t *testing.T, s subject) {
	if st := mustViewOf(t, s.l); st.Version != SchemaVersion || len(st.TopUps) != 0 || st.Refilling {
		t.Fatalf("a new ledger holds %+v, want an empty state", st)
	}
	a, b := pending("a"), pending("b")
	mustUpdate(t, s.l, appendRecord(a))
	mustUpdate(t, s.l, func(st *State) error {
		st.Refilling = true
		st.TopUps[0].Outcome = Succeeded
		st.TopUps = append(st.TopUps, b)
		return nil
	})
	st := mustViewOf(t, s.l)
	a.Outcome = Succeeded
	if want := (State{Version: SchemaVersion, Refilling: true, TopUps: []Record{a, b}}); !equalStates(st, want) {
		t.Errorf("View = %+v\nwant %+v", st, want)
	}
	st.TopUps[0].ID = "changed"
	if again := mustViewOf(t, s.l); again.TopUps[0].ID != "a" {
		t.Error("View returned the ledger's own records, not a copy")
	}
}

func testFnError(t *testing.T, s subject) {
	mustUpdate(t, s.l, appendRecord(pending("a")))
	boom := errors.New("boom")
	err := s.l.Update(context.Background(), func(st *State) error {
		st.Refilling = true
		st.TopUps = append(st.TopUps, pending("b"))
		return boom
	})
	if err != boom {
		t.Fatalf("Update = %v, want fn's error itself", err)
	}
	if st := mustViewOf(t, s.l); st.Refilling || fmt.Sprint(ids(st)) != "[a]" {
		t.Errorf("after a failed fn the ledger holds %+v", st)
	}
}

func testInvalid(t *testing.T, s subject) {
	mustUpdate(t, s.l, appendRecord(pending("a")))
	for name, fn := range map[string]func(*State) error{
		"duplicate id": appendRecord(pending("a")),
		"no time":      appendRecord(Record{ID: "c", Outcome: Pending}),
		"bad outcome":  appendRecord(Record{ID: "d", At: time.Now(), Outcome: "maybe"}),
	} {
		err := s.l.Update(context.Background(), func(st *State) error { st.Refilling = true; return fn(st) })
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if st := mustViewOf(t, s.l); st.Refilling || fmt.Sprint(ids(st)) != "[a]" {
		t.Errorf("after refused states the ledger holds %+v", st)
	}
}

func testNoWrite(t *testing.T, s subject) {
	mustUpdate(t, s.l, appendRecord(pending("a")))
	if s.mark == nil {
		t.Skip("nothing stored to look at")
	}
	s.mark(t)
	mustUpdate(t, s.l, func(*State) error { return nil })
	mustUpdate(t, s.l, func(st *State) error { st.TopUps[0].Attempts = 0; return nil }) // as it was
	if !s.marked(t) {
		t.Error("an update that changed nothing wrote the ledger")
	}
	mustUpdate(t, s.l, func(st *State) error { st.TopUps[0].Attempts = 1; return nil })
	if s.marked(t) {
		t.Fatal("an update that changed the state did not write it: the test shows nothing")
	}
}

func testConcurrent(t *testing.T, s subject) {
	const writers, each = 8, 5
	handles := s.handles(writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- handles[w].Update(context.Background(), appendRecord(pending(fmt.Sprintf("w%d-%d", w, i))))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	st := mustViewOf(t, s.l)
	if len(st.TopUps) != writers*each {
		t.Fatalf("%d records after %d updates of %d writers: updates were lost", len(st.TopUps), writers*each, writers)
	}
	seen := map[string]bool{}
	for _, r := range st.TopUps {
		seen[r.ID] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct ids, want %d", len(seen), writers*each)
	}
}

func testCancelled(t *testing.T, s subject) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.l.Update(ctx, func(st *State) error { ran = true; st.Refilling = true; return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := s.l.View(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("View(cancelled) = %v, want context.Canceled", err)
	}
	if st := mustViewOf(t, s.l); st.Refilling || ran {
		t.Errorf("a cancelled update ran fn (%v) or changed the state: %+v", ran, st)
	}
}

func testReading(t *testing.T, s subject) {
	rd := &Reading{At: time.Now().UTC().Round(time.Microsecond), Balance: decimal.RequireFromString("12.5"),
		AutoReload: true, Replica: "r1"}
	mustUpdate(t, s.l, func(st *State) error { st.Reading = rd; return nil })
	got := mustViewOf(t, s.l).Reading
	if !s.keepsReading {
		if got != nil {
			t.Errorf("Reading = %+v, want none: this ledger does not keep it", got)
		}
		return
	}
	if got == nil || !got.At.Equal(rd.At) || !got.Balance.Equal(rd.Balance) || !got.AutoReload || got.Replica != "r1" {
		t.Fatalf("Reading = %+v, want %+v", got, rd)
	}
	got.Replica = "changed"
	if mustViewOf(t, s.l).Reading.Replica != "r1" {
		t.Error("View returned the ledger's own reading, not a copy")
	}
}

// recent returns a reading taken ago before now, at whole microseconds as
// every store keeps them.
func recent(ago time.Duration, balance string) Reading {
	return Reading{At: time.Now().UTC().Add(-ago).Round(time.Microsecond), Balance: decimal.RequireFromString(balance),
		AutoReload: true}
}

func testReadings(t *testing.T, s subject) {
	r1, r2, r3, r4 := recent(3*time.Minute, "40.5"), recent(2*time.Minute, "39.25"), recent(time.Minute, "38"), recent(0, "36.125")
	mustUpdate(t, s.l, appendRecord(pending("a")))
	for _, r := range []Reading{r1, r2, r3} {
		mustUpdate(t, s.l, addReadings(r))
	}
	got := mustViewOf(t, s.l).Readings
	wantReadings(t, "after three checks", got, r1, r2, r3)
	got[0].Balance = decimal.Zero
	wantReadings(t, "View returned the ledger's own readings, not a copy", mustViewOf(t, s.l).Readings, r1, r2, r3)

	if s.reopen == nil {
		return // nothing outlives the process
	}
	l := s.reopen(t)
	wantReadings(t, "after a restart", mustViewOf(t, l).Readings, r1, r2, r3)
	// A check after the restart adds to them, and a record written with a
	// reading keeps both.
	mustUpdate(t, l, func(st *State) error {
		st.AddReading(r4)
		st.TopUps[0].Outcome = Succeeded
		return nil
	})
	l = s.reopen(t)
	st := mustViewOf(t, l)
	wantReadings(t, "after a record and a reading, and a restart", st.Readings, r1, r2, r3, r4)
	if len(st.TopUps) != 1 || st.TopUps[0].Outcome != Succeeded {
		t.Errorf("after a restart the ledger holds %+v, want the record succeeded", st.TopUps)
	}
}

func testReadingOnly(t *testing.T, s subject) {
	mustUpdate(t, s.l, appendRecord(pending("a")))
	if s.mark == nil {
		t.Skip("nothing stored to look at")
	}
	s.mark(t)
	for i := range 5 {
		mustUpdate(t, s.l, addReadings(recent(time.Duration(5-i)*time.Minute, fmt.Sprintf("%d.5", 30-i))))
	}
	if !s.marked(t) {
		t.Error("checks that only added a reading wrote the whole ledger")
	}
	if n := len(mustViewOf(t, s.l).Readings); n != 5 {
		t.Errorf("%d readings, want 5", n)
	}
	mustUpdate(t, s.l, func(st *State) error { st.Refilling = true; st.AddReading(recent(0, "25")); return nil })
	if s.marked(t) {
		t.Fatal("a check that changed a record did not write the ledger: the test shows nothing")
	}
}
