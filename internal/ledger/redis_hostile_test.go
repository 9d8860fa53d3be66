package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// The defects an outside review found in the Redis ledger, each with the
// test that showed it.

// steppedRedis starts a redis-server whose wall clock (TIME, expiries) the
// returned function steps, by an LD_PRELOAD shim (testdata/redisclock.c);
// its monotonic clock is left alone. It skips without gcc.
func steppedRedis(t *testing.T) (*redistest.Server, func(time.Duration)) {
	t.Helper()
	env, step := redistest.ClockShim(t)
	// Only redis-server gets the shim: the variables are gone once it runs.
	for k, v := range env {
		t.Setenv(k, v)
	}
	srv := redistest.Start(t)
	for k := range env {
		_ = os.Unsetenv(k)
	}
	return srv, step
}

// fleetRecord is a pending record decided now on r's fleet clock.
func fleetRecord(r *Redis, id string) Record {
	return Record{ID: id, At: r.Now().UTC(), Outcome: Pending, BalanceBefore: decimal.RequireFromString("4.25")}
}

// Finding 1: a step of Redis's own clock moved none of the ledger's times,
// so a step forward ended every window (and a day's step reset the cap), a
// step back stretched them. Each step is applied once to the shared
// ledger, however many replicas saw it, and not by one that started after.
func TestRedisClockStepMovesTheLedgerOnce(t *testing.T) {
	for _, step := range []time.Duration{time.Hour, -time.Hour, 24 * time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			srv, setStep := steppedRedis(t)
			ctx := context.Background()
			a, alogs := openRedis(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
			b, blogs := openRedis(t, srv, func(o *RedisOptions) { o.Replica = "replica-b" })
			seedLedger(t, srv, a)
			rec := fleetRecord(a, "claim")
			mustUpdate(t, a, appendRecord(rec))
			if _, err := b.Tick(ctx, time.Second); err != nil { // b holds the tick and sees the claim
				t.Fatal(err)
			}
			setStep(step)
			// c starts after the step, so it cannot see it, and wins the
			// tick (b's lease ran out, or holds for an hour more since the
			// step back). a and b lose it: they saw the step and apply it
			// from their Tick, before c decides; a does, b finds it done.
			c := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-c" })
			if tk, err := c.Tick(ctx, time.Second); err != nil || !tk.Won {
				t.Fatalf("c's Tick = %+v, %v; want it won", tk, err)
			}
			for _, r := range []*Redis{a, b} {
				if tk, err := r.Tick(ctx, time.Second); err != nil || tk.Won {
					t.Fatalf("Tick = %+v, %v; want it lost to c", tk, err)
				}
			}
			var seen State
			mustUpdate(t, c, func(s *State) error { seen = s.Clone(); return nil }) // c's decision
			if len(seen.TopUps) != 1 || !seen.TopUps[0].At.After(rec.At.Add(step).Add(-time.Second)) || seen.TopUps[0].At.After(rec.At.Add(step).Add(time.Second)) {
				t.Errorf("c decides on %+v, want the claim moved by the step", seen.TopUps)
			}
			mustUpdate(t, a, func(*State) error { return nil })
			mustUpdate(t, b, func(*State) error { return nil })

			st, ok := stored(t, srv, a)
			if !ok || len(st.TopUps) != 1 {
				t.Fatalf("Redis holds %v (%v), want the claim", ids(st), ok)
			}
			if d := st.TopUps[0].At.Sub(rec.At.Add(step)); d < -100*time.Millisecond || d > 100*time.Millisecond {
				t.Errorf("after a step of %v the claim is dated %s, %v from its time moved by the step (%s): want it moved once",
					step, st.TopUps[0].At.Format(time.RFC3339Nano), d, rec.At.Add(step).Format(time.RFC3339Nano))
			}
			if age := c.Now().Sub(st.TopUps[0].At); age < 0 || age > 5*time.Second {
				t.Errorf("on the fleet's clock after the step the claim is %v old, want a few seconds at most", age)
			}
			lines := append(alogs.FilterMessage(msgStepApplied).All(), blogs.FilterMessage(msgStepApplied).All()...)
			if len(lines) != 1 {
				t.Fatalf("%d %q lines among the two replicas that saw the step, want 1", len(lines), msgStepApplied)
			}
			m := lines[0].ContextMap()
			if got := time.Duration(m["step_ms"].(int64)) * time.Millisecond; (got-step).Abs() > 100*time.Millisecond || m["step"] == nil {
				t.Errorf("the line's fields = %v, want step and step_ms of about %v", m, step)
			}
			if mk := st.ClockStep; mk == nil || mk.Lineage == "" || (mk.Offset-step).Abs() > 100*time.Millisecond {
				t.Errorf("the step mark = %+v, want an offset of %v", mk, step)
			}
			if n := alogs.FilterMessage(msgRedisClockStepped).Len() + blogs.FilterMessage(msgRedisClockStepped).Len(); n != 2 {
				t.Errorf("%d %q lines, want one of each replica that saw it", n, msgRedisClockStepped)
			}
		})
	}
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

