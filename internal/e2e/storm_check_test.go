package e2e

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/simcheck"
)

// needTolerance is the longest a need may wait for a top-up request to
// reach the account. A request that may have reached Vonage (a 500, a reset,
// a timeout, an applied one whose answer was lost) holds its window from the
// end of its last attempt, which comes at most stormFlight after its intent
// (no attempt starts after a quarter of the window, and one lasts at most
// the request timeout), or from the intent plus stormFlight when its process
// died first; a run of top-ups that were not sent backs off for at most a
// window after the last one ended (min(5m, window)), which a window covers
// too. Then the next check comes within one interval, and one check may take
// a whole failed balance read (5 attempts of up to the request timeout, with
// backoff floored by the 1s Retry-After: 5×1s + 1+1+1.2+2.4s = 10.6s) before
// it sends; one more second covers the first attempt's latency and a
// restart's start-up. Downtime between a kill and the next start, and every
// pause (SIGSTOP to SIGCONT or SIGKILL), is not counted: nothing runs then;
// nor, in a fleet, a span when Redis is down (no top-up can be claimed) or
// every replica is (stormRun.downtimes).
const needTolerance = stormFlight + stormWindow + stormInterval + (5*stormTimeout + 5600*time.Millisecond) + time.Second

// checkStorm checks the storm of one binary: its clock steps (checkClock)
// and the invariants (checkInvariants, with refill as invariant 3) against
// the ledger in its state file, whose times carry the steps it applied.
func checkStorm(t *testing.T, r *world, run *stormRun, refill refillCheck) {
	t.Helper()
	st := r.ledger()
	checkClock(t, r, run)
	rec := checkInvariants(t, r, run, st.TopUps, refill)
	rec.report(t, r, run)
}

// stormRecord is what the account and the ledger recorded of a storm, as
// checkInvariants found it.
type stormRecord struct {
	tops    []sim.TopUp
	intents []ledger.Record // on the real clock, oldest first
	owner   []int           // the index in intents of each top-up's intent, -1 for none
	model   *model
	capAt   time.Time // when the ledger's count reached the cap, zero if it did not
	gap     time.Duration
}

// refillCheck is invariant 3 (checkRefill, checkFleetRefill).
type refillCheck func(t *testing.T, reads []read, decs []line, tops []sim.TopUp, owner []int, intents []ledger.Record)

