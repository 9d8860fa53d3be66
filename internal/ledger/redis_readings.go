package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// The fleet's readings live under the reading key, beside the last reading
// (State.Reading), not in the ledger's value: the replica that holds the
// tick adds one at every check, and a check that changes no record then
// writes the reading key alone (a few hundred bytes) rather than the whole
// ledger. Both keys are written in one MULTI, so a replica that takes over
// the tick reads the readings with the ledger. They are not money: a
// reading key that Redis lost, or that holds what cannot be read, only
// starts the burn rate again.

// readingValue is the value of the reading key: the fields of the last
// reading, as releases before the readings wrote them (and still read
// them), and the readings. A value of an earlier release has no readings.
type readingValue struct {
	At         *time.Time       `json:"at,omitempty"`
	Balance    *decimal.Decimal `json:"balance,omitempty"`
	AutoReload *bool            `json:"auto_reload,omitempty"`
	Replica    string           `json:"replica,omitempty"`
	// Readings are wireReading: a tick decodes them at every replica.
	Readings []wireReading `json:"readings,omitempty"`
}

// encodeReadingValue is the value of the reading key for the last reading
// rd and the readings rs; nil for neither. With no readings it is the value
// an earlier release wrote.
func encodeReadingValue(rd *Reading, rs []Reading) ([]byte, error) {
	if rd == nil && len(rs) == 0 {
		return nil, nil
	}
	var v readingValue
	if rd != nil {
		at, bal, auto := rd.At, rd.Balance, rd.AutoReload
		v.At, v.Balance, v.AutoReload, v.Replica = &at, &bal, &auto, rd.Replica
	}
	for _, r := range rs {
		v.Readings = append(v.Readings, r.wire())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode reading: %w", err)
	}
	return b, nil
}

// decodeReadingValue reads the value of the reading key: the last reading
// (nil when it holds none) and the readings, which must be as AddReading
// leaves them.
func decodeReadingValue(raw string) (*Reading, []Reading, error) {
	var v readingValue
	if err := unmarshalStrict([]byte(raw), &v); err != nil {
		return nil, nil, err
	}
	var rs []Reading
	for i, w := range v.Readings {
		r, err := w.reading()
		if err != nil {
			return nil, nil, fmt.Errorf("readings[%d]: %w", i, err)
		}
		rs = append(rs, r)
	}
	if err := validateReadings(rs); err != nil {
		return nil, nil, err
	}
	if v.At == nil && v.Balance == nil && v.AutoReload == nil && v.Replica == "" {
		return nil, rs, nil
	}
	if v.At == nil || v.Balance == nil {
		return nil, nil, errors.New("the last reading needs its at and its balance")
	}
	rd := &Reading{At: *v.At, Balance: *v.Balance, Replica: v.Replica}
	if v.AutoReload != nil {
		rd.AutoReload = *v.AutoReload
	}
	return rd, rs, nil
}
