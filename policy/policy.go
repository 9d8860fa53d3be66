// Package policy decides, from one balance reading and the record of recent
// top-ups, whether the watchdog should top the account up now.
//
// It is pure: no I/O, no clock, no logger. The caller passes the time of the
// reading as Input.Now, so the same input always gives the same Decision.
package policy

import (
	"time"

	"github.com/shopspring/decimal"
)

// Action is what the watchdog does after a check.
type Action string

// The actions of a Decision.
const (
	ActionTopUp   Action = "top_up"
	ActionNone    Action = "none"
	ActionBlocked Action = "blocked"
)

// Reason says why a Decision has its Action.
type Reason string

// The reasons of a Decision, as the decision log line names them.
const (
	ReasonBelowThreshold     Reason = "below_threshold"
	ReasonRefilling          Reason = "refilling"
	ReasonBalanceOK          Reason = "balance_ok"
	ReasonAutoReloadDisabled Reason = "auto_reload_disabled"
	ReasonWindowOpen         Reason = "window_open"
	ReasonRecentlyRejected   Reason = "recently_rejected"
	ReasonDailyCapReached    Reason = "daily_cap_reached"
)

// Status is what is known of an earlier top-up request.
type Status int

// The statuses of a TopUp.
const (
	// Pending: the request may have reached Vonage and no credit has shown up
	// yet. This covers a request still in flight, one that succeeded and one
	// whose outcome is unknown.
	Pending Status = iota + 1
	// Confirmed: the request reached Vonage and its credit showed up.
	Confirmed
	// Rejected: Vonage refused the request; nothing was applied.
	Rejected
	// NotSent: the request provably never reached Vonage.
	NotSent
)

// String names the status.
func (s Status) String() string {
	switch s {
	case Pending:
		return "pending"
	case Confirmed:
		return "confirmed"
	case Rejected:
		return "rejected"
	case NotSent:
		return "not_sent"
	default:
		return "invalid"
	}
}

// reachedVonage reports whether a request with this status may have been
// applied by Vonage, and so counts toward the daily cap.
func (s Status) reachedVonage() bool { return s == Pending || s == Confirmed }

// TopUp is one earlier top-up request as the policy sees it.
type TopUp struct {
	// At is when the request was decided (its intent was written); for a
	// Rejected request, when the rejection arrived.
	At     time.Time
	Status Status
}

// Settings are the operator's limits. Target is at least Threshold.
type Settings struct {
	Threshold decimal.Decimal
	Target    decimal.Decimal
	Window    time.Duration
	MaxPerDay int
}

// Input is one balance reading and what the watchdog knows at that instant.
type Input struct {
	Balance    decimal.Decimal
	AutoReload bool
	Now        time.Time
	// Refilling is whether a refill was under way before this reading.
	Refilling bool
	// TopUps are the earlier requests; older than a day they no longer matter.
	TopUps []TopUp
}

// Decision is the policy's answer for one Input.
type Decision struct {
	Action Action
	Reason Reason
	// Refilling is whether a refill is under way after this reading: it
	// starts below Threshold and lasts until the balance reaches Target.
	Refilling bool
	// TopUps24h counts the requests of the last 24 hours that may have
	// reached Vonage.
	TopUps24h int
}

// Day is the span of the rolling daily cap.
const Day = 24 * time.Hour

// Decide applies the top-up rules to one reading.
func Decide(s Settings, in Input) Decision {
	d := Decision{TopUps24h: CountLastDay(in.TopUps, in.Now)}
	if in.Refilling {
		d.Refilling = in.Balance.LessThan(s.Target)
	} else {
		d.Refilling = in.Balance.LessThan(s.Threshold)
	}
	if !d.Refilling {
		d.Action, d.Reason = ActionNone, ReasonBalanceOK
		return d
	}
	if blocked, ok := blockedBy(s, in, d.TopUps24h); ok {
		d.Action, d.Reason = ActionBlocked, blocked
		return d
	}
	d.Action = ActionTopUp
	d.Reason = ReasonRefilling
	if in.Balance.LessThan(s.Threshold) {
		d.Reason = ReasonBelowThreshold
	}
	return d
}

// blockedBy returns the first rule, in the contract's order, that blocks a
// wanted top-up.
func blockedBy(s Settings, in Input, last24h int) (Reason, bool) {
	if !in.AutoReload {
		return ReasonAutoReloadDisabled, true
	}
	if WindowOpen(in.TopUps, in.Now, s.Window) {
		return ReasonWindowOpen, true
	}
	for _, t := range in.TopUps {
		if t.Status == Rejected && within(t.At, in.Now, s.Window) {
			return ReasonRecentlyRejected, true
		}
	}
	if last24h >= s.MaxPerDay {
		return ReasonDailyCapReached, true
	}
	return "", false
}

// WindowOpen reports whether a request that may have reached Vonage is still
// unconfirmed and younger than window at now.
func WindowOpen(topUps []TopUp, now time.Time, window time.Duration) bool {
	for _, t := range topUps {
		if t.Status == Pending && within(t.At, now, window) {
			return true
		}
	}
	return false
}

// CountLastDay counts the requests that may have reached Vonage in the 24
// hours up to now.
func CountLastDay(topUps []TopUp, now time.Time) int {
	n := 0
	for _, t := range topUps {
		if t.Status.reachedVonage() && within(t.At, now, Day) {
			n++
		}
	}
	return n
}

// within reports whether at lies in the span (now-d, now]. A time after now
// (a clock that stepped back) counts as within, the safe side for every rule.
func within(at, now time.Time, d time.Duration) bool {
	return now.Sub(at) < d
}
