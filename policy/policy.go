// Package policy decides, from one balance reading and the record of recent
// top-ups, whether the watchdog should top the account up now.
//
// It is pure: no I/O, no clock, no logger. The caller passes the time of the
// reading as Input.Now, so the same input always gives the same Decision.
package policy

import (
	"slices"
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
	ReasonRateLimited        Reason = "rate_limited"
	ReasonBackingOff         Reason = "backing_off"
	ReasonDailyCapReached    Reason = "daily_cap_reached"
	// ReasonProjectedBelowThreshold: the predictive policy projects the
	// balance below the threshold within the lead time.
	ReasonProjectedBelowThreshold Reason = "projected_below_threshold"
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
	At time.Time
	// Ended is when the request's last attempt ended; zero while that is not
	// known (the request may be in flight, or its process died).
	Ended  time.Time
	Status Status
	// HoldUntil, when set, is the instant before which Vonage asked (a 429's
	// Retry-After) that no top-up be sent.
	HoldUntil time.Time
	// Attempts is how many attempts the request made; a NotSent one with
	// none never tried (a stop or a pause came first).
	Attempts int
	// ConfirmedAt is when a Confirmed request's credit showed up.
	ConfirmedAt time.Time
}

// Settings are the operator's limits. Target is at least Threshold.
type Settings struct {
	Threshold decimal.Decimal
	Target    decimal.Decimal
	Window    time.Duration
	MaxPerDay int
	// Flight is the longest a top-up request may be in flight after its
	// intent. The window of a pending top-up counts from the end of its last
	// attempt, or, while that end is not known, from At+Flight: the latest it
	// can be.
	Flight time.Duration
	// Backoff is the hold after the second top-up in a row that was not
	// sent; it doubles with each further one, up to MaxBackoff. 0 turns the
	// back-off off.
	Backoff time.Duration
	// Predictive adds the projection to what wants a top-up
	// (TOPUP_POLICY=predictive): a refill also starts when the balance
	// projected LeadTime ahead at the burn rate is below Threshold.
	Predictive bool
	// LeadTime is how far ahead the projection looks; 0 means automatic
	// (LeadTimeFor).
	LeadTime time.Duration
	// Interval is the span between two checks of the schedule, which the
	// automatic lead time counts twice.
	Interval time.Duration
}

// MaxBackoff is the longest hold after top-ups that were not sent, unless
// the window is shorter.
const MaxBackoff = 5 * time.Minute

// Input is one balance reading and what the watchdog knows at that instant.
type Input struct {
	Balance    decimal.Decimal
	AutoReload bool
	Now        time.Time
	// Refilling is whether a refill was under way before this reading.
	Refilling bool
	// TopUps are the earlier requests, oldest first; older than a day they
	// no longer matter.
	TopUps []TopUp
	// Readings are the earlier balance readings, oldest first, that the
	// burn rate is estimated from together with this one.
	Readings []Reading
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
	// RateKnown is whether the readings give a burn rate. When they do,
	// BurnRate is it, in EUR per minute, and Projected is the balance
	// LeadTime ahead at that rate (LeadAuto: the automatic lead time).
	RateKnown bool
	BurnRate  decimal.Decimal
	Projected decimal.Decimal
	LeadTime  time.Duration
	LeadAuto  bool
}

// Day is the span of the rolling daily cap.
const Day = 24 * time.Hour

// Decide applies the top-up rules to one reading: the first rule of wants
// that holds wants a top-up and names the reason, and the first rule of
// blocks that holds blocks it.
func Decide(s Settings, in Input) Decision {
	d := Decision{TopUps24h: s.CountLastDay(in.TopUps, in.Now)}
	var buf [MaxReadings + 1]Reading // on the stack: Decide runs at every check
	d.BurnRate, d.RateKnown = BurnRate(append(append(buf[:0], in.Readings...), Reading{At: in.Now, Balance: in.Balance}))
	if d.RateKnown {
		d.LeadTime, d.LeadAuto = s.LeadTimeFor(in.TopUps)
		d.Projected = Project(in.Balance, d.BurnRate, d.LeadTime)
	}
	want, ok := first(wants, s, in, d)
	if !ok {
		d.Action, d.Reason = ActionNone, ReasonBalanceOK
		return d
	}
	d.Refilling = true
	if blocked, ok := first(blocks, s, in, d); ok {
		d.Action, d.Reason = ActionBlocked, blocked
		return d
	}
	d.Action, d.Reason = ActionTopUp, want
	return d
}

// rule is one rule of the policy: when holds, it wants a top-up (in wants)
// or blocks one (in blocks), for reason. d is the decision so far: the
// count of the last day and the projection are known.
type rule struct {
	reason Reason
	holds  func(s Settings, in Input, d Decision) bool
}