// Two replicas that saw the same step apply it at once: the optimistic
// transaction runs the later one again on the ledger the first wrote, whose
// mark says the step is applied.
func TestRedisClockStepAppliedOnceByConcurrentUpdates(t *testing.T) {
	srv, setStep := steppedRedis(t)
	ctx := context.Background()
	a, alogs := openRedis(t, srv)
	b, blogs := openRedis(t, srv)
	seedLedger(t, srv, a)
	rec := fleetRecord(a, "claim")
	mustUpdate(t, a, appendRecord(rec))
	setStep(time.Hour)
	for _, r := range []*Redis{a, b} { // View sees the step and applies nothing
		if _, err := r.View(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := stored(t, srv, a); !st.TopUps[0].At.Equal(rec.At) || st.ClockStep != nil {
		t.Fatalf("View wrote the ledger: %+v", st)
	}
	start := make(chan struct{})
	errs := make(chan error, 2)
	for _, r := range []*Redis{a, b} {
		go func() { <-start; errs <- r.Update(ctx, func(*State) error { return nil }) }()
	}
	close(start)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st, _ := stored(t, srv, a)
	if d := st.TopUps[0].At.Sub(rec.At.Add(time.Hour)); d.Abs() > 100*time.Millisecond {
		t.Errorf("the claim moved by %v, want 1h once", st.TopUps[0].At.Sub(rec.At))
	}
	if n := alogs.FilterMessage(msgStepApplied).Len() + blogs.FilterMessage(msgStepApplied).Len(); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgStepApplied)
	}
	// Both dropped it: nothing moves again.
	mustUpdate(t, a, func(*State) error { return nil })
	mustUpdate(t, b, func(*State) error { return nil })
	if again, _ := stored(t, srv, a); !again.TopUps[0].At.Equal(st.TopUps[0].At) {
		t.Errorf("a later update moved the claim again, to %s", again.TopUps[0].At)
	}
}

// A second step of the same size, later, is a step of its own: the mark of
// the first does not hide it.
func TestRedisClockSecondStepOfTheSameSizeIsApplied(t *testing.T) {
	srv, setStep := steppedRedis(t)
	a := openRedisQuiet(t, srv)
	seedLedger(t, srv, a)
	rec := fleetRecord(a, "claim")
	mustUpdate(t, a, appendRecord(rec))
	setStep(time.Hour)
	mustUpdate(t, a, func(*State) error { return nil })
	setStep(2 * time.Hour)
	mustUpdate(t, a, func(*State) error { return nil })
	st, _ := stored(t, srv, a)
	if d := st.TopUps[0].At.Sub(rec.At.Add(2 * time.Hour)); d.Abs() > 100*time.Millisecond {
		t.Errorf("after two steps of 1h the claim moved by %v, want 2h", st.TopUps[0].At.Sub(rec.At))
	}
}

