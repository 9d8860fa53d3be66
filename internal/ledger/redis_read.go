package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// snapshot is the ledger as one read found it.
type snapshot struct {
	state   State  // decoded, Reading and Readings included
	missing bool   // the ledger key did not exist
	raw     string // the ledger key's value, when it existed
	// base is the encoding of the ledger key's state (without the reading
	// key's readings): what a write of the ledger must differ from.
	base []byte
	// readingBase is the reading key's value as encodeReadingValue writes
	// it, nil for none: what a write of the reading key must differ from.
	readingBase []byte
}

// decodeSnapshot decodes the values of the ledger and reading keys;
// ledgerOK and readingOK are whether the keys exist. A ledger that cannot be
// decoded is an error naming its key, never an empty ledger. The reading key
// holds the fleet's last reading and the burn rate's readings: a value that
// cannot be decoded only costs the burn rate its history, so it is logged
// once and taken for none, and the next reading written overwrites it. The
// readings are the reading key's, or, when it holds none, those a ledger
// value of an earlier build held (the next write moves them to the reading
// key).
func (r *Redis) decodeSnapshot(op, ledgerRaw string, ledgerOK bool, readingRaw string, readingOK bool, readingsRaw string, readingsOK bool) (snapshot, error) {
	sn := snapshot{state: State{Version: SchemaVersion}, missing: !ledgerOK, raw: ledgerRaw}
	if ledgerOK {
		s, err := Decode([]byte(ledgerRaw))
		switch {
		case errors.Is(err, ErrCorrupt):
			return snapshot{}, fmt.Errorf("redis ledger: %s: ledger %s: %w; %s", op, r.keys.ledger, err, refuseEmptyRedis)
		case err != nil:
			return snapshot{}, fmt.Errorf("redis ledger: %s: ledger %s: %w", op, r.keys.ledger, err)
		}
		sn.state = s
	}
	asStored := sn.state
	asStored.Version = redisLedgerVersion // as the value is written (readings, if any, kept: they move)
	base, err := encode(asStored)
	if err != nil {
		return snapshot{}, fmt.Errorf("redis ledger: %s: %w", op, err)
	}
	sn.base = base
	var rd *Reading
	var rs []Reading
	if readingOK {
		if rd, rs, err = decodeReadingValue(readingRaw); err != nil {
			r.readingUnreadable()
			return sn, nil
		}
	}
	if readingsOK {
		_, kept, err := decodeReadingValue(readingsRaw)
		if err != nil {
			r.readingUnreadable()
			return sn, nil
		}
		rs = kept
	}
	r.readingReadable()
	sn.state.Reading = rd
	if len(rs) > 0 {
		sn.state.Readings = rs
	}
	if sn.readingBase, err = encodeReadingValue(rd, rs); err != nil {
		return snapshot{}, fmt.Errorf("redis ledger: %s: %w", op, err)
	}
	return sn, nil
}

// readingUnreadable logs, once until a reading is read again, that the
// reading key holds what is not a reading.
func (r *Redis) readingUnreadable() {
	r.mu.Lock()
	logged := r.readingBad
	r.readingBad = true
	r.mu.Unlock()
	if !logged {
		r.o.Log.Warn(msgReadingUnreadable, zap.String("key", r.keys.reading))
	}
}

// readingReadable notes that the reading key holds a reading, or nothing.
func (r *Redis) readingReadable() {
	r.mu.Lock()
	r.readingBad = false
	r.mu.Unlock()
}

// The log lines of the reads.
const (
	msgReadingUnreadable = "fleet reading unreadable: ignored, the next reading overwrites it"
	msgTickWriteBack     = "ledger write-back after the tick failed: the next update writes it"
)

// value returns a GET's value and whether the key exists.
func value(c *redis.StringCmd) (string, bool) {
	v, err := c.Result()
	return v, err == nil
}

// View returns the state, the fleet's last reading and readings included.
// Records this replica saw that Redis lost are put back into what it
// returns; the next Update writes them.
func (r *Redis) View(ctx context.Context) (State, error) {
	s, _, err := r.ViewFound(ctx)
	return s, err
}

// ViewFound is View, and whether the ledger key exists. View returns a
// missing key as an empty ledger, which the next Update creates; a reader
// that writes nothing (the check command) needs to tell the two apart: a
// key no watchdog wrote is most often a wrong prefix, database or account,
// on which a decision would not be the fleet's.
func (r *Redis) ViewFound(ctx context.Context) (State, bool, error) {
	if err := r.usable(ctx); err != nil {
		return State{}, false, r.fail("view", err)
	}
	seq := r.begin()
	var led, rd, rs *redis.StringCmd
	var tm *redis.TimeCmd
	t0 := r.o.Monotonic()
	_, perr := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		led, rd, rs, tm = p.Get(ctx, r.keys.ledger), p.Get(ctx, r.keys.reading), p.Get(ctx, r.keys.readings), p.Time(ctx)
		return nil
	})
	t1 := r.o.Monotonic()
	err := firstErr(perr, led, rd, rs, tm)
	r.observe(ctx, "view", t1-t0, err)
	if err != nil {
		return State{}, false, r.fail("view", err)
	}
	r.anchor(tm.Val(), t0, t1)
	lv, lok := value(led)
	rv, rok := value(rd)
	sv, sok := value(rs)
	sn, err := r.decodeSnapshot("view", lv, lok, rv, rok, sv, sok)
	if err != nil {
		return State{}, false, err
	}
	read := sn.state
	present := presentIDs(read)
	r.restore(&sn.state, seq, tm.Val(), sn.missing)
	r.noteFrames(sn.state, present, frameOf(read))
	plan := r.planClock(read, sn.missing)
	r.applyClock(&sn.state, present, plan) // what the next Update writes
	if !plan.changes() {
		r.settleClock(plan, false)
	}
	return sn.state, !sn.missing, nil
}

