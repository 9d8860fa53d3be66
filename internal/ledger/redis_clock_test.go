package ledger

// The defects an outside review found in the Redis ledger when the wall
// clock of Redis steps, each with the test that showed it.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// The defects an outside review found in the Redis ledger, each with the
// test that showed it.

// steppedRedis starts a redis-server whose wall clock (TIME, expiries) the
// returned function steps, by an LD_PRELOAD shim (testdata/redisclock.c);
// its monotonic clock is left alone. It skips without gcc.
func steppedRedis(t *testing.T) (*redistest.Server, func(time.Duration)) {
	t.Helper()
	var srv *redistest.Server
	step := redistest.WithClockShim(t, func() { srv = redistest.Start(t) })
	return srv, step
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
