package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// maxTxAttempts bounds the optimistic transactions of one Update.
const maxTxAttempts = 32

// Update applies fn to the state in one optimistic transaction (WATCH,
// MULTI, EXEC), running fn again when another replica wrote first. fn gets
// a copy of the state with the fleet's last reading, the records this
// replica saw that Redis lost, and the steps of Redis's clock this replica
// saw applied (once for the fleet: see applySteps); when its result
// differs, the ledger and the reading key (the last reading and the
// readings) are written in one transaction, each only if it changed: a
// check that changes no record writes the reading key alone. Else nothing
// is written. fn's own error is returned as is. A write in two
// round trips: WATCH, the GETs and TIME in one, MULTI, SET and EXEC in the
// other.
//
// A ledger key that is missing (Redis restarted empty, flushed, failed
// over, or the fleet's first start) is not a fresh start: another replica
// may hold a claim it saw and has not written back yet. When the key was
// missing in any attempt of this Update and fn's result adds a pending
// record (a claim), the claim is not written: the state as it was before fn
// (the records put back, the steps applied) is, with fn's reading, so that
// the ledger exists again, and Update returns an error wrapping
// ErrLedgerRecreated. Claims start at the next check, once every replica
// had a tick to write back what it saw (Tick does so at once). The first
// check of a brand-new fleet that wants a top-up therefore sends nothing;
// the next one does.
func (r *Redis) Update(ctx context.Context, fn func(*State) error) error {
	if err := r.usable(ctx); err != nil {
		return r.fail("update", err)
	}
	missing := false // whether an attempt found no ledger key
	for range maxTxAttempts {
		err := r.client.Watch(ctx, func(tx *redis.Tx) error { return r.attempt(ctx, tx, fn, &missing) })
		var fe fnError
		switch {
		case errors.As(err, &fe):
			return fe.err
		case errors.Is(err, redis.TxFailedErr):
			continue // another replica wrote between the read and the write
		}
		return err
	}
	return fmt.Errorf("redis ledger: update: the ledger %s changed under each of %d attempts to write it", r.keys.ledger, maxTxAttempts)
}

// attempt is one optimistic transaction of Update on the connection of tx.
// It returns redis.TxFailedErr when another client wrote the ledger first.
// It sets *missing when it finds no ledger key.
func (r *Redis) attempt(ctx context.Context, tx *redis.Tx, fn func(*State) error, missing *bool) error {
	seq := r.begin()
	watch := redis.NewStatusCmd(ctx, "watch", r.keys.ledger)
	var led, rd, rs *redis.StringCmd
	var tm *redis.TimeCmd
	t0 := r.o.Monotonic()
	_, perr := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
		_ = p.Process(ctx, watch)
		led, rd, rs, tm = p.Get(ctx, r.keys.ledger), p.Get(ctx, r.keys.reading), p.Get(ctx, r.keys.readings), p.Time(ctx)
		return nil
	})
	t1 := r.o.Monotonic()
	// WATCH was sent in the pipeline, so go-redis does not know of it:
	// release it unless EXEC does.
	armed := watch.Err() == nil
	defer func() {
		if armed {
			r.unwatch(ctx, tx)
		}
	}()
	err := firstErr(perr, watch, led, rd, rs, tm)
	r.observe(ctx, "update", t1-t0, err)
	if err != nil {
		return r.fail("update", err)
	}
	now := tm.Val()
	r.anchor(now, t0, t1)
	lv, lok := value(led)
	rv, rok := value(rd)
	sv, sok := value(rs)
	sn, err := r.decodeSnapshot("update", lv, lok, rv, rok, sv, sok)
	if err != nil {
		return err
	}
	*missing = *missing || sn.missing
	merged := sn.state
	present := presentIDs(merged)
	r.restore(&merged, seq, now, sn.missing)
	r.noteFrames(merged, present, frameOf(sn.state))
	plan := r.planClock(sn.state, sn.missing)
	r.applyClock(&merged, present, plan)

	next := merged.Clone()
	if err := fn(&next); err != nil {
		return fnError{err}
	}
	var refused error // of a claim on a ledger that was missing
	if *missing && addsPending(merged, next) {
		rd, rs := next.Reading, next.Readings
		next = merged.Clone()
		next.Reading, next.Readings = rd, rs
		refused = &recreatedError{key: r.keys.ledger}
	}
	if err := validateReadings(next.Readings); err != nil {
		return r.fail("update", fmt.Errorf("invalid state: %w", err))
	}
	stored := next
	stored.Readings = nil // under the reading key
	_, saved, err := prepare(stored)
	if err != nil {
		return r.fail("update", err)
	}
	// Without readings the value is version 1's layout: the release before
	// this one reads it, so a fleet can be rolled forward replica by
	// replica and every replica still claims through one ledger.
	stored.Version = redisLedgerVersion
	data, err := encode(stored)
	if err != nil {
		return r.fail("update", err)
	}
	saved.Reading = cloneReading(next.Reading)
	saved.Readings = next.Readings
	reading, err := encodeReadingValue(next.Reading, next.Readings)
	if err != nil {
		return r.fail("update", err)
	}
	// Written apart: the last reading in the layout the release before
	// readings reads, the readings under a key of their own.
	last, _ := encodeReadingValue(next.Reading, nil)
	kept, _ := encodeReadingValue(nil, next.Readings)
	// A missing ledger is always written: once it exists, a missing one
	// means Redis lost it, and the claim the next need makes is not held
	// back a check.
	writeLedger := !bytes.Equal(data, sn.base) || sn.missing
	writeReading := !bytes.Equal(reading, sn.readingBase)
	if !writeLedger && !writeReading {
		r.settleClock(plan, false) // the ledger holds it already
		return refused
	}
	if err := ctx.Err(); err != nil {
		return r.fail("update", err)
	}

	t0 = r.o.Monotonic()
	_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if writeLedger {
			p.Set(ctx, r.keys.ledger, data, 0)
		}
		if writeReading {
			setOrDel(ctx, p, r.keys.reading, last)
			setOrDel(ctx, p, r.keys.readings, kept)
		}
		return nil
	})
	t1 = r.o.Monotonic()
	armed = false // EXEC released it, or the connection is gone
	r.observe(ctx, "update", t1-t0, err)
	switch {
	case errors.Is(err, redis.TxFailedErr):
		return err
	case err != nil:
		return r.fail("update", err)
	}
	if r.o.MinReplicas > 0 && addsPending(merged, saved) {
		if err := r.replicate(ctx, tx, sn, data); err != nil {
			return err // the write is undone, and with it the steps applied
		}
	}
	r.committed(merged, saved, now)
	r.noteFrames(saved, nil, plan.target)
	r.settleClock(plan, true)
	return refused
}