// What the fleet's clock takes for a step, on made-up round trips: a step
// is a disagreement beyond the uncertainty of the two round trips, and only
// a round trip sent after the anchor's reply came can tell one.
func TestRedisClockStepNeedsMoreThanTheRoundTrips(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fresh := func() *Redis {
		o := RedisOptions{Account: "k", Now: func() time.Time { return base }}
		if err := o.defaults(); err != nil {
			t.Fatal(err)
		}
		r := &Redis{o: o, mem: memory{records: map[string]*seen{}}}
		r.anchor(base, 0, 0)
		return r
	}
	steps := func(r *Redis) []time.Duration {
		var out []time.Duration
		for _, p := range r.steps {
			out = append(out, p.step)
		}
		return out
	}
	// A round trip of 4s (a Redis stalled by a fork or a pause) whose TIME
	// came at its end: 2s from its midpoint, no step.
	r := fresh()
	r.anchor(base.Add(14*time.Second), 10*time.Second, 14*time.Second)
	if got := steps(r); len(got) != 0 {
		t.Errorf("a slow round trip taken for steps %v", got)
	}
	// A step of an hour in a quick round trip.
	r = fresh()
	r.anchor(base.Add(time.Hour+time.Second), time.Second, time.Second+2*time.Millisecond)
	if got := steps(r); len(got) != 1 || (got[0]-time.Hour).Abs() > 5*time.Millisecond {
		t.Errorf("steps = %v, want one of 1h", got)
	}
	// A reply sent before that anchor's came, with a time before the step:
	// neither a step back nor an anchor.
	r.anchor(base.Add(time.Second), time.Second-time.Millisecond, time.Second+5*time.Millisecond)
	if got := steps(r); len(got) != 1 {
		t.Errorf("steps = %v after an overtaken reply, want still the one", got)
	}
	if now := r.clock.at; !now.Equal(base.Add(time.Hour + time.Second)) {
		t.Errorf("the anchor moved back to %s", now)
	}
	// Overlapping replies across a step: the later one leaves the anchor,
	// the next one, sent after, tells the step.
	r = fresh()
	r.anchor(base.Add(time.Second), time.Second-10*time.Millisecond, time.Second+10*time.Millisecond)
	r.anchor(base.Add(time.Hour+time.Second), time.Second, time.Second+20*time.Millisecond)
	if got := steps(r); len(got) != 0 || !r.clock.at.Equal(base.Add(time.Second)) {
		t.Errorf("steps = %v, anchor %s after overlapping replies across a step, want none and the anchor kept", got, r.clock.at)
	}
	r.anchor(base.Add(time.Hour+2*time.Second), 2*time.Second, 2*time.Second)
	if got := steps(r); len(got) != 1 || (got[0]-time.Hour).Abs() > 20*time.Millisecond {
		t.Errorf("steps = %v, want one of 1h", got)
	}
}

func TestClockStepMarkIsValidated(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"version":1,"refilling":false,"topups":[],"clock_step":{"offset_ns":3600000000000}}`, "clock_step: lineage is required"},
		{`{"version":1,"refilling":false,"topups":[],"clock_step":{"lineage":"","offset_ns":0}}`, "clock_step: lineage is required"},
	} {
		if _, err := Decode([]byte(tt.json)); err == nil || !errors.Is(err, ErrCorrupt) || err.Error() != "corrupt: "+tt.want {
			t.Errorf("Decode(%s) = %v, want %q", tt.json, err, tt.want)
		}
	}
	if _, err := Decode([]byte(`{"version":1,"refilling":false,"topups":[],"clock_step":{"lineage":"x","offset_ns":1,"step_ns":1}}`)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Decode of a mark of both versions = %v, want it corrupt", err)
	}
	// The mark of the earlier version (the last step and when it was
	// applied) is dropped: no lineage is known.
	if s, err := Decode([]byte(`{"version":1,"refilling":false,"topups":[],"clock_step":{"step_ns":3600000000000,"at":"2026-01-02T03:04:05Z"}}`)); err != nil || s.ClockStep != nil {
		t.Errorf("Decode of an earlier mark = %+v, %v; want it dropped", s.ClockStep, err)
	}
	s, err := Decode([]byte(`{"version":1,"refilling":false,"topups":[],"clock_step":{"lineage":"0123abcd","offset_ns":3600000000000}}`))
	if err != nil || s.ClockStep == nil || s.ClockStep.Offset != time.Hour || s.ClockStep.Lineage != "0123abcd" {
		t.Fatalf("Decode = %+v, %v", s.ClockStep, err)
	}
	c := s.Clone()
	c.ClockStep.Offset = time.Minute
	if s.ClockStep.Offset != time.Hour {
		t.Error("Clone shares the step mark")
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
