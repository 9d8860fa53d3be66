// Package oracle states the contract's top-up rules a second time, for tests
// only: rules 2 and 3 of "Top-up rules" in docs/contract.md (what wants a
// top-up, what blocks it, in the contract's order, and the 24-hour count)
// and the predictive policy (the readings the ledger keeps, the burn rate,
// the automatic lead time and the projection). The tests of package
// policy, the month in simulated time and the fault storms hold the real
// code to it; no other code imports it.
//
// It shares no decision code with package policy: it takes policy's types
// (Settings, Input, TopUp, Reading, Decision) and names (the actions and
// reasons), and works every rule out on its own, its constants included.
package oracle

import (
	"time"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The spans and limits the contract's rules count with.
const (
	// day is the span of the rolling daily cap.
	day = 24 * time.Hour
	// longestBackoff is the longest hold after top-ups that were not sent,
	// unless the window is shorter.
	longestBackoff = 5 * time.Minute
)

// Facts are what the contract's rules look at in one input, each worked out
// on its own from the settings and the input.
type Facts struct {
	// Below: the balance is below the threshold.
	Below bool
	// UnderTarget: the balance is below the target.
	UnderTarget bool
	// Refilling: a refill was under way before this reading.
	Refilling bool
	// Projection is the burn rate and what it projects, when the readings
	// give a rate.
	Projection Projection
	// ProjectedBelow: the predictive policy is on, the readings give a rate,
	// and the balance projected the lead time ahead is below the threshold.
	ProjectedBelow bool
	// AutoReloadOff: Vonage reports auto-reload disabled.
	AutoReloadOff bool
	// WindowOpen: a top-up that may have reached Vonage is unconfirmed and
	// its window has not passed.
	WindowOpen bool
	// RecentlyRejected: a top-up was rejected less than a window ago.
	RecentlyRejected bool
	// RateLimited: a 429's Retry-After has not passed.
	RateLimited bool
	// BackingOff: repeated top-ups that were not sent still hold new ones.
	BackingOff bool
	// TopUps24h counts the requests that may have reached Vonage in the last
	// 24 hours.
	TopUps24h int
	// CapReached: TopUps24h has reached the daily cap.
	CapReached bool
}

// Assess works out the facts of in under s.
//
// Times compare as the contract says: a span holds an instant when it is
// less than the span's length before now, and an instant after now (a
// clock that stepped back) is inside every span, the safe side.
func Assess(s policy.Settings, in policy.Input) Facts {
	f := Facts{
		Below:         in.Balance.LessThan(s.Threshold),
		UnderTarget:   in.Balance.LessThan(s.Target),
		Refilling:     in.Refilling,
		Projection:    Project(s, in),
		AutoReloadOff: !in.AutoReload,
		BackingOff:    backingOff(s, in),
	}
	f.ProjectedBelow = s.Predictive && f.Projection.Known && f.Projection.Balance.LessThan(s.Threshold)
	for _, t := range in.TopUps {
		// A request's window, and its place in the daily count, go from the
		// end of its last attempt, or, while that is not known, from the
		// latest it can end.
		end := t.Ended
		if end.IsZero() {
			end = t.At.Add(s.Flight)
		}
		sinceEnd := in.Now.Sub(end)
		switch t.Status {
		case policy.Pending:
			f.WindowOpen = f.WindowOpen || sinceEnd < s.Window
			f.TopUps24h += count(sinceEnd < day)
		case policy.Confirmed:
			f.TopUps24h += count(sinceEnd < day)
		case policy.Rejected:
			f.RecentlyRejected = f.RecentlyRejected || in.Now.Sub(t.At) < s.Window
		}
		f.RateLimited = f.RateLimited || t.HoldUntil.After(in.Now)
	}
	f.CapReached = f.TopUps24h >= s.MaxPerDay
	return f
}

// backingOff: after two or more not-sent top-ups in a row (the newest
// ones, back to the last of another status; one that never made an attempt
// is passed over), no top-up for Backoff after the newest of them ended,
// doubled for each one past the second, at most the shorter of five
// minutes and the window. Backoff 0 turns it off.
func backingOff(s policy.Settings, in policy.Input) bool {
	var run []policy.TopUp // newest first
	for i := len(in.TopUps) - 1; i >= 0 && in.TopUps[i].Status == policy.NotSent; i-- {
		if in.TopUps[i].Attempts != 0 {
			run = append(run, in.TopUps[i])
		}
	}
	if s.Backoff <= 0 || len(run) < 2 {
		return false
	}
	limit := min(longestBackoff, s.Window)
	hold := s.Backoff
	for n := 2; n < len(run) && hold < limit; n++ {
		hold *= 2
	}
	ended := run[0].Ended
	if ended.IsZero() {
		ended = run[0].At
	}
	return in.Now.Before(ended.Add(min(hold, limit)))
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Wants are the reasons of the rules that want a top-up and hold, in the
// contract's order: below the threshold; a refill under way below the
// target; with the predictive policy, projected below the threshold.
func (f Facts) Wants() []policy.Reason {
	var out []policy.Reason
	if f.Below {
		out = append(out, policy.ReasonBelowThreshold)
	}
	if f.Refilling && f.UnderTarget {
		out = append(out, policy.ReasonRefilling)
	}
	if f.ProjectedBelow {
		out = append(out, policy.ReasonProjectedBelowThreshold)
	}
	return out
}

// Blocks are the reasons of the rules that block a wanted top-up and hold,
// in the contract's order.
func (f Facts) Blocks() []policy.Reason {
	var out []policy.Reason
	for _, b := range []struct {
		holds  bool
		reason policy.Reason
	}{
		{f.AutoReloadOff, policy.ReasonAutoReloadDisabled},
		{f.WindowOpen, policy.ReasonWindowOpen},
		{f.RecentlyRejected, policy.ReasonRecentlyRejected},
		{f.RateLimited, policy.ReasonRateLimited},
		{f.BackingOff, policy.ReasonBackingOff},
		{f.CapReached, policy.ReasonDailyCapReached},
	} {
		if b.holds {
			out = append(out, b.reason)
		}
	}
	return out
}

// Decision is the decision the contract gives for these facts: none while
// nothing wants a top-up; else a refill is under way, and the first
// blocker, or else the first reason that wants it, names the reason.
func (f Facts) Decision() policy.Decision {
	d := policy.Decision{TopUps24h: f.TopUps24h, RateKnown: f.Projection.Known, BurnRate: f.Projection.Rate,
		Projected: f.Projection.Balance, LeadTime: f.Projection.Lead, LeadAuto: f.Projection.LeadAuto}
	wants := f.Wants()
	if len(wants) == 0 {
		d.Action, d.Reason = policy.ActionNone, policy.ReasonBalanceOK
		return d
	}
	d.Refilling = true
	if blocks := f.Blocks(); len(blocks) > 0 {
		d.Action, d.Reason = policy.ActionBlocked, blocks[0]
		return d
	}
	d.Action, d.Reason = policy.ActionTopUp, wants[0]
	return d
}

// Expect is the decision the contract gives for in under s: what
// policy.Decide must answer.
func Expect(s policy.Settings, in policy.Input) policy.Decision {
	return Assess(s, in).Decision()
}

// Want is the first reason that wants a top-up for in under s, if any: a
// check that reads in.Balance, with a refill under way before it or not
// (in.Refilling), wants one, and a refill is under way after it.
func Want(s policy.Settings, in policy.Input) (policy.Reason, bool) {
	wants := Assess(s, in).Wants()
	if len(wants) == 0 {
		return "", false
	}
	return wants[0], true
}

// Equal reports whether two decisions say the same, amounts compared by
// value.
func Equal(a, b policy.Decision) bool {
	return a.Action == b.Action && a.Reason == b.Reason && a.Refilling == b.Refilling && a.TopUps24h == b.TopUps24h &&
		a.RateKnown == b.RateKnown && a.BurnRate.Equal(b.BurnRate) && a.Projected.Equal(b.Projected) &&
		a.LeadTime == b.LeadTime && a.LeadAuto == b.LeadAuto
}