// unwatch releases the WATCH of a transaction that writes nothing. Should
// it fail, the connection keeps it, which can only make a later transaction
// on it fail once and run again.
func (r *Redis) unwatch(ctx context.Context, tx *redis.Tx) {
	t0 := r.o.Monotonic()
	err := tx.Unwatch(ctx).Err()
	r.observe(ctx, "update", r.o.Monotonic()-t0, err)
}

// cloneReading returns a copy of rd.
func cloneReading(rd *Reading) *Reading {
	if rd == nil {
		return nil
	}
	c := *rd
	return &c
}

// addsPending reports whether after holds a pending record that before
// does not: a claim.
func addsPending(before, after State) bool {
	for _, rec := range after.TopUps {
		if rec.Outcome == Pending && before.Find(rec.ID) == nil {
			return true
		}
	}
	return false
}

// replicate waits until MinReplicas Redis replicas hold the claim just
// written as wrote over prev. Fewer in WaitTimeout, and it undoes the write,
// unless the ledger was written over since, and returns an error wrapping
// ErrNotReplicated.
func (r *Redis) replicate(ctx context.Context, tx *redis.Tx, prev snapshot, wrote []byte) error {
	t0 := r.o.Monotonic()
	n, err := tx.Wait(ctx, r.o.MinReplicas, r.o.WaitTimeout).Result()
	t1 := r.o.Monotonic()
	r.observe(ctx, "wait", t1-t0, err)
	if err == nil && n >= int64(r.o.MinReplicas) {
		return nil
	}
	msg := fmt.Sprintf("redis ledger: update: claim held by %d of %d redis replicas (TOPUP_REDIS_MIN_REPLICAS) within %s: not sent",
		n, r.o.MinReplicas, r.o.WaitTimeout)
	if err != nil {
		msg = fmt.Sprintf("redis ledger: update: claim not known to be held by %d redis replicas (TOPUP_REDIS_MIN_REPLICAS): wait: %v: not sent",
			r.o.MinReplicas, r.redact(err))
	}
	switch undone, uerr := r.undo(ctx, tx, prev, wrote); {
	case uerr != nil:
		msg += fmt.Sprintf("; undoing the claim failed, it holds the window: %v", r.redact(uerr))
	case !undone:
		msg += "; the ledger was written over since, the claim stays in it"
	}
	return &notReplicatedError{msg: msg}
}

// undo puts back prev in place of wrote, unless the ledger holds something
// else by now.
func (r *Redis) undo(ctx context.Context, tx *redis.Tx, prev snapshot, wrote []byte) (bool, error) {
	watch := redis.NewStatusCmd(ctx, "watch", r.keys.ledger)
	var led *redis.StringCmd
	t0 := r.o.Monotonic()
	_, perr := tx.Pipelined(ctx, func(p redis.Pipeliner) error {
		_ = p.Process(ctx, watch)
		led = p.Get(ctx, r.keys.ledger)
		return nil
	})
	t1 := r.o.Monotonic()
	err := firstErr(perr, watch, led)
	r.observe(ctx, "update", t1-t0, err)
	if err != nil {
		return false, err
	}
	if v, ok := value(led); !ok || v != string(wrote) {
		r.unwatch(ctx, tx)
		return false, nil
	}
	t0 = r.o.Monotonic()
	_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if prev.missing {
			p.Del(ctx, r.keys.ledger)
		} else {
			p.Set(ctx, r.keys.ledger, prev.raw, 0)
		}
		return nil
	})
	t1 = r.o.Monotonic()
	r.observe(ctx, "update", t1-t0, err)
	switch {
	case errors.Is(err, redis.TxFailedErr):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// setOrDel sets key to v in p, or deletes it when v is nil.
func setOrDel(ctx context.Context, p redis.Pipeliner, key string, v []byte) {
	if v == nil {
		p.Del(ctx, key)
		return
	}
	p.Set(ctx, key, v, 0)
}
