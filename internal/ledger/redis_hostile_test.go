package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// The defects an outside review found in the Redis ledger, each with the
// test that showed it; those of a stepped clock are in redis_clock_test.go.

// fleetRecord is a pending record decided now on r's fleet clock.
func fleetRecord(r *Redis, id string) Record {
	return Record{ID: id, At: r.Now().UTC(), Outcome: Pending, BalanceBefore: decimal.RequireFromString("4.25")}
}

// Finding 4 (a): a replica that lost the tick remembered a claim across a
// flush but wrote it back only from an Update, which it makes only when it
// wins: a replica that never saw the claim could win the next tick and
// claim on the empty ledger first. The Tick that finds records lost writes
// them back at once, won or lost.
func TestRedisTickWritesBackLostRecordsAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
	b, blogs := openRedis(t, srv, func(o *RedisOptions) { o.Replica = "replica-b" })
	seedLedger(t, srv, a)
	if tk, err := a.Tick(ctx, time.Minute); err != nil || !tk.Won {
		t.Fatalf("a's Tick = %+v, %v; want it won", tk, err)
	}
	mustUpdate(t, a, appendRecord(fleetRecord(a, "claim")))
	if tk, err := b.Tick(ctx, time.Minute); err != nil || tk.Won {
		t.Fatalf("b's Tick = %+v, %v; want it lost to a, with the claim read", tk, err)
	}
	srv.FlushAll()
	if tk, err := b.Tick(ctx, time.Minute); err != nil || !tk.Won { // the flush took the lease too
		t.Fatalf("b's Tick after the flush = %+v, %v", tk, err)
	}
	if st, ok := stored(t, srv, b); !ok || fmt.Sprint(ids(st)) != "[claim]" {
		t.Errorf("after b's Tick found the claim lost Redis holds %v (key there: %v), want it written back", ids(st), ok)
	}
	wantLost(t, blogs, "[claim]", true)

	// The same when the Tick is lost: a stranger holds it.
	srv.FlushAll()
	if err := srv.Client().Set(ctx, b.keys.tick, "replica-z", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if tk, err := b.Tick(ctx, time.Minute); err != nil || tk.Won {
		t.Fatalf("b's Tick = %+v, %v; want it lost to replica-z", tk, err)
	}
	if st, ok := stored(t, srv, b); !ok || fmt.Sprint(ids(st)) != "[claim]" {
		t.Errorf("after b lost the tick and found the claim lost Redis holds %v (key there: %v), want it written back", ids(st), ok)
	}
}

// Finding 4 (b): an Update that found no ledger key (Redis restarted
// empty, flushed, failed over, or the fleet's first start) wrote a claim,
// though a replica that saw an earlier claim may not have written it back
// yet. It writes the ledger as it was before fn and claims nothing.
func TestRedisUpdateOnAMissingLedgerClaimsNothing(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-c" })
	rd := &Reading{At: c.Now().UTC(), Balance: decimal.RequireFromString("4.25"), Replica: "replica-c"}
	err := c.Update(ctx, func(s *State) error {
		s.Reading = rd
		s.Refilling = true
		s.TopUps = append(s.TopUps, fleetRecord(c, "fresh"))
		return nil
	})
	st, ok := stored(t, srv, c)
	if !errors.Is(err, ErrLedgerRecreated) || !ok || len(st.TopUps) != 0 || st.Refilling {
		t.Fatalf("a claim on a missing ledger: Update = %v; Redis holds %v refilling %v (key there: %v); want ErrLedgerRecreated, and the ledger written empty",
			err, ids(st), st.Refilling, ok)
	}
	if want := "redis ledger: update: the ledger " + c.keys.ledger + " was missing (Redis restarted empty, flushed, failed over, or a first start): " +
		"it was created again, and claims start at the next check, once every replica had a tick to write back what it saw: not sent"; err.Error() != want {
		t.Errorf("error = %q\nwant %q", err, want)
	}
	if got := mustViewOf(t, c).Reading; got == nil || !got.At.Equal(rd.At) {
		t.Errorf("the reading = %+v, want the check's written with the ledger", got)
	}
	// The next check claims.
	mustUpdate(t, c, appendRecord(fleetRecord(c, "next")))
	if st, _ := stored(t, srv, c); fmt.Sprint(ids(st)) != "[next]" {
		t.Errorf("the claim on the ledger written again: Redis holds %v, want [next]", ids(st))
	}

	// With a record this replica saw put back: the ledger is written with
	// it, without the claim.
	srv.FlushAll()
	err = c.Update(ctx, appendRecord(fleetRecord(c, "second")))
	if st, ok := stored(t, srv, c); !errors.Is(err, ErrLedgerRecreated) || !ok || fmt.Sprint(ids(st)) != "[next]" {
		t.Errorf("after a flush: Update = %v; Redis holds %v (key there: %v), want an error and the record put back alone", err, ids(st), ok)
	}
}

