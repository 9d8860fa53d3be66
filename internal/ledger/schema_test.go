package ledger

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The fixtures of version 1 were written by the release before the
// readings (commit 214d3cf, SchemaVersion 1): testdata/state-v1.json by
// File.Update, testdata/redis-ledger-v1.json by encode as the Redis ledger
// writes its value. They are never rewritten: a test copies them.

// v1State is what the version-1 fixtures hold, field by field, as a
// version-2 state: every outcome, a confirmed top-up with its balance after
// and lowest balance, a hold, an expired one, a refill, a clock mark.
func v1State() State {
	d := decimal.RequireFromString
	tm := func(h, m, s, ns int) time.Time { return time.Date(2026, 11, 30, h, m, s, ns, time.UTC) }
	return State{Version: SchemaVersion, Refilling: true,
		TopUps: []Record{
			{ID: "3f9c2a1b7d4e5f60", At: tm(8, 0, 0, 123456789), BalanceBefore: d("18.42"), Outcome: Succeeded, Attempts: 1,
				FinishedAt: tm(8, 0, 0, 912345678), ConfirmedAt: tm(8, 4, 0, 0), BalanceAfter: decimal.NewNullDecimal(d("67.9")),
				Lowest: decimal.NewNullDecimal(d("17.98"))},
			{ID: "a1b2c3d4e5f60718", At: tm(8, 30, 0, 0), BalanceBefore: d("21.5"), Outcome: Rejected, Attempts: 1,
				Error: "top up: 401 not auto-reload enabled", FinishedAt: tm(8, 30, 0, 700000000)},
			{ID: "0badc0ffee123456", At: tm(8, 50, 0, 0), BalanceBefore: d("19.75"), Outcome: NotSent, Attempts: 2,
				Error: "top up: 429 too many requests", FinishedAt: tm(8, 50, 2, 0), HoldUntil: tm(8, 52, 2, 0)},
			{ID: "feedfacecafe0001", At: tm(9, 10, 0, 0), BalanceBefore: d("15.10"), Outcome: Unknown, Attempts: 1,
				Error: "top up: 503 service unavailable", FinishedAt: tm(9, 10, 10, 0), Expired: true,
				Lowest: decimal.NewNullDecimal(d("12.345"))},
			{ID: "77aa88bb99cc00dd", At: tm(9, 30, 0, 0), BalanceBefore: d("9.875"), Outcome: Pending},
		},
		Clock: &ClockMark{BootID: "6f1e3c2a-9b8d-4e7f-a1c2-3d4e5f607182", Monotonic: 987654321012345, Wall: tm(9, 30, 0, 0)},
	}
}

// checkV1State fails the test unless got holds every field of v1State.
func checkV1State(t *testing.T, got State) {
	t.Helper()
	want := v1State()
	if !equalStates(got, want) || !reflect.DeepEqual(got.Clock, want.Clock) || len(got.Readings) != 0 {
		t.Fatalf("state\n got %+v\nwant %+v", got, want)
	}
	for i, r := range got.TopUps {
		w := want.TopUps[i]
		if !r.HoldUntil.Equal(w.HoldUntil) || r.Lowest.Valid != w.Lowest.Valid || !r.Lowest.Decimal.Equal(w.Lowest.Decimal) {
			t.Errorf("topups[%d]: hold_until %v lowest %v, want %v %v", i, r.HoldUntil, r.Lowest, w.HoldUntil, w.Lowest)
		}
	}
	if got.TopUps[0].LowestBalance().String() != "17.98" || !got.TopUps[0].Confirmed() {
		t.Errorf("the confirmed top-up reads %+v", got.TopUps[0])
	}
}

// copyFixture copies the fixture name into a fresh folder as state.json.
func copyFixture(t *testing.T, name string) (path string, data []byte) {
	t.Helper()
	data = mustRead(t, filepath.Join("testdata", name))
	if !strings.Contains(string(data), `"version": 1,`) {
		t.Fatalf("%s is not of version 1", name)
	}
	path = statePath(t)
	mustWrite(t, path, string(data))
	return path, data
}

func TestAVersion1StateFileLoads(t *testing.T) {
	path, data := copyFixture(t, "state-v1.json")
	s, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	checkV1State(t, s)
	f := mustOpen(t, path)
	checkV1State(t, mustView(t, f))
	if err := f.Problem(); err != nil {
		t.Errorf("Problem() = %v", err)
	}
}

