// Package ledger is the durable record of top-up intents and their outcomes.
//
// The watchdog writes an intent before it sends a top-up request and the
// outcome after, so that a restarted or crashed watchdog knows what its
// previous run may have sent. File is the implementation for one watchdog; the
// watchdog only needs View and Update, so a shared store can take its place.
package ledger

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// SchemaVersion is the version of the State layout this package writes.
const SchemaVersion = 1

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
}

// Confirmed reports whether the top-up's credit has shown up.
func (r Record) Confirmed() bool { return !r.ConfirmedAt.IsZero() }

// MayHaveReached reports whether the request may have been applied by Vonage.
func (r Record) MayHaveReached() bool {
	return r.Outcome == Pending || r.Outcome == Succeeded || r.Outcome == Unknown
}

// PolicyTopUp is the record as the policy sees it.
func (r Record) PolicyTopUp() policy.TopUp {
	switch {
	case r.Outcome == Rejected:
		at := r.FinishedAt
		if at.IsZero() {
			at = r.At
		}
		return policy.TopUp{At: at, Status: policy.Rejected}
	case r.Outcome == NotSent:
		return policy.TopUp{At: r.At, Status: policy.NotSent}
	case r.Confirmed():
		return policy.TopUp{At: r.At, Status: policy.Confirmed}
	default:
		return policy.TopUp{At: r.At, Status: policy.Pending}
	}
}

// State is everything the ledger holds.
type State struct {
	Version int `json:"version"`
	// Refilling is whether a refill toward the target is under way.
	Refilling bool     `json:"refilling"`
	TopUps    []Record `json:"topups"`
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	c := s
	c.TopUps = append([]Record(nil), s.TopUps...)
	return c
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
func (s State) PolicyTopUps() []policy.TopUp {
	out := make([]policy.TopUp, len(s.TopUps))
	for i, r := range s.TopUps {
		out[i] = r.PolicyTopUp()
	}
	return out
}

// Prune drops the records decided before the given instant. The caller picks
// an instant older than every span the policy looks at.
func (s *State) Prune(before time.Time) {
	kept := s.TopUps[:0]
	for _, r := range s.TopUps {
		if !r.At.Before(before) {
			kept = append(kept, r)
		}
	}
	s.TopUps = kept
}
