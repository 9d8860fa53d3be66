package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// storedReadings decodes the reading and readings keys as Redis holds
// them: the last reading, and the readings.
func storedReadings(t *testing.T, srv *redistest.Server, r *Redis) (*Reading, []Reading) {
	t.Helper()
	var last *Reading
	if v, err := srv.Client().Get(context.Background(), r.keys.reading).Result(); err == nil {
		rd, rs, err := decodeReadingValue(v)
		if err != nil || len(rs) != 0 {
			t.Fatalf("%s = %q: %v, %d readings; want the last reading alone", r.keys.reading, v, err, len(rs))
		}
		last = rd
	}
	v, err := srv.Client().Get(context.Background(), r.keys.readings).Result()
	if err != nil {
		return last, nil
	}
	_, rs, err := decodeReadingValue(v)
	if err != nil {
		t.Fatalf("decode %s = %q: %v", r.keys.readings, v, err)
	}
	return last, rs
}

// fleetReading is a reading taken ago before now on r's fleet clock.
func fleetReading(r *Redis, ago time.Duration, balance string) Reading {
	return Reading{At: r.Now().UTC().Add(-ago), Balance: decimal.RequireFromString(balance), AutoReload: true, Replica: r.Replica()}
}

// A check sets the last reading and adds it to the readings, as the
// watchdog does.
func check(rd Reading) func(*State) error {
	return func(s *State) error {
		s.Reading = &rd
		s.AddReading(rd)
		return nil
	}
}

func TestTheReadingValueWithoutReadingsIsThatOfEarlierReleases(t *testing.T) {
	rd := Reading{At: at(0), Balance: decimal.RequireFromString("12.5"), AutoReload: false, Replica: "r1"}
	old, _ := json.Marshal(rd) // what the reading key held before the readings
	got, err := encodeReadingValue(&rd, nil)
	if err != nil || string(got) != string(old) {
		t.Errorf("encodeReadingValue = %s, %v; want %s", got, err, old)
	}
	last, rs, err := decodeReadingValue(string(old))
	if err != nil || last == nil || !sameReading(*last, rd) || rs != nil {
		t.Errorf("decodeReadingValue(%s) = %+v, %v, %v", old, last, rs, err)
	}
	for _, bad := range []string{
		`{"balance":"1"}`, `{"at":"2025-03-14T09:26:53Z","readings":[]}`, `{"readings":[{"at":"2025-03-14T09:26:53Z"}]}`,
		`{"readings":[{"at":"2025-03-14T09:26:53Z","balance":"1"},{"at":"2025-03-14T09:26:53Z","balance":"2"}]}`,
		`{"at":"2025-03-14T09:26:53Z","balance":"1","ledger":{}}`,
	} {
		if _, _, err := decodeReadingValue(bad); err == nil {
			t.Errorf("decodeReadingValue(%s) accepted", bad)
		}
	}
}

func TestRedisReadsTheReadingKeyOfAnEarlierRelease(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
	seedLedger(t, srv, r)
	old := Reading{At: r.Now().UTC().Add(-30 * time.Second).Round(time.Microsecond), Balance: decimal.RequireFromString("20"),
		AutoReload: true, Replica: "replica-z"}
	v, _ := json.Marshal(old)
	if err := srv.Client().Set(ctx, r.keys.reading, v, 0).Err(); err != nil {
		t.Fatal(err)
	}
	tk, err := r.Tick(ctx, time.Second)
	if err != nil || tk.Last == nil || !sameReading(*tk.Last, old) {
		t.Fatalf("Tick = %+v, %v; want the earlier release's reading as Last", tk, err)
	}
	if st := mustViewOf(t, r); len(st.Readings) != 0 {
		t.Errorf("readings %v, want none yet", st.Readings)
	}
	now := fleetReading(r, 0, "19.5")
	mustUpdate(t, r, check(now))
	last, rs := storedReadings(t, srv, r)
	if last == nil || !sameReading(*last, now) {
		t.Errorf("the reading key's last reading = %+v, want %+v", last, now)
	}
	wantReadings(t, "the reading key", rs, now)
}

