package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrCorrupt marks a ledger that cannot be read back: it is not the JSON of
// a State, or the State it holds breaks a rule of Validate.
var ErrCorrupt = errors.New("corrupt")

// ErrNewerVersion marks a ledger written with a SchemaVersion above this
// package's.
var ErrNewerVersion = errors.New("written by a newer topup-watchdog")

// Decode parses and validates the bytes of a ledger. It refuses a version
// above SchemaVersion (whatever else the newer layout holds), unknown
// fields, data after the state, an empty input, a version below
// oldestSchemaVersion and any State that Validate refuses. A state of an
// earlier version is returned as of SchemaVersion, so that the next write
// upgrades it. Its errors wrap ErrCorrupt or ErrNewerVersion.
func Decode(data []byte) (State, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return State{}, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	var s State
	if err := unmarshalStrict(data, &s); err != nil {
		// A newer layout may hold fields this one does not know, or knows
		// otherwise: its error says newer, not corrupt.
		var peek struct {
			Version int `json:"version"`
		}
		if json.Unmarshal(data, &peek) == nil && peek.Version > SchemaVersion {
			return State{}, newerError(peek.Version)
		}
		return State{}, fmt.Errorf("%w: %w", ErrCorrupt, whichReading(data, err))
	}
	switch {
	case s.Version > SchemaVersion:
		return State{}, newerError(s.Version)
	case s.Version < oldestSchemaVersion:
		return State{}, fmt.Errorf("%w: version: %d, want %d to %d", ErrCorrupt, s.Version, oldestSchemaVersion, SchemaVersion)
	}
	s.Version = SchemaVersion // an earlier layout reads as this one; the next write says so
	if s.ClockStep != nil && s.ClockStep.legacy {
		s.ClockStep = nil // a step mark of an earlier version: no lineage, no offset
	}
	if err := s.Validate(); err != nil {
		return State{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return s, nil
}

// newerError is the error of a ledger of version v, above SchemaVersion.
func newerError(v int) error {
	return fmt.Errorf("%w: version %d, this one reads version %d: upgrade topup-watchdog", ErrNewerVersion, v, SchemaVersion)
}

// whichReading returns err, the error of decoding the state in data, with
// the path of the reading it is about (readings[3]: ...) when it is the
// error of a reading: encoding/json does not name the element of a list
// whose UnmarshalJSON failed.
func whichReading(data []byte, err error) error {
	var v struct {
		Readings []json.RawMessage `json:"readings"`
	}
	if json.Unmarshal(data, &v) != nil {
		return err
	}
	for i, raw := range v.Readings {
		var r Reading
		if rerr := unmarshalStrict(raw, &r); rerr != nil && rerr.Error() == err.Error() {
			return fmt.Errorf("readings[%d]: %w", i, err)
		}
	}
	return err
}

// unmarshalStrict decodes one JSON value into v, refusing unknown fields.
// The first pass checks the syntax of the whole input, so that a truncated or
// trailing-garbage file gets json.Unmarshal's wording.
func unmarshalStrict(data []byte, v any) error {
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Validate reports the first thing wrong with s: a version other than
// SchemaVersion, a clock mark without its fields or a clock step mark without its lineage, a
// record with an empty id, an id an earlier record uses, an unknown outcome
// or no time, or readings that AddReading could not have left (more than
// policy.MaxReadings, or not in strictly increasing time). Paths in the
// message are those of the JSON file, such as topups[2].id.
func (s State) Validate() error {
	if s.Version != SchemaVersion {
		return fmt.Errorf("version: %d, want %d", s.Version, SchemaVersion)
	}
	if m := s.Clock; m != nil && (m.BootID == "" || m.Wall.IsZero()) {
		return errors.New("clock: boot_id and wall are required")
	}
	if m := s.ClockStep; m != nil && m.Lineage == "" {
		return errors.New("clock_step: lineage is required")
	}
	seen := make(map[string]int, len(s.TopUps))
	for i, r := range s.TopUps {
		if err := r.validate(); err != nil {
			return fmt.Errorf("topups[%d].%w", i, err)
		}
		if j, dup := seen[r.ID]; dup {
			return fmt.Errorf("topups[%d].id: %q already used by topups[%d]", i, r.ID, j)
		}
		seen[r.ID] = i
	}
	return validateReadings(s.Readings)
}

// validate checks the fields of one record; its errors start with the JSON
// field name.
func (r Record) validate() error {
	switch {
	case r.ID == "":
		return errors.New("id: empty")
	case !r.Outcome.Valid():
		return fmt.Errorf("outcome: unknown %q", r.Outcome)
	case r.At.IsZero():
		return errors.New("at: missing")
	case !r.HoldUntil.IsZero() && r.Outcome != NotSent:
		return fmt.Errorf("hold_until: set on a top-up whose outcome is %s, not %s", r.Outcome, NotSent)
	case !r.HoldUntil.IsZero() && r.HoldUntil.Sub(r.FinishedAt) > MaxHold:
		return fmt.Errorf("hold_until: more than %s after finished_at", MaxHold)
	}
	return nil
}

// encode returns the bytes the file holds for s: indented JSON and a
// trailing newline. An empty list is written as [] rather than null.
func encode(s State) ([]byte, error) {
	if s.TopUps == nil {
		s.TopUps = []Record{}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return append(b, '\n'), nil
}