// wants are the rules that want a top-up, in order: the first that holds
// names the reason. A refill starts below the threshold (or, predictive,
// projected below it) and goes on until the balance reaches the target.
var wants = []rule{
	{ReasonBelowThreshold, func(s Settings, in Input, _ Decision) bool {
		return in.Balance.LessThan(s.Threshold)
	}},
	{ReasonRefilling, func(s Settings, in Input, _ Decision) bool {
		return in.Refilling && in.Balance.LessThan(s.Target)
	}},
	{ReasonProjectedBelowThreshold, func(s Settings, _ Input, d Decision) bool {
		return s.Predictive && d.RateKnown && d.Projected.LessThan(s.Threshold)
	}},
}

// blocks are the rules that block a wanted top-up, in the contract's order:
// the first that holds names the reason.
var blocks = []rule{
	{ReasonAutoReloadDisabled, func(_ Settings, in Input, _ Decision) bool {
		return !in.AutoReload
	}},
	{ReasonWindowOpen, func(s Settings, in Input, _ Decision) bool {
		return s.WindowOpen(in.TopUps, in.Now)
	}},
	{ReasonRecentlyRejected, func(s Settings, in Input, _ Decision) bool {
		return slices.ContainsFunc(in.TopUps, func(t TopUp) bool {
			return t.Status == Rejected && within(t.At, in.Now, s.Window)
		})
	}},
	{ReasonRateLimited, func(_ Settings, in Input, _ Decision) bool {
		return slices.ContainsFunc(in.TopUps, func(t TopUp) bool { return in.Now.Before(t.HoldUntil) })
	}},
	{ReasonBackingOff, func(s Settings, in Input, _ Decision) bool {
		return in.Now.Before(s.BackoffUntil(in.TopUps))
	}},
	{ReasonDailyCapReached, func(s Settings, _ Input, d Decision) bool {
		return d.TopUps24h >= s.MaxPerDay
	}},
}

// first returns the reason of the first of rules that holds.
func first(rules []rule, s Settings, in Input, d Decision) (Reason, bool) {
	for _, r := range rules {
		if r.holds(s, in, d) {
			return r.reason, true
		}
	}
	return "", false
}

// WindowOpen reports whether a request that may have reached Vonage is still
// unconfirmed and inside its window at now.
func (s Settings) WindowOpen(topUps []TopUp, now time.Time) bool {
	for _, t := range topUps {
		if t.Status == Pending && s.InWindow(t, now) {
			return true
		}
	}
	return false
}

// InWindow reports whether now lies inside t's window: less than Window
// after the end of its last attempt, or after At+Flight while that end is
// not known.
func (s Settings) InWindow(t TopUp, now time.Time) bool {
	return within(s.windowStart(t), now, s.Window)
}

func (s Settings) windowStart(t TopUp) time.Time {
	if !t.Ended.IsZero() {
		return t.Ended
	}
	return t.At.Add(s.Flight)
}

// BackoffUntil is the instant before which repeated top-ups that were not
// sent hold new ones: the newest top-ups that tried and were not sent, back
// to the last one of another status, counted (one that never tried, cut
// off by a stop or a pause, neither counts nor ends the run); from the
// second in a row on, Backoff after the end of the newest, doubling with
// each further one, at most MaxBackoff or the window, whichever is shorter.
// The zero time when nothing holds.
func (s Settings) BackoffUntil(topUps []TopUp) time.Time {
	streak := 0
	var newest TopUp
	for i := len(topUps) - 1; i >= 0 && topUps[i].Status == NotSent; i-- {
		if topUps[i].Attempts == 0 {
			continue
		}
		if streak == 0 {
			newest = topUps[i]
		}
		streak++
	}
	if s.Backoff <= 0 || streak < 2 {
		return time.Time{}
	}
	limit := min(MaxBackoff, s.Window)
	hold := s.Backoff
	for range streak - 2 {
		if hold >= limit {
			break
		}
		hold *= 2
	}
	end := newest.Ended
	if end.IsZero() {
		end = newest.At
	}
	return end.Add(min(hold, limit))
}

// CountLastDay counts the requests that may have reached Vonage in the 24
// hours up to now: those whose last attempt ended in them, or, while that
// end is not known, whose latest end does (the request may have arrived at
// any moment of its flight).
func (s Settings) CountLastDay(topUps []TopUp, now time.Time) int {
	n := 0
	for _, t := range topUps {
		if t.Status.reachedVonage() && within(s.windowStart(t), now, Day) {
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