// The reviewer's replicas: a claims, b reads it as the tick's loser, Redis
// is flushed, c (a new pod) wins the next tick and decides before b's
// next tick: nothing is claimed on the ledger b had not written back.
func TestRedisAfterAFlushAFreshReplicaCannotClaimFirst(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
	b := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-b" })
	seedLedger(t, srv, a)
	if _, err := a.Tick(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, a, appendRecord(fleetRecord(a, "claim")))
	if _, err := b.Tick(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	srv.FlushAll()
	c := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-c" })
	if tk, err := c.Tick(ctx, time.Second); err != nil || !tk.Won {
		t.Fatalf("c's Tick = %+v, %v; want it won", tk, err)
	}
	claimed := false
	err := c.Update(ctx, func(s *State) error {
		claimed = false
		for _, r := range s.TopUps {
			if r.Outcome == Pending {
				return nil
			}
		}
		s.TopUps, claimed = append(s.TopUps, fleetRecord(c, "second")), true
		return nil
	})
	if !claimed || !errors.Is(err, ErrLedgerRecreated) {
		t.Errorf("c's claim on the flushed ledger before b wrote back a's = %v (fn claimed: %v), want ErrLedgerRecreated", err, claimed)
	}
	if _, err := b.Tick(ctx, time.Second); err != nil { // b writes back what it saw
		t.Fatal(err)
	}
	if st, _ := stored(t, srv, a); fmt.Sprint(ids(st)) != "[claim]" {
		t.Errorf("Redis holds %v, want a's claim alone", ids(st))
	}
}

// Finding 7: garbage in the reading key (the fleet's last reading, a cache)
// failed every Update and Tick: no claim ever, every replica read every
// tick. It is logged once, taken for no reading, and overwritten.
func TestRedisGarbageReadingIsIgnoredAndOverwritten(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r, logs := openRedis(t, srv)
	seedLedger(t, srv, r)
	c := srv.Client()
	if err := c.Set(ctx, r.keys.reading, "garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if tk, err := r.Tick(ctx, time.Second); err != nil || !tk.Won || tk.Last != nil {
		t.Errorf("Tick with garbage in the reading key = %+v, %v; want won, no reading", tk, err)
	}
	if st, err := r.View(ctx); err != nil || st.Reading != nil {
		t.Errorf("View with garbage in the reading key = %+v, %v; want no reading", st.Reading, err)
	}
	if err := r.Update(ctx, appendRecord(fleetRecord(r, "claim"))); err != nil {
		t.Errorf("a claim with garbage in the reading key: %v", err)
	}
	if v := c.Get(ctx, r.keys.reading).Val(); v != "garbage" {
		t.Errorf("an Update that set no reading wrote the reading key: %q", v)
	}
	lines := logs.FilterMessage(msgReadingUnreadable).All()
	if len(lines) != 1 || lines[0].ContextMap()["key"] != r.keys.reading {
		t.Errorf("%d %q lines (%v), want 1 naming the key", len(lines), msgReadingUnreadable, lines)
	}
	rd := &Reading{At: r.Now().UTC(), Balance: decimal.RequireFromString("12.5"), Replica: "r1"}
	mustUpdate(t, r, func(s *State) error { s.Reading = rd; return nil })
	if got := mustViewOf(t, r).Reading; got == nil || !got.At.Equal(rd.At) {
		t.Errorf("Reading = %+v, want the one written over the garbage", got)
	}
	// Garbage again later: logged again.
	if err := c.Set(ctx, r.keys.reading, "{", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Tick(ctx, time.Second); err != nil {
		t.Error(err)
	}
	if n := logs.FilterMessage(msgReadingUnreadable).Len(); n != 2 {
		t.Errorf("%d %q lines after new garbage, want 2", n, msgReadingUnreadable)
	}
}

// Finding 8: a tick key without a TTL (a stranger's, a restored dump, a
// PERSIST) or held far longer than its holder's own lease (Redis's clock
// stepped back) stopped the fleet's checks. The asker takes it; a lease,
// however longer than the asker's, is still respected.
func TestRedisTickLeaseStrangerAndOverlongLease(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := srv.Client()
	a := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
	slow := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-slow" })
	tick := func(r *Redis, lease time.Duration) Tick {
		t.Helper()
		tk, err := r.Tick(ctx, lease)
		if err != nil {
			t.Fatalf("Tick: %v", err)
		}
		return tk
	}
	if err := c.Set(ctx, a.keys.tick, "gone-pod-1234", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if tk := tick(a, time.Second); !tk.Won || tk.Holder != "replica-a" {
		t.Errorf("Tick against a stranger's tick key without a TTL = %+v, want it taken", tk)
	}
	if ttl := c.PTTL(ctx, a.keys.tick).Val(); ttl <= 0 || ttl > time.Second {
		t.Errorf("PTTL after taking it = %v, want a's lease", ttl)
	}

	if err := c.Del(ctx, a.keys.tick).Err(); err != nil {
		t.Fatal(err)
	}
	if tk := tick(slow, time.Hour); !tk.Won {
		t.Fatalf("the slow replica's Tick = %+v, want it won", tk)
	}
	// A holder on a slower schedule holds its own lease, however short the
	// asker's: two schedules do not both win one run time.
	if tk := tick(a, time.Second); tk.Won || tk.Holder != "replica-slow" {
		t.Errorf("Tick (1s) against a lease of 1h just begun = %+v, want it lost to replica-slow", tk)
	}
	// Held for more than twice the holder's own lease (Redis's clock
	// stepped back): taken.
	if err := c.Set(ctx, a.keys.tick, "replica-slow\n1000", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if tk := tick(a, time.Second); !tk.Won || tk.Holder != "replica-a" {
		t.Errorf("Tick (1s) against a lease of 1s stretched to 1h = %+v, want it taken", tk)
	}

	// A lease at most twice the asker's is respected; its holder renews it.
	if err := c.Del(ctx, a.keys.tick).Err(); err != nil {
		t.Fatal(err)
	}
	if tk := tick(slow, 1500*time.Millisecond); !tk.Won {
		t.Fatalf("Tick = %+v, want it won", tk)
	}
	if tk := tick(a, time.Second); tk.Won || tk.Holder != "replica-slow" {
		t.Errorf("Tick (1s) against a lease of 1.5s = %+v, want it lost to replica-slow", tk)
	}
	if tk := tick(slow, 1500*time.Millisecond); !tk.Won {
		t.Errorf("the holder's renewal = %+v, want it won", tk)
	}
	if ttl := c.PTTL(ctx, a.keys.tick).Val(); ttl < time.Second || ttl > 1500*time.Millisecond {
		t.Errorf("PTTL after the renewal = %v, want about 1.5s", ttl)
	}
}

// A check on a missing ledger that claims nothing still creates it, so that
// the next need's claim is not held back a check, and a missing ledger
// later means Redis lost it.
func TestRedisUpdateCreatesAMissingLedger(t *testing.T) {
	srv := redistest.Start(t)
	c := openRedisQuiet(t, srv)
	mustUpdate(t, c, func(*State) error { return nil })
	if _, ok := stored(t, srv, c); !ok {
		t.Fatal("a no-op Update on a missing ledger left it missing")
	}
	mustUpdate(t, c, appendRecord(fleetRecord(c, "first-need")))
	if st, _ := stored(t, srv, c); fmt.Sprint(ids(st)) != "[first-need]" {
		t.Errorf("the first need's claim: Redis holds %v, want [first-need]", ids(st))
	}
}