// LedgerKey is the key the ledger is kept under: the prefix, the hash tag
// of the account and "ledger". It is no secret (the hash tag is a hash of
// the API key, never the key itself; errors name the key): a message may
// print it, so that a person can look for it in Redis.
func (r *Redis) LedgerKey() string { return r.keys.ledger }

// tickScript takes the tick for ARGV[1] for ARGV[2] milliseconds, unless
// another replica holds it, and returns in the same round trip what a check
// needs: whether it won, the holder, Redis's TIME, the ledger and the
// reading. The tick key holds "<replica>\n<lease_ms>": the holder and its
// own lease. A tick key without a TTL (written by a stranger, a restored
// dump, a PERSIST), or held for longer than twice the holder's own lease
// (since Redis's clock stepped back), does not hold: the asker takes it, so
// that no holder stops the fleet's checks for longer than twice its lease.
// A holder on a longer schedule than the asker's holds its whole lease. A
// value without a lease (a replica of an earlier version) is judged by the
// asker's lease, as that version did.
var tickScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local holder, held = v, nil
if v then
  local name, ms = string.match(v, '^(.*)\n(%d+)$')
  if name then
    holder, held = name, tonumber(ms)
  end
end
local won = 0
local take = not v or holder == ARGV[1]
if not take then
  local left = redis.call('PTTL', KEYS[1])
  take = left == -1 or left > 2 * (held or tonumber(ARGV[2]))
end
if take then
  redis.call('SET', KEYS[1], ARGV[1] .. '\n' .. ARGV[2], 'PX', ARGV[2])
  holder = ARGV[1]
  won = 1
end
local t = redis.call('TIME')
return {won, holder, t[1], t[2], redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
`)

// Tick asks for the schedule's tick, for lease, in one round trip. When it
// finds records that Redis lost, or a step of Redis's clock it saw (applied
// to the ledger or not: the Update settles it), it writes the ledger at once, won or lost, with an
// Update that changes nothing else; should that fail, it logs why and the
// next Update writes them.
func (r *Redis) Tick(ctx context.Context, lease time.Duration) (Tick, error) {
	if err := r.usable(ctx); err != nil {
		return Tick{}, r.fail("tick", err)
	}
	keys := []string{r.keys.tick, r.keys.ledger, r.keys.reading}
	ms := max(lease.Milliseconds(), 1)
	seq := r.begin()
	t0 := r.o.Monotonic()
	res, err := tickScript.EvalSha(ctx, r.client, keys, r.o.Replica, ms).Slice()
	t1 := r.o.Monotonic()
	if redis.HasErrorPrefix(err, "NOSCRIPT") { // the script cache was emptied: send the script
		r.observe(ctx, "tick", t1-t0, nil)
		t0 = r.o.Monotonic()
		res, err = tickScript.Eval(ctx, r.client, keys, r.o.Replica, ms).Slice()
		t1 = r.o.Monotonic()
	}
	r.observe(ctx, "tick", t1-t0, err)
	if err != nil {
		return Tick{}, r.fail("tick", err)
	}
	t, now, sn, err := r.parseTick(res)
	if err != nil {
		return Tick{}, err
	}
	r.anchor(now, t0, t1)
	read := sn.state
	present := presentIDs(read)
	lost := r.restore(&sn.state, seq, now, sn.missing)
	r.noteFrames(sn.state, present, frameOf(read))
	plan := r.planClock(read, sn.missing)
	r.applyClock(&sn.state, present, plan)
	t.Last, t.TopUps = sn.state.Reading, sn.state.TopUps
	if !plan.changes() && len(plan.ids) == 0 {
		r.settleClock(plan, false) // a ledger adopted, or nothing new
	}
	// Records Redis lost are written back at once, won or lost: a replica
	// that never saw them may win the next tick (rule 11); and a step of
	// Redis's clock is applied at once: the tick's holder may have started
	// after it and cannot see it.
	if lost || (!sn.missing && (plan.changes() || len(plan.ids) > 0)) {
		if err := r.Update(ctx, func(*State) error { return nil }); err != nil && ctx.Err() == nil {
			r.o.Log.Warn(msgTickWriteBack, zap.Error(err))
		}
	}
	return t, nil
}

// parseTick reads the reply of tickScript.
func (r *Redis) parseTick(res []any) (Tick, time.Time, snapshot, error) {
	bad := func(what string) error {
		return fmt.Errorf("redis ledger: tick: unexpected reply of the tick script: %s", what)
	}
	if len(res) != 6 {
		return Tick{}, time.Time{}, snapshot{}, bad(fmt.Sprintf("%d values, want 6", len(res)))
	}
	won, ok1 := res[0].(int64)
	holder, ok2 := res[1].(string)
	secs, ok3 := res[2].(string)
	usecs, ok4 := res[3].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return Tick{}, time.Time{}, snapshot{}, bad(fmt.Sprintf("%T %T %T %T", res[0], res[1], res[2], res[3]))
	}
	sec, err1 := strconv.ParseInt(secs, 10, 64)
	usec, err2 := strconv.ParseInt(usecs, 10, 64)
	if err1 != nil || err2 != nil {
		return Tick{}, time.Time{}, snapshot{}, bad("TIME is not a number")
	}
	lv, lok := res[4].(string)
	rv, rok := res[5].(string)
	sn, err := r.decodeSnapshot("tick", lv, lok, rv, rok, "", false) // the tick needs the last reading only
	if err != nil {
		return Tick{}, time.Time{}, snapshot{}, err
	}
	return Tick{Won: won == 1, Holder: holder}, time.Unix(sec, usec*1000), sn, nil
}
