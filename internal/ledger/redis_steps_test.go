package ledger

import (
	"context"
	"testing"
	"time"
)

// two steps of different sizes; b applies each on its own, a makes no
// round trip between them (a missed tick, a pause) and sees one combined
// step, which the mark (only the last step) does not match: a applies it
// again.
func TestRedisTwoStepsSeenAsOneAreAppliedOnce(t *testing.T) {
	srv, setStep := steppedRedis(t)
	ctx := context.Background()
	a := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
	b := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-b" })
	seedLedger(t, srv, a)
	rec := fleetRecord(a, "claim")
	mustUpdate(t, a, appendRecord(rec))
	for _, r := range []*Redis{a, b} {
		if _, err := r.Tick(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	setStep(-time.Hour)
	if _, err := b.Tick(ctx, time.Second); err != nil { // b applies -1h
		t.Fatal(err)
	}
	setStep(-time.Hour - 30*time.Minute)
	if _, err := b.Tick(ctx, time.Second); err != nil { // b applies -30m
		t.Fatal(err)
	}
	st, _ := stored(t, srv, a)
	t.Logf("after b: claim moved %v, mark %+v", st.TopUps[0].At.Sub(rec.At), st.ClockStep)
	if _, err := a.Tick(ctx, time.Second); err != nil { // a sees -1h30m at once
		t.Fatal(err)
	}
	st, _ = stored(t, srv, a)
	moved := st.TopUps[0].At.Sub(rec.At)
	t.Logf("after a: claim moved %v; on the fleet clock the claim is %v old", moved, a.Now().Sub(st.TopUps[0].At))
	if d := moved - (-90 * time.Minute); d.Abs() > time.Second {
		t.Errorf("the clock stepped -1h30m in all; the claim moved %v: want -1h30m once", moved)
	}
}

// a second step back of the same size within the first's size: the
// mark of the first (At after the second's 'after') hides it; no replica
// applies it.
func TestRedisASecondStepOfTheSameSizeIsApplied(t *testing.T) {
	srv, setStep := steppedRedis(t)
	a := openRedisQuiet(t, srv)
	seedLedger(t, srv, a)
	rec := fleetRecord(a, "claim")
	mustUpdate(t, a, appendRecord(rec))
	setStep(-time.Hour)
	mustUpdate(t, a, func(*State) error { return nil })
	setStep(-2 * time.Hour)
	mustUpdate(t, a, func(*State) error { return nil })
	st, _ := stored(t, srv, a)
	moved := st.TopUps[0].At.Sub(rec.At)
	t.Logf("claim moved %v; on the fleet clock it is %v old", moved, a.Now().Sub(st.TopUps[0].At))
	if d := moved + 2*time.Hour; d.Abs() > time.Second {
		t.Errorf("after two steps of -1h the claim moved by %v, want -2h", moved)
	}
}
