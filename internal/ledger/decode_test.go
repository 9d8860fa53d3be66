package ledger

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestDecodeRefusesBadLedgers(t *testing.T) {
	const rec = `{"id":"a","at":"2025-03-14T09:26:53Z","balance_before":"1","outcome":"pending"}`
	tests := []struct {
		name, data, want string
		newer            bool
	}{
		{"empty", "", "corrupt: empty file", false},
		{"only whitespace", " \n\t", "corrupt: empty file", false},
		{"truncated", `{"version":1,"topups":[` + rec, "corrupt: unexpected end of JSON input", false},
		{"garbage", "\x00\x01not json", "corrupt: invalid character '\\x00' looking for beginning of value", false},
		{"data after the state", `{"version":1}{"version":1}`, "corrupt: invalid character '{' after top-level value", false},
		{"not an object", `[1]`, "corrupt: json: cannot unmarshal array into Go value of type ledger.State", false},
		{"null", `null`, "corrupt: version: 0, want 1 to 2", false},
		{"unknown field", `{"version":1,"secret":"x"}`, `corrupt: json: unknown field "secret"`, false},
		{"no version", `{"topups":[]}`, "corrupt: version: 0, want 1 to 2", false},
		{"older version", `{"version":-1}`, "corrupt: version: -1, want 1 to 2", false},
		{"newer version", `{"version":3}`, "written by a newer topup-watchdog: version 3, this one reads version 2: upgrade topup-watchdog", true},
		{"newer version with fields of its own", `{"version":3,"readings":"a later layout","budget":1}`, "written by a newer topup-watchdog: version 3, this one reads version 2: upgrade topup-watchdog", true},
		{"newer version after garbage", `{"version":3}x`, "corrupt: invalid character 'x' after top-level value", false},
		{"empty id", `{"version":1,"topups":[` + strings.Replace(rec, `"a"`, `""`, 1) + `]}`, "corrupt: topups[0].id: empty", false},
		{"duplicate ids", `{"version":1,"topups":[` + rec + `,` + rec + `]}`, `corrupt: topups[1].id: "a" already used by topups[0]`, false},
		{"unknown outcome", `{"version":1,"topups":[` + strings.Replace(rec, "pending", "sent", 1) + `]}`, `corrupt: topups[0].outcome: unknown "sent"`, false},
		{"no outcome", `{"version":1,"topups":[{"id":"a","at":"2025-03-14T09:26:53Z"}]}`, `corrupt: topups[0].outcome: unknown ""`, false},
		{"no time", `{"version":1,"topups":[{"id":"a","outcome":"unknown"}]}`, "corrupt: topups[0].at: missing", false},
		{"zero time", `{"version":1,"topups":[{"id":"a","at":"0001-01-01T00:00:00Z","outcome":"unknown"}]}`, "corrupt: topups[0].at: missing", false},
		{"bad time", `{"version":1,"topups":[{"id":"a","at":"yesterday","outcome":"unknown"}]}`, `corrupt: parsing time "yesterday"`, false},
		{"bad amount", `{"version":1,"topups":[{"id":"a","at":"2025-03-14T09:26:53Z","balance_before":"ten","outcome":"unknown"}]}`, "corrupt: error decoding string '\"ten\"'", false},
		{"null record", `{"version":1,"topups":[null]}`, "corrupt: topups[0].id: empty", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.data))
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to start with %q", err, tt.want)
			}
			if got := errors.Is(err, ErrNewerVersion); got != tt.newer {
				t.Errorf("errors.Is(err, ErrNewerVersion) = %v, want %v", got, tt.newer)
			}
			if got := errors.Is(err, ErrCorrupt); got == tt.newer {
				t.Errorf("errors.Is(err, ErrCorrupt) = %v, want %v", got, !tt.newer)
			}
		})
	}
}

func TestDecodeKeepsValuesExact(t *testing.T) {
	data := `{
	  "version": 1, "refilling": true,
	  "topups": [{
	    "id": "x1", "at": "2025-03-14T09:26:53.589793238Z", "balance_before": "10.17127500",
	    "outcome": "succeeded", "attempts": 2, "error": "", "finished_at": "2025-03-14T10:26:53+01:00",
	    "confirmed_at": "2025-03-14T09:27:00Z", "balance_after": 20.5, "expired": false
	  }]
	}`
	s, err := Decode([]byte(data))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	r := s.TopUps[0]
	if !r.BalanceBefore.Equal(decimal.RequireFromString("10.171275")) || r.BalanceBefore.String() != "10.171275" {
		t.Errorf("balance_before = %s, want 10.171275", r.BalanceBefore)
	}
	if !r.BalanceAfter.Valid || r.BalanceAfter.Decimal.String() != "20.5" {
		t.Errorf("balance_after = %+v, want 20.5", r.BalanceAfter)
	}
	if !r.At.Equal(at(0)) || r.At.Location() != time.UTC {
		t.Errorf("at = %v, want %v in UTC", r.At, at(0))
	}
	if want := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC); !r.FinishedAt.Equal(want) {
		t.Errorf("finished_at = %v, want %v", r.FinishedAt, want)
	}
	if !s.Refilling || s.Version != SchemaVersion || r.Attempts != 2 || r.Outcome != Succeeded {
		t.Errorf("state = %+v", s)
	}
}

func TestEncodeWritesIndentedJSONWithNewline(t *testing.T) {
	data, err := encode(State{Version: SchemaVersion})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	want := "{\n  \"version\": 2,\n  \"refilling\": false,\n  \"topups\": []\n}\n"
	if string(data) != want {
		t.Errorf("encode = %q, want %q", data, want)
	}
}

func TestValidateAcceptsEveryOutcome(t *testing.T) {
	s := State{Version: SchemaVersion}
	for i, o := range []Outcome{Pending, Succeeded, Rejected, NotSent, Unknown} {
		r := record(string(o), time.Duration(i)*time.Minute)
		r.Outcome = o
		s.TopUps = append(s.TopUps, r)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
