package simcheck

import (
	"fmt"
	"net/http"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// NoResend: nothing that may have reached Vonage is re-sent. Within one
// intent only a 429 (not sent: nothing was applied) comes before another
// request; a rejection is not retried either.
func (r *Run) NoResend() []Violation {
	var vs []Violation
	for i, tu := range r.TopUps {
		if tu.Status == http.StatusTooManyRequests || r.Owner[i] < 0 {
			continue
		}
		for j := i + 1; j < len(r.TopUps) && r.Owner[j] == r.Owner[i]; j++ {
			vs = append(vs, Violation{Resent, fmt.Sprintf("intent %s sent again (#%d at %s) after #%d (%s, status %d) may have reached Vonage",
				r.Intents[r.Owner[i]].ID, r.TopUps[j].Seq, stamp(r.TopUps[j].ReceivedAt), tu.Seq, tu.Result, tu.Status)})
		}
	}
	return vs
}

// Outcomes: each intent's recorded outcome is the one the README's table
// of top-up outcomes gives the account's answer to its last request
// (OutcomeOf). An intent recorded not_sent owns no request but 429s. With
// answered false, an answer may have been lost on its way (a reset, a
// timeout, a front that drops it), so that unknown goes with any answer,
// or with no request at all; with answered true every answer reached the
// watchdog whole, and unknown too must be the answer's. An intent still
// pending (its process died first) is not checked.
func (r *Run) Outcomes(answered bool) []Violation {
	var vs []Violation
	add := func(format string, args ...any) { vs = append(vs, Violation{Outcome, fmt.Sprintf(format, args...)}) }
	for k, in := range r.Intents {
		reqs := r.requestsOf(k)
		switch {
		case in.Outcome == ledger.Pending:
		case in.Outcome == ledger.NotSent:
			for _, i := range reqs {
				if tu := r.TopUps[i]; OutcomeOf(tu) != ledger.NotSent || tu.Applied {
					add("intent %s was recorded not_sent, but its top-up #%d reached the account at %s (%s, status %d, fault %q)",
						in.ID, tu.Seq, stamp(tu.ReceivedAt), tu.Result, tu.Status, tu.Fault)
				}
			}
		case len(reqs) == 0:
			if answered || in.Outcome != ledger.Unknown {
				add("intent %s was recorded %s, and no request of it reached the account", in.ID, in.Outcome)
			}
		case in.Outcome == ledger.Unknown && !answered:
		default:
			last := r.TopUps[reqs[len(reqs)-1]]
			if want := OutcomeOf(last); in.Outcome != want {
				add("intent %s was recorded %s; the account answered its top-up #%d at %s with %d (fault %q), which is %s",
					in.ID, in.Outcome, last.Seq, stamp(last.ReceivedAt), last.Status, last.Fault, want)
			}
		}
	}
	return vs
}

// NoDouble: no top-up request while an applied one of another intent was
// still uncredited and inside its window (Intent.WindowEnd of its owner).
func (r *Run) NoDouble() []Violation {
	var vs []Violation
	for i, ti := range r.TopUps {
		if !ti.Applied || r.Owner[i] < 0 {
			continue
		}
		end := r.Intents[r.Owner[i]].WindowEnd
		for j := i + 1; j < len(r.TopUps); j++ {
			tj := r.TopUps[j]
			if tj.ReceivedAt.Before(ti.CreditAt) && tj.ReceivedAt.Before(end) && r.Owner[j] != r.Owner[i] {
				vs = append(vs, Violation{Window, fmt.Sprintf("top-up #%d reached the account at %s while #%d (received %s) was applied, uncredited until %s and inside its window until %s",
					tj.Seq, stamp(tj.ReceivedAt), ti.Seq, stamp(ti.ReceivedAt), stamp(ti.CreditAt), stamp(end))})
			}
		}
	}
	return vs
}

// Cap: in any 24 hours, no more top-up requests that may have reached
// Vonage (OutcomeOf succeeded or unknown: a 429 is not sent and a
// rejection is not counted) than maxPerDay. It returns the most such
// requests, and the most applied ones, in any 24 hours.
func (r *Run) Cap(maxPerDay int) (most, mostApplied int, vs []Violation) {
	var reached, applied []time.Time
	for _, tu := range r.TopUps {
		if o := OutcomeOf(tu); o == ledger.Succeeded || o == ledger.Unknown {
			reached = append(reached, tu.ReceivedAt)
		}
		if tu.Applied {
			applied = append(applied, tu.ReceivedAt)
		}
	}
	most, at, _ := busiestDay(reached, maxPerDay)
	if most > maxPerDay {
		vs = append(vs, Violation{DailyCap, fmt.Sprintf("%d top-up requests that may have reached Vonage within the 24 hours to %s, over the cap of %d",
			most, stamp(at), maxPerDay)})
	}
	mostApplied, _, _ = busiestDay(applied, maxPerDay)
	return most, mostApplied, vs
}

// LedgerCap: in any 24 hours, the watchdog recorded no more intents that
// may have reached Vonage (pending, succeeded or unknown) than maxPerDay.
// It returns when its record first held maxPerDay of them in 24 hours:
// the cap reached, zero if it never was.
func (r *Run) LedgerCap(maxPerDay int) (reachedAt time.Time, vs []Violation) {
	var at []time.Time
	for _, in := range r.Intents {
		if (ledger.Record{Outcome: in.Outcome}).MayHaveReached() {
			at = append(at, in.At)
		}
	}
	most, last, reachedAt := busiestDay(at, maxPerDay)
	if most > maxPerDay {
		vs = append(vs, Violation{DailyCap, fmt.Sprintf("the watchdog recorded %d top-ups that may have reached Vonage within the 24 hours to %s, over the cap of %d",
			most, stamp(last), maxPerDay)})
	}
	return reachedAt, vs
}

// busiestDay returns the most of the times (in order) in any 24 hours, the
// last of them, and the first time n of them fell within 24 hours.
func busiestDay(times []time.Time, n int) (most int, at, reached time.Time) {
	first := 0
	for last, t := range times {
		for t.Sub(times[first]) >= 24*time.Hour {
			first++
		}
		count := last - first + 1
		if count > most {
			most, at = count, t
		}
		if count >= n && reached.IsZero() {
			reached = t
		}
	}
	return most, at, reached
}
