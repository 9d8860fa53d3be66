// Package ledger is the durable record of top-up intents and their outcomes.
//
// The watchdog writes an intent before it sends a top-up request and the
// outcome after, so that a restarted or crashed watchdog knows what its
// previous run may have sent. File is the implementation for one watchdog; the
// watchdog only needs View and Update, so a shared store can take its place.
package ledger

import (
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// SchemaVersion is the version of the State layout this package writes.
// Version 2 added the burn rate's readings (State.Readings). Decode reads
// every version from oldestSchemaVersion up, and refuses a newer one: an
// older release refuses a file this one wrote, rather than dropping what it
// does not know.
const SchemaVersion = 2

// oldestSchemaVersion is the oldest layout Decode reads. A version-1 state
// reads as a version-2 one: the releases that wrote version 1 kept no
// readings, and its other fields are those of version 2.
const oldestSchemaVersion = 1

// Outcome is how a top-up request ended.
type Outcome string

// The outcomes of a Record. Pending is an intent whose outcome is not written
// yet: its request may be in flight, or the process died while it was.
const (
	Pending   Outcome = "pending"
	Succeeded Outcome = "succeeded"
	Rejected  Outcome = "rejected"
	NotSent   Outcome = "not_sent"
	Unknown   Outcome = "unknown"
)

// Valid reports whether o is one of the outcomes above.
func (o Outcome) Valid() bool {
	switch o {
	case Pending, Succeeded, Rejected, NotSent, Unknown:
		return true
	}
	return false
}

// Record is one top-up: its intent, then its outcome, then its confirmation.
type Record struct {
	ID            string          `json:"id"`
	At            time.Time       `json:"at"`
	BalanceBefore decimal.Decimal `json:"balance_before"`
	Outcome       Outcome         `json:"outcome"`
	Attempts      int             `json:"attempts,omitempty"`
	// Error is the redacted error of the last attempt, unless it succeeded.
	Error      string    `json:"error,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// ConfirmedAt is when a balance above BalanceBefore was first read.
	ConfirmedAt  time.Time           `json:"confirmed_at,omitzero"`
	BalanceAfter decimal.NullDecimal `json:"balance_after,omitzero"`
	// Expired is set once the watchdog has seen the window end with the
	// top-up still unconfirmed.
	Expired bool `json:"expired,omitempty"`
	// Lowest is the lowest balance read while the top-up waited for its
	// credit, BalanceBefore included; a credit is a rise from it.
	Lowest decimal.NullDecimal `json:"lowest_balance,omitzero"`
	// HoldUntil is set on a top-up that Vonage answered 429 with a
	// Retry-After: no top-up is sent before it.
	HoldUntil time.Time `json:"hold_until,omitzero"`
}

// MaxHold is the longest Retry-After a record keeps: a longer one holds
// top-ups this long.
const MaxHold = 24 * time.Hour

// LowestBalance is the lowest balance read since the intent.
func (r Record) LowestBalance() decimal.Decimal {
	if r.Lowest.Valid && r.Lowest.Decimal.LessThan(r.BalanceBefore) {
		return r.Lowest.Decimal
	}
	return r.BalanceBefore
}

// Confirmed reports whether the top-up's credit has shown up.
func (r Record) Confirmed() bool { return !r.ConfirmedAt.IsZero() }

// MayHaveReached reports whether the request may have been applied by Vonage.
func (r Record) MayHaveReached() bool {
	return r.Outcome == Pending || r.Outcome == Succeeded || r.Outcome == Unknown
}

// PolicyTopUp is the record as the policy sees it.
func (r Record) PolicyTopUp() policy.TopUp {
	t := policy.TopUp{At: r.At, Ended: r.FinishedAt, HoldUntil: r.HoldUntil, Attempts: r.Attempts, ConfirmedAt: r.ConfirmedAt}
	switch {
	case r.Outcome == Rejected:
		if !r.FinishedAt.IsZero() {
			t.At = r.FinishedAt
		}
		t.Status = policy.Rejected
	case r.Outcome == NotSent:
		t.Status = policy.NotSent
	case r.Confirmed():
		t.Status = policy.Confirmed
	default:
		t.Status = policy.Pending
	}
	return t
}

// State is everything the ledger holds.
type State struct {
	Version int `json:"version"`
	// Refilling is whether a refill toward the target is under way.
	Refilling bool     `json:"refilling"`
	TopUps    []Record `json:"topups"`
	// Clock ties the records' wall-clock times to the machine's monotonic
	// clock, so that a later process on the same boot can tell a step of
	// the wall clock made while no watchdog was watching. Nil until written.
	Clock *ClockMark `json:"clock,omitempty"`
	// ClockStep is the sum of the steps of a fleet's clock (Redis's TIME)
	// applied to the records (Shift) since this ledger was created, with a
	// random lineage naming that creation, so that each replica applies only
	// the steps it saw that the ledger does not hold yet. Only the Redis
	// ledger sets it.
	ClockStep *ClockStep `json:"clock_step,omitempty"`
	// Reading is the last balance reading, which a fleet's replicas share
	// so that only one of them reads each tick. It is not part of the
	// encoding: a File does not keep it (its one watchdog has it in
	// memory), a Redis ledger keeps it under a key of its own.
	Reading *Reading `json:"-"`
	// Readings are the recent balance readings the burn rate is estimated
	// from, oldest first, bounded by AddReading. They survive a restart.
	Readings []Reading `json:"readings,omitempty"`
}

// Reading is one balance reading, on the fleet's clock.
type Reading struct {
	At         time.Time       `json:"at"`
	Balance    decimal.Decimal `json:"balance"`
	AutoReload bool            `json:"auto_reload"`
	// Replica names the replica that read it.
	Replica string `json:"replica,omitempty"`
}

// ClockMark is one reading of both clocks, taken when the records' times
// were last put on the basis of the wall clock: without a step since,
// wall - monotonic is the same now as then.
type ClockMark struct {
	// BootID names the machine's boot (Linux's boot_id); a monotonic
	// reading means nothing on another boot.
	BootID string `json:"boot_id"`
	// Monotonic is the monotonic clock's reading (CLOCK_BOOTTIME) in
	// nanoseconds.
	Monotonic time.Duration `json:"monotonic_ns"`
	Wall      time.Time     `json:"wall"`
}

// ClockStep is how far a ledger's times were moved by the steps of the
// fleet's clock since it was created.
type ClockStep struct {
	// Lineage names one creation of the ledger: a ledger written again
	// after Redis lost it has another.
	Lineage string `json:"lineage"`
	// Offset is the sum of every step applied to the ledger: forward when
	// positive.
	Offset time.Duration `json:"offset_ns"`
	// legacy is set on the mark of an earlier version (one step and when
	// it was applied), which Decode drops.
	legacy bool
}

// UnmarshalJSON reads the mark, and that of an earlier version (step_ns
// and at), which it flags legacy.
func (m *ClockStep) UnmarshalJSON(b []byte) error {
	var v struct {
		Lineage *string        `json:"lineage"`
		Offset  *time.Duration `json:"offset_ns"`
		Step    *time.Duration `json:"step_ns"`
		At      *time.Time     `json:"at"`
	}
	if err := unmarshalStrict(b, &v); err != nil {
		return err
	}
	*m = ClockStep{}
	if v.Lineage == nil && v.Offset == nil && (v.Step != nil || v.At != nil) {
		m.legacy = true
		return nil
	}
	if v.Step != nil || v.At != nil {
		return errors.New("clock_step: step_ns and at are of an earlier version, not with lineage")
	}
	if v.Lineage != nil {
		m.Lineage = *v.Lineage
	}
	if v.Offset != nil {
		m.Offset = *v.Offset
	}
	return nil
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	c := s
	c.TopUps = append([]Record(nil), s.TopUps...)
	if s.Clock != nil {
		m := *s.Clock
		c.Clock = &m
	}
	if s.ClockStep != nil {
		m := *s.ClockStep
		c.ClockStep = &m
	}
	if s.Reading != nil {
		r := *s.Reading
		c.Reading = &r
	}
	c.Readings = append([]Reading(nil), s.Readings...)
	return c
}

// CopyTo makes *dst a deep copy of s, reusing what dst holds (its slices'
// arrays, the values its pointers point to): a caller that keeps a copy of
// the state from check to check allocates nothing once warm. Nothing else
// may share dst's slices or pointers.
func (s State) CopyTo(dst *State) {
	topUps, readings := dst.TopUps[:0], dst.Readings[:0]
	clock, step, reading := dst.Clock, dst.ClockStep, dst.Reading
	*dst = s
	dst.TopUps, dst.Readings = append(topUps, s.TopUps...), append(readings, s.Readings...)
	dst.Clock, dst.ClockStep, dst.Reading = copyPtr(clock, s.Clock), copyPtr(step, s.ClockStep), copyPtr(reading, s.Reading)
}

// copyPtr is a pointer to a copy of *src, in *dst when dst is set; nil for
// a nil src.
func copyPtr[T any](dst, src *T) *T {
	switch {
	case src == nil:
		return nil
	case dst == nil:
		dst = new(T)
	}
	*dst = *src
	return dst
}

// AddReading appends r to the readings, first dropping those it does not
// follow (a clock that went back), then keeps at most policy.MaxReadings of
// them, none older than policy.ReadingsAge before r.
func (s *State) AddReading(r Reading) {
	rs := s.Readings
	for len(rs) > 0 && !rs[len(rs)-1].At.Before(r.At) {
		rs = rs[:len(rs)-1]
	}
	rs = append(rs, r)
	drop := 0
	for drop < len(rs)-1 && (len(rs)-drop > policy.MaxReadings || r.At.Sub(rs[drop].At) > policy.ReadingsAge) {
		drop++
	}
	s.Readings = append(s.Readings[:0], rs[drop:]...)
}

// PolicyReadings returns the readings as the burn rate sees them.
func (s State) PolicyReadings() []policy.Reading { return s.AppendPolicyReadings(nil) }

// AppendPolicyReadings appends the readings as the burn rate sees them to
// dst, so that a caller can reuse one buffer from check to check.
func (s State) AppendPolicyReadings(dst []policy.Reading) []policy.Reading {
	for _, r := range s.Readings {
		dst = append(dst, policy.Reading{At: r.At, Balance: r.Balance})
	}
	return dst
}

// Find returns the record with the given id, or nil.
func (s *State) Find(id string) *Record {
	for i := range s.TopUps {
		if s.TopUps[i].ID == id {
			return &s.TopUps[i]
		}
	}
	return nil
}

// PolicyTopUps returns the records as the policy sees them.
func (s State) PolicyTopUps() []policy.TopUp { return s.AppendPolicyTopUps(nil) }

// AppendPolicyTopUps appends the records as the policy sees them to dst, so
// that a caller can reuse one buffer from check to check.
func (s State) AppendPolicyTopUps(dst []policy.TopUp) []policy.TopUp {
	for _, r := range s.TopUps {
		dst = append(dst, r.PolicyTopUp())
	}
	return dst
}

// KeepUnsent is how many of the newest records that never reached Vonage
// (rejected, not sent) Prune keeps. Only the newest of them matter to the
// policy (the last rejection, the last hold, the length of a run of
// not-sent ones up to the longest back-off), so a run of failures of any
// length leaves a ledger of bounded size.
const KeepUnsent = 16

// latest is the latest time r holds but HoldUntil: when it was last acted on.
func (r Record) latest() time.Time {
	latest := r.At
	for _, t := range []time.Time{r.FinishedAt, r.ConfirmedAt} {
		if t.After(latest) {
			latest = t
		}
	}
	return latest
}

// Prune drops the records last acted on (decided, finished or confirmed)
// before the given instant, and all but the
// KeepUnsent newest of those that never reached Vonage. The caller picks an
// instant older than every span the policy looks at. What is left is
// bounded: the records that may have reached Vonage are bounded by the
// daily cap over the retention, the others by KeepUnsent, and each record's
// size by its fields (an error text is cut to a few hundred bytes).
func (s *State) Prune(before time.Time) {
	unsent := 0
	for i := len(s.TopUps) - 1; i >= 0; i-- {
		if !s.TopUps[i].MayHaveReached() {
			unsent++
		}
	}
	kept := s.TopUps[:0]
	for _, r := range s.TopUps {
		if r.latest().Before(before) {
			if !r.MayHaveReached() {
				unsent--
			}
			continue
		}
		if !r.MayHaveReached() && unsent > KeepUnsent {
			unsent--
			continue
		}
		kept = append(kept, r)
	}
	s.TopUps = kept
}

// Shift moves every time the records hold by d: what a step of the system
// clock by d does to times that were read before it, so that their ages
// stay what they were.
func (s *State) Shift(d time.Duration) {
	for i := range s.TopUps {
		r := &s.TopUps[i]
		for _, t := range []*time.Time{&r.At, &r.FinishedAt, &r.ConfirmedAt, &r.HoldUntil} {
			if !t.IsZero() {
				*t = t.Add(d)
			}
		}
	}
	for i := range s.Readings {
		s.Readings[i].At = s.Readings[i].At.Add(d)
	}
}

// ClampAhead redates, as of now, every time of a record that lies more than
// slack after now (written while the clock was ahead, or by a process whose
// clock was), so that the record holds one window at most, and is confirmed
// and pruned like any other. A hold moves back with its record's end. It
// returns the ids of the records it redated.
func (s *State) ClampAhead(now time.Time, slack time.Duration) []string {
	var ids []string
	for i := range s.TopUps {
		r := &s.TopUps[i]
		if r.latest().Sub(now) <= slack {
			continue
		}
		if ahead := r.FinishedAt.Sub(now); ahead > slack && !r.HoldUntil.IsZero() {
			r.HoldUntil = r.HoldUntil.Add(-ahead)
		}
		for _, t := range []*time.Time{&r.At, &r.FinishedAt, &r.ConfirmedAt} {
			if t.Sub(now) > slack {
				*t = now
			}
		}
		ids = append(ids, r.ID)
	}
	for i := range s.Readings {
		if s.Readings[i].At.Sub(now) > slack {
			s.Readings = s.Readings[:i] // read while the clock was ahead: the rate would be wrong
			break
		}
	}
	return ids
}