// checkInvariants checks the account's record of a storm and the ledger's
// records against the contract's invariants, the first, second and fourth
// with internal/simcheck, as the month in simulated time does:
//
//  1. every top-up request that reached the account had its intent durable in
//     the ledger before it (simcheck.IntentFirst), and an intent sent again
//     only after 429s (simcheck.Resent: nothing that may have reached Vonage
//     is re-sent), at the account and at the HTTP/2 front (no request after
//     one the front reset or disowned: checkFront); an intent recorded
//     not_sent never reached the account but as a 429, nor the front but as
//     a request it answered; an intent recorded succeeded or rejected got
//     the answer the README's table of top-up outcomes gives that outcome
//     (simcheck.Outcome; unknown goes with any answer, as one may be lost);
//  2. no top-up reached the account while an earlier applied one was still
//     uncredited and inside its window, from the end of its last attempt
//     (or its intent plus stormFlight if that end was never written) (rules
//     3 and 6; simcheck.Window);
//  3. every top-up was decided on a balance the account answered below the
//     threshold, or below the target while a refill was under way by the
//     account's own answers (rule 2), and never at or above the target;
//     under the predictive policy, also at or above the threshold on a
//     projection below it that its decision line shows and the account's
//     answers bear out (refill: checkRefill for one binary under the
//     threshold policy, checkPredictiveRefill under the predictive one,
//     checkFleetRefill for a fleet);
//  4. at most TOPUP_MAX_PER_DAY requests that may have reached the account,
//     and top-ups that may have reached Vonage in the ledger
//     (simcheck.DailyCap);
//  5. no need (the balance below the threshold, computed exactly from the
//     account's model) waited longer than needTolerance for a request,
//     until the daily cap was reached (checkNeeds: the month bounds its
//     waits check by check instead, monthNeedsWait, as its checks are
//     exact instants and this storm's are not).
//
// The ledger's times are the watchdog's, whose wall clock the storm steps
// (one binary) or Redis's (a fleet); the account's and the front's are
// real. Every check compares them in real time: the ledger's moved back by
// the offset its times carry (stormRun.ledgerOffset; checkClock checks that
// one binary logged and applied every step, so that they all carry it; a
// fleet's carry none, which checkFleetClock checks).
func checkInvariants(t *testing.T, r *world, run *stormRun, records []ledger.Record, refill refillCheck) *stormRecord {
	t.Helper()
	rec := &stormRecord{tops: r.acct.TopUps()}
	tops := rec.tops
	intents := realTimes(records, run.ledgerOffset())
	sort.SliceStable(intents, func(i, j int) bool { return intents[i].At.Before(intents[j].At) })
	rec.intents = intents
	rec.model = newModel(r.acct, run.balance, run.bursts, tops)
	rec.model.check(t, r.acct, tops)

	sc, vs := simcheck.New(tops, simcheck.FromLedger(intents, stormWindow, stormFlight))
	rec.owner = sc.Owner
	vs = append(vs, sc.NoResend()...)
	vs = append(vs, sc.Outcomes(false)...)
	vs = append(vs, sc.NoDouble()...)
	_, _, capped := sc.Cap(stormCap)
	capAt, led := sc.LedgerCap(stormCap)
	simcheck.Report(t, append(append(vs, capped...), led...))
	checkFront(t, run.front.topUps(), intents)
	refill(t, r.balanceReads(), r.book.logs(0, "decision"), tops, rec.owner, intents)
	rec.capAt = capAt
	rec.gap = checkNeeds(t, rec.model, tops, intents, run, rec.capAt)
	return rec
}

// report logs the storm's figures, and its timeline if the test failed
// (or E2E_STORM_VERBOSE is set).
func (rec *stormRecord) report(t *testing.T, r *world, run *stormRun) {
	t.Helper()
	report(t, r, run, rec.tops, rec.intents, rec.capAt, rec.gap)
	if t.Failed() || os.Getenv("E2E_STORM_VERBOSE") != "" {
		t.Logf("storm timeline (seconds from the start):\n%s", timeline(run, rec.model, rec.tops, rec.intents, rec.capAt))
	}
	if path := os.Getenv("E2E_STORM_LOG"); path != "" {
		var sb strings.Builder
		for _, l := range r.book.all() {
			fmt.Fprintf(&sb, "%8.3fs [%d %s] %s\n", l.at.Sub(run.start).Seconds(), l.proc, l.stream, l.text)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Errorf("E2E_STORM_LOG: %v", err)
		}
	}
}

// checkFront: at the HTTP/2 front, a top-up request that it did not answer
// (reset before or after forwarding it, disowned with a GOAWAY, dropped on a
// closing connection) may have reached Vonage for all the client knows: its
// intent must not be recorded not_sent, and no request of the same intent
// may follow it. A request that the front answered is the account's (see
// checkNoResend).
func checkFront(t *testing.T, front []frontRequest, intents []ledger.Record) {
	t.Helper()
	owner := make([]int, len(front))
	for i, fr := range front {
		owner[i] = sort.Search(len(intents), func(k int) bool { return intents[k].At.After(fr.Time) }) - 1
		if owner[i] < 0 {
			t.Errorf("invariant 1: top-up request #%d reached the HTTP/2 front at %s with no intent in the ledger before it",
				fr.Seq, stamp(fr.Time))
		}
	}
	for i, fr := range front {
		if fr.answered || owner[i] < 0 {
			continue
		}
		in := intents[owner[i]]
		if in.Outcome == ledger.NotSent {
			t.Errorf("invariant 1: intent %s was recorded not_sent, but the HTTP/2 front received its request #%d whole at %s (%s, forwarded %v)",
				in.ID, fr.Seq, stamp(fr.Time), fr.how, fr.forwarded)
		}
		for j := i + 1; j < len(front) && owner[j] == owner[i]; j++ {
			t.Errorf("invariant 1: intent %s sent again (front request #%d at %s) after the front %s its request #%d (forwarded %v)",
				in.ID, front[j].Seq, stamp(front[j].Time), fr.how, fr.Seq, fr.forwarded)
		}
	}
}

