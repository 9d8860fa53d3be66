// Package simcheck is the one checker of the simulated account's record
// (internal/sim: every top-up request, its answer, its credit) against the
// watchdog's own record of the same run (its intents, from its ledger or
// its log), for the invariants that both the fault storm (internal/e2e)
// and the month in simulated time (internal/watchdog) hold the watchdog
// to. It is imported by tests only.
//
// It knows nothing of wall or simulated time: every time it is given is on
// the account's clock, and the caller puts the watchdog's times there
// first. It returns the violations it finds, for the caller to report;
// Report reports them to a test.
package simcheck

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// Violation is one case of a broken invariant.
type Violation struct {
	// Invariant names the invariant, the same for all its cases.
	Invariant string
	Text      string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Text }

// The invariants' names.
const (
	IntentFirst = "intent first"
	Resent      = "re-sent"
	Outcome     = "outcome"
	Window      = "window"
	DailyCap    = "daily cap"
)

// Report fails t for every violation.
func Report(t testing.TB, vs []Violation) {
	t.Helper()
	for _, v := range vs {
		t.Errorf("%s", v)
	}
}

// Intent is one top-up the watchdog decided, as it recorded it.
type Intent struct {
	ID string
	// At is when its intent was written: no request of it comes earlier.
	At time.Time
	// Outcome is its recorded outcome; ledger.Pending if none was written
	// (its process died first).
	Outcome ledger.Outcome
	// WindowEnd is when its window ends by the watchdog's record.
	WindowEnd time.Time
}

// FromLedger returns the records as intents, in their order: a window
// counts from the end of the last attempt or, when that was never written
// (the process died first), from the latest that end can be, flight after
// the intent (README: a quarter of the window plus the request timeout).
func FromLedger(records []ledger.Record, window, flight time.Duration) []Intent {
	out := make([]Intent, len(records))
	for i, r := range records {
		end := r.At.Add(flight + window)
		if !r.FinishedAt.IsZero() {
			end = r.FinishedAt.Add(window)
		}
		out[i] = Intent{ID: r.ID, At: r.At, Outcome: r.Outcome, WindowEnd: end}
	}
	return out
}

// OutcomeOf is the outcome the README's table of top-up outcomes gives a
// request that the account answered so, when the answer reaches the
// watchdog whole: a 429 not_sent; another 4xx rejected; a 2xx with a whole
// body succeeded; anything else (a 5xx, a reset, no answer, an unreadable
// 2xx) unknown.
func OutcomeOf(t sim.TopUp) ledger.Outcome {
	switch {
	case t.Status == http.StatusTooManyRequests:
		return ledger.NotSent
	case t.Status >= 400 && t.Status < 500:
		return ledger.Rejected
	case t.Status >= 200 && t.Status < 300 && t.Fault == sim.FaultNone:
		return ledger.Succeeded
	}
	return ledger.Unknown
}

// Run is what the account and the watchdog recorded of one run.
type Run struct {
	TopUps  []sim.TopUp // the account's, in the order received
	Intents []Intent    // the watchdog's, oldest first
	// Owner is, for each top-up request, the index in Intents of the intent
	// it was sent for: the last written at or before it reached the
	// account; -1 for none.
	Owner []int
}

// New returns the run, and a violation of IntentFirst for every request
// that reached the account with no intent written before it (the
// watchdog writes its intent durably before it sends anything). The
// requests of one intent must all come before the next intent: checks are
// serialised, and one process (or one replica's claim) sends at a time.
func New(tops []sim.TopUp, intents []Intent) (*Run, []Violation) {
	r := &Run{TopUps: tops, Intents: intents, Owner: make([]int, len(tops))}
	var vs []Violation
	for i, tu := range tops {
		k := sort.Search(len(intents), func(k int) bool { return intents[k].At.After(tu.ReceivedAt) }) - 1
		r.Owner[i] = k
		if k < 0 {
			vs = append(vs, Violation{IntentFirst, fmt.Sprintf("top-up #%d reached the account at %s with no intent written before it",
				tu.Seq, stamp(tu.ReceivedAt))})
		}
	}
	return r, vs
}

// Requests is a run in which each top-up request is its own intent, whose
// window ends window after the request reached the account: the earliest
// its last attempt can end, so that a window from the recorded end would
// only be longer. It is for a test that reads no intents.
func Requests(tops []sim.TopUp, window time.Duration) *Run {
	r := &Run{TopUps: tops, Intents: make([]Intent, len(tops)), Owner: make([]int, len(tops))}
	for i, tu := range tops {
		r.Intents[i] = Intent{ID: fmt.Sprintf("of #%d", tu.Seq), At: tu.ReceivedAt, Outcome: OutcomeOf(tu), WindowEnd: tu.ReceivedAt.Add(window)}
		r.Owner[i] = i
	}
	return r
}

// requestsOf returns the indexes of the requests sent for intent k.
func (r *Run) requestsOf(k int) []int {
	var out []int
	for i, o := range r.Owner {
		if o == k {
			out = append(out, i)
		}
	}
	return out
}

func stamp(t time.Time) string { return t.Format("2006-01-02 15:04:05.000") }
