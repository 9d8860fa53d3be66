package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// UnmarshalJSON reads a reading, refusing unknown fields and one without
// its time or its balance: a reading without them would give the burn rate
// a made-up span or spend. The encoding always writes both. b is one JSON
// value, as encoding/json passes it (callers of their own check it first,
// as unmarshalStrict does).
func (r *Reading) UnmarshalJSON(b []byte) error {
	var w wireReading
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	rd, err := w.reading()
	if err != nil {
		return err
	}
	*r = rd
	return nil
}

// wireReading is the encoding of a Reading, with the fields it must hold
// as pointers: a list of them decodes in the same pass as the value that
// holds it, without a decoder per reading as Reading.UnmarshalJSON needs.
type wireReading struct {
	At         *time.Time       `json:"at"`
	Balance    *decimal.Decimal `json:"balance"`
	AutoReload bool             `json:"auto_reload"`
	Replica    string           `json:"replica,omitempty"`
}

// wire is the encoding of r.
func (r Reading) wire() wireReading {
	return wireReading{At: &r.At, Balance: &r.Balance, AutoReload: r.AutoReload, Replica: r.Replica}
}

// reading is the Reading w encodes.
func (w wireReading) reading() (Reading, error) {
	if w.At == nil || w.Balance == nil {
		return Reading{}, errors.New("a reading needs its at and its balance")
	}
	return Reading{At: *w.At, Balance: *w.Balance, AutoReload: w.AutoReload, Replica: w.Replica}, nil
}

// validateReadings reports what AddReading could not have left in rs: more
// than policy.MaxReadings readings, or two not in strictly increasing time.
// Its errors start with the JSON path, such as readings[3].at.
func validateReadings(rs []Reading) error {
	if len(rs) > policy.MaxReadings {
		return fmt.Errorf("readings: %d, at most %d", len(rs), policy.MaxReadings)
	}
	for i := 1; i < len(rs); i++ {
		if !rs[i].At.After(rs[i-1].At) {
			return fmt.Errorf("readings[%d].at: %s is not after readings[%d].at %s: readings are kept oldest first",
				i, rs[i].At.Format(time.RFC3339Nano), i-1, rs[i-1].At.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// sameReading reports whether a and b hold the same values: times as
// instants, balances by value.
func sameReading(a, b Reading) bool {
	return a.At.Equal(b.At) && a.Balance.Equal(b.Balance) && a.AutoReload == b.AutoReload && a.Replica == b.Replica
}

// sameReadings reports whether a and b hold the same readings.
func sameReadings(a, b []Reading) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameReading(a[i], b[i]) {
			return false
		}
	}
	return true
}

// addedReadings returns the readings that next holds after the newest of
// cur, when AddReading of each of them in turn takes cur to next: a change
// that only added readings after the last one, which a ledger can store as
// an append. ok is false for any other change (readings dropped or moved, a
// reading not after the last), which must be written whole.
func addedReadings(cur, next []Reading) (added []Reading, ok bool) {
	added = next
	if len(cur) > 0 {
		last := cur[len(cur)-1].At
		i := len(next)
		for i > 0 && next[i-1].At.After(last) {
			i--
		}
		added = next[i:]
	}
	if len(added) == 0 {
		return nil, false
	}
	s := State{Readings: append([]Reading(nil), cur...)}
	for _, r := range added {
		s.AddReading(r)
	}
	return added, sameReadings(s.Readings, next)
}