// A replica that takes the tick over reads the readings the previous holder
// wrote, and its Tick's Last is still the last reading alone.
func TestRedisAReplicaThatTakesTheTickOverHasTheReadings(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
	b := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-b" })
	seedLedger(t, srv, a)
	var want []Reading
	for i := range 4 {
		if tk, err := a.Tick(ctx, time.Minute); err != nil || !tk.Won {
			t.Fatalf("a's Tick = %+v, %v", tk, err)
		}
		rd := fleetReading(a, time.Duration(4-i)*time.Minute, fmt.Sprintf("%d", 50-i))
		mustUpdate(t, a, check(rd))
		want = append(want, rd)
	}
	if tk, err := b.Tick(ctx, time.Minute); err != nil || tk.Won || tk.Last == nil || !sameReading(*tk.Last, want[3]) {
		t.Fatalf("b's Tick = %+v, %v; want lost, with a's last reading", tk, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Del(ctx, b.keys.tick).Err(); err != nil { // a's lease ran out
		t.Fatal(err)
	}
	if tk, err := b.Tick(ctx, time.Minute); err != nil || !tk.Won {
		t.Fatalf("b's Tick = %+v, %v; want won", tk, err)
	}
	var seen []Reading
	next := fleetReading(b, 0, "45")
	mustUpdate(t, b, func(s *State) error {
		seen = append([]Reading(nil), s.Readings...)
		return check(next)(s)
	})
	wantReadings(t, "what b's check saw", seen, want...)
	_, rs := storedReadings(t, srv, b)
	wantReadings(t, "the reading key after b's check", rs, append(want, next)...)
}

// Readings that a ledger value held (a build that kept them there) are read,
// and the next write moves them to the reading key.
func TestRedisReadingsInTheLedgerValueMoveToTheReadingKey(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r := openRedisQuiet(t, srv)
	rs := []Reading{fleetReading(r, 2*time.Minute, "3"), fleetReading(r, time.Minute, "2")}
	data, err := encode(State{Version: SchemaVersion, Readings: rs})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Set(ctx, r.keys.ledger, data, 0).Err(); err != nil {
		t.Fatal(err)
	}
	wantReadings(t, "View", mustViewOf(t, r).Readings, rs...)
	mustUpdate(t, r, func(*State) error { return nil })
	if st, _ := stored(t, srv, r); len(st.Readings) != 0 {
		t.Errorf("the ledger value still holds %d readings", len(st.Readings))
	}
	_, got := storedReadings(t, srv, r)
	wantReadings(t, "the reading key", got, rs...)
}

func TestRedisUnreadableReadingsAreIgnoredAndOverwritten(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r, logs := openRedis(t, srv)
	seedLedger(t, srv, r)
	bad := `{"readings":[{"at":"2025-03-14T09:26:53Z","balance":"2"},{"at":"2025-03-14T09:26:52Z","balance":"1"}]}`
	if err := srv.Client().Set(ctx, r.keys.reading, bad, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if tk, err := r.Tick(ctx, time.Second); err != nil || !tk.Won || tk.Last != nil {
		t.Errorf("Tick = %+v, %v; want won, no reading", tk, err)
	}
	if st := mustViewOf(t, r); len(st.Readings) != 0 {
		t.Errorf("readings %v, want none from a value out of order", st.Readings)
	}
	rd := fleetReading(r, 0, "8")
	mustUpdate(t, r, check(rd))
	_, rs := storedReadings(t, srv, r)
	wantReadings(t, "the reading key written over", rs, rd)
	if n := logs.FilterMessage(msgReadingUnreadable).Len(); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgReadingUnreadable)
	}
}

func TestRedisAnInvalidReadingIsRefusedByUpdate(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedisQuiet(t, srv)
	seedLedger(t, srv, r)
	rd := fleetReading(r, 0, "8")
	err := r.Update(context.Background(), func(s *State) error { s.Readings = []Reading{rd, rd}; return nil })
	if err == nil || !strings.Contains(err.Error(), "invalid state: readings[1].at") {
		t.Errorf("Update = %v, want the readings refused", err)
	}
}

func TestRedisAClockStepMovesTheReadings(t *testing.T) {
	srv, setStep := steppedRedis(t)
	r := openRedisQuiet(t, srv)
	seedLedger(t, srv, r)
	mustUpdate(t, r, appendRecord(fleetRecord(r, "claim")))
	rd := fleetReading(r, time.Minute, "5")
	mustUpdate(t, r, check(rd))
	setStep(-time.Hour)
	mustUpdate(t, r, func(*State) error { return nil })
	_, rs := storedReadings(t, srv, r)
	if len(rs) != 1 || (rs[0].At.Sub(rd.At)+time.Hour).Abs() > time.Second {
		t.Errorf("readings %v after a step of -1h, want %v moved by -1h", rs, rd.At)
	}
	if age := r.Now().Sub(rs[0].At); (age - time.Minute).Abs() > 2*time.Second {
		t.Errorf("the reading is %v old on the fleet's clock after the step, want a minute", age)
	}
}

func TestRedisReadingsStartAgainAfterALostLedger(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedisQuiet(t, srv)
	seedLedger(t, srv, r)
	mustUpdate(t, r, check(fleetReading(r, time.Minute, "5")))
	srv.FlushAll()
	rd := fleetReading(r, 0, "4")
	mustUpdate(t, r, check(rd))
	_, rs := storedReadings(t, srv, r)
	wantReadings(t, "after a flush", rs, rd)
}

func TestRedisReadsAVersion1Ledger(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r := openRedisQuiet(t, srv)
	data := mustRead(t, filepath.Join("testdata", "redis-ledger-v1.json"))
	if err := srv.Client().Set(ctx, r.keys.ledger, data, 0).Err(); err != nil {
		t.Fatal(err)
	}
	st := mustViewOf(t, r)
	want := v1State()
	want.Clock = nil
	if !equalStates(st, want) || st.ClockStep == nil || *st.ClockStep != (ClockStep{Lineage: "9a8b7c6d5e4f3a2b", Offset: -3 * time.Second}) {
		t.Fatalf("View = %+v\nwant %+v with its clock step", st, want)
	}
	mustUpdate(t, r, check(fleetReading(r, 0, "9")))
	if v := srv.Client().Get(ctx, r.keys.ledger).Val(); v != string(data) {
		t.Error("a check that changed no record rewrote the ledger value")
	}
	mustUpdate(t, r, func(s *State) error { s.Refilling = false; return nil })
	if got, _ := stored(t, srv, r); got.Version != SchemaVersion || got.Refilling || len(got.TopUps) != 5 {
		t.Errorf("after a change the ledger value holds %+v", got)
	}
	if v := srv.Client().Get(ctx, r.keys.ledger).Val(); !strings.Contains(v, `"version": 1,`) {
		t.Errorf("the ledger value was not written in version 1's layout, which holds no readings:\n%s", v)
	}
}

func TestRedisRefusesANewerLedger(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r := openRedisQuiet(t, srv)
	if err := srv.Client().Set(ctx, r.keys.ledger, `{"version":3,"topups":[],"forecast":{}}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := r.View(ctx)
	want := "redis ledger: view: ledger " + r.keys.ledger + ": written by a newer topup-watchdog: version 3, this one reads version 2: upgrade topup-watchdog"
	if err == nil || err.Error() != want || !errors.Is(err, ErrNewerVersion) {
		t.Errorf("View = %v\nwant %s", err, want)
	}
	if err := r.Update(ctx, func(*State) error { return nil }); !errors.Is(err, ErrNewerVersion) {
		t.Errorf("Update = %v, want it refused", err)
	}
}

// The ledger value holds no readings, so it keeps version 1's layout, which
// the release before this one reads: during a rollout the replicas of both
// releases claim through the same ledger, a record and its readings
// written by the new one included.
func TestRedisTheLedgerValueStaysReadableByThePreviousRelease(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r := openRedisQuiet(t, srv)
	mustUpdate(t, r, check(fleetReading(r, time.Minute, "20")))
	mustUpdate(t, r, func(s *State) error {
		s.TopUps = append(s.TopUps, Record{ID: "a", At: r.Now().UTC(), BalanceBefore: decimal.RequireFromString("5"), Outcome: Pending})
		s.AddReading(fleetReading(r, 0, "5"))
		return nil
	})
	raw, err := srv.Client().Get(ctx, r.keys.ledger).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version  int             `json:"version"`
		Readings json.RawMessage `json:"readings"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Version != 1 || v.Readings != nil {
		t.Fatalf("the ledger value is version %d with readings %s (%v), want version 1 and none:\n%s", v.Version, v.Readings, err, raw)
	}
	fixture, err := os.ReadFile(filepath.Join("testdata", "redis-ledger-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var old, now map[string]any
	if err := json.Unmarshal(fixture, &old); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(raw, &now)
	for k := range now {
		if _, ok := old[k]; !ok && k != "clock" && k != "clock_step" {
			t.Errorf("the ledger value has the field %q, which the previous release's value (%s) has not", k, "testdata/redis-ledger-v1.json")
		}
	}
}