// checkNeeds checks that no need waited longer than needTolerance for a
// top-up request (or an intent: one that died with its process still holds
// the window), downtime excepted, until the cap was reached. It returns the
// longest wait.
func checkNeeds(t *testing.T, m *model, tops []sim.TopUp, intents []ledger.Record, run *stormRun, capAt time.Time) time.Duration {
	t.Helper()
	end := run.end
	if !capAt.IsZero() && capAt.Before(end) {
		end = capAt
	}
	var acts []time.Time
	for _, tu := range tops {
		acts = append(acts, tu.ReceivedAt)
	}
	for _, in := range intents {
		acts = append(acts, in.At)
	}
	slices.SortFunc(acts, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	for _, iv := range m.below(stormThreshold, end) {
		last := iv[0]
		gap := func(to time.Time) {
			g := to.Sub(last) - run.down(last, to)
			longest = max(longest, g)
			if g > needTolerance {
				t.Errorf("invariant 5: the balance was below the threshold from %s and no top-up reached the account from %s to %s (%s running, over the tolerance of %s)",
					stamp(iv[0]), stamp(last), stamp(to), g.Round(time.Millisecond), needTolerance)
			}
		}
		for _, a := range acts {
			if a.Before(iv[0]) || !a.Before(iv[1]) {
				continue
			}
			gap(a)
			last = a
		}
		gap(iv[1])
	}
	return longest
}

// realTimes returns the records with their times moved back by offset, the
// offset of the watchdog's wall clock from the real time that they carry.
func realTimes(records []ledger.Record, offset time.Duration) []ledger.Record {
	out := slices.Clone(records)
	for i := range out {
		r := &out[i]
		for _, tm := range []*time.Time{&r.At, &r.FinishedAt, &r.ConfirmedAt, &r.HoldUntil} {
			if !tm.IsZero() {
				*tm = tm.Add(-offset)
			}
		}
	}
	return out
}

// checkClock checks that the watchdog logged every step of its wall clock,
// once, as the step it was (within a few milliseconds: the time between its
// readings of the two clocks), and wrote it into its ledger; that it logged
// no step the storm did not make (a pause, which stops no clock, is no
// step); and that it redated no record (a record ahead of its clock: none
// can be, when every step was applied).
func checkClock(t *testing.T, r *world, run *stormRun) {
	t.Helper()
	for _, s := range run.steps {
		if d := (s.logged - s.step).Abs(); d > 5*time.Millisecond {
			t.Errorf("clock: the step of %s at %s (offset %s, process %d) was logged as a step of %s",
				s.step, stamp(s.at), s.offset, s.proc, s.logged)
		}
		if !s.applied {
			t.Errorf("clock: the step of %s at %s was not applied to the ledger", s.step, stamp(s.at))
		}
	}
	for _, l := range run.spurious {
		t.Errorf("clock: process %d logged a step the storm did not make: %s", l.proc, l.text)
	}
	for _, l := range r.book.logs(0, "ledger record dated ahead of the clock: counted as written now") {
		t.Errorf("clock: process %d redated a record, which no step left ahead of its clock: %s", l.proc, l.text)
	}
	for _, l := range r.book.logs(0, "system clock stepped while no watchdog watched: the ledger's times moved by the step") {
		t.Errorf("clock: process %d found a step made while no watchdog watched, and the storm made none: %s", l.proc, l.text)
	}
}