func TestAVersion1StateFileIsWrittenAsVersion2(t *testing.T) {
	path, _ := copyFixture(t, "state-v1.json")
	f := mustOpen(t, path)
	// Open writes the file back: the next write of a running watchdog.
	if got := string(mustRead(t, path)); !strings.Contains(got, `"version": 2,`) {
		t.Fatalf("after Open the file reads\n%s\nwant version 2", got)
	}
	r := reading(0, "9.5")
	mustUpdate(t, f, func(s *State) error { s.TopUps[4].Outcome = Succeeded; s.AddReading(r); return nil })
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Decode(mustRead(t, path))
	if err != nil || s.Version != SchemaVersion {
		t.Fatalf("the file rewritten: %+v, %v", s.Version, err)
	}
	wantReadings(t, "the state file", s.Readings, r)
	g := mustOpen(t, path)
	got := mustView(t, g)
	want := v1State()
	want.TopUps[4].Outcome = Succeeded
	want.Readings = []Reading{r}
	if !equalStates(got, want) || !reflect.DeepEqual(got.Clock, want.Clock) {
		t.Errorf("after a reopen\n got %+v\nwant %+v", got, want)
	}
	if got := string(mustRead(t, filepath.Join("testdata", "state-v1.json"))); !strings.Contains(got, `"version": 1,`) {
		t.Error("the fixture itself was rewritten")
	}
}

func TestANewerStateFileIsStillRefused(t *testing.T) {
	path, data := copyFixture(t, "state-v1.json")
	newer := strings.Replace(string(data), `"version": 1,`, `"version": 3, "forecast": {"horizon": "1h"},`, 1)
	mustWrite(t, path, newer)
	_, err := Open(path)
	want := "ledger " + path + ": written by a newer topup-watchdog: version 3, this one reads version 2: upgrade topup-watchdog"
	if err == nil || err.Error() != want || !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("Open = %v\nwant %s", err, want)
	}
	if got := string(mustRead(t, path)); got != newer {
		t.Error("Open changed the newer file")
	}
}

func TestDecodeRefusesBadReadings(t *testing.T) {
	rd := func(at, bal string) string { return `{"at":"` + at + `","balance":` + bal + `,"auto_reload":true}` }
	many := make([]string, 17)
	for i := range many {
		many[i] = rd(at(time.Duration(i)*time.Minute).Format(time.RFC3339Nano), `"1"`)
	}
	tests := []struct{ name, readings, want string }{
		{"not in order", rd("2026-11-30T09:01:00Z", `"2"`) + "," + rd("2026-11-30T09:00:00Z", `"1"`),
			"corrupt: readings[1].at: 2026-11-30T09:00:00Z is not after readings[0].at 2026-11-30T09:01:00Z: readings are kept oldest first"},
		{"two at one time", rd("2026-11-30T09:00:00Z", `"2"`) + "," + rd("2026-11-30T10:00:00+01:00", `"1"`),
			"corrupt: readings[1].at: 2026-11-30T10:00:00+01:00 is not after readings[0].at 2026-11-30T09:00:00Z"},
		{"too many", strings.Join(many, ","), "corrupt: readings: 17, at most 16"},
		{"a balance that is not a decimal", rd("2026-11-30T09:00:00Z", `"twelve"`), "corrupt: readings[0]: error decoding string '\"twelve\"': can't convert twelve to decimal"},
		{"a balance that is not a string or a number", rd("2026-11-30T09:00:00Z", `true`), "corrupt: readings[0]: error decoding string 'true'"},
		{"no balance", rd("2026-11-30T09:00:00Z", `"1"`) + `,{"at":"2026-11-30T09:01:00Z"}`, "corrupt: readings[1]: a reading needs its at and its balance"},
		{"a null balance", rd("2026-11-30T09:00:00Z", `null`), "corrupt: readings[0]: a reading needs its at and its balance"},
		{"no time", `{"balance":"1"}`, "corrupt: readings[0]: a reading needs its at and its balance"},
		{"a null reading", `null`, "corrupt: readings[0]: a reading needs its at and its balance"},
		{"a field of its own", `{"at":"2026-11-30T09:00:00Z","balance":"1","trx":"x"}`, `corrupt: readings[0]: json: unknown field "trx"`},
		{"a bad time", rd("yesterday", `"1"`), `corrupt: readings[0]: parsing time "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(`{"version":2,"topups":[],"readings":[` + tt.readings + `]}`))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode = %v\nwant it to start with %s", err, tt.want)
			}
		})
	}
	s, err := Decode([]byte(`{"version":2,"topups":[],"readings":[` + strings.Join(many[1:], ",") + `]}`))
	if err != nil || len(s.Readings) != 16 || !s.Readings[0].AutoReload || !s.Readings[0].Balance.Equal(decimal.NewFromInt(1)) {
		t.Errorf("16 readings in order: Decode = %+v, %v", s.Readings, err)
	}
}

// The fixtures are pinned: one written again by a later release would no
// longer test what that release reads.
func TestTheFixturesAreWhatTheReleaseWrote(t *testing.T) {
	for name, sum := range map[string]string{
		"state-v1.json":        "9e8ab960a41592f7f7d946eca341a6314dccebe91b8aa8e7bccc0ff939f3bc00",
		"redis-ledger-v1.json": "1a007b5153dee0d70b1dea11d141319d01d539fdf55e4b9a4445fef32a40ec60",
	} {
		if got := stateSum(mustRead(t, filepath.Join("testdata", name))); got != sum {
			t.Errorf("%s has SHA-256 %s, want %s: the fixture of version 1 was changed", name, got, sum)
		}
	}
}
