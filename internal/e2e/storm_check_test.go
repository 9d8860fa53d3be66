package e2e

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
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
// pause (SIGSTOP to SIGCONT or SIGKILL), is not counted: nothing runs then.
const needTolerance = stormFlight + stormWindow + stormInterval + (5*stormTimeout + 5600*time.Millisecond) + time.Second

// checkStorm checks the account's record of the storm against the
// contract's invariants:
//
//  1. every top-up request that reached the account had its intent durable in
//     the ledger before it (rule 4), and an intent sent again only after 429s
//     (rule 5: nothing that may have reached Vonage is re-sent), at the
//     account and at the HTTP/2 front (no request after one the front reset
//     or disowned); an intent recorded not_sent never reached the account
//     but as a 429, nor the front but as a request it answered;
//  2. no top-up reached the account while an earlier applied one was still
//     uncredited and inside its window, from the end of its last attempt
//     (or its intent plus stormFlight if that end was never written) (rules
//     3 and 6);
//  3. every top-up was decided on a balance the account answered below the
//     threshold, or below the target while a refill was under way by the
//     account's own answers (rule 2), and never at or above the target;
//  4. at most TOPUP_MAX_PER_DAY requests that may have reached the account;
//  5. no need (the balance below the threshold, computed exactly from the
//     account's model) waited longer than needTolerance for a request,
//     until the daily cap was reached.
//
// The ledger's times are the watchdog's, whose wall clock the storm steps;
// the account's and the front's are real. Every check compares them in real
// time: the ledger's moved back by the offset its times carry
// (stormRun.ledgerOffset; checkClock checks that the watchdog logged and
// applied every step, so that they all carry it).
func checkStorm(t *testing.T, r *rig, run *stormRun) {
	t.Helper()
	tops := r.acct.TopUps()
	st := r.ledger()
	checkClock(t, r, run)
	intents := realTimes(st.TopUps, run.ledgerOffset())
	sort.SliceStable(intents, func(i, j int) bool { return intents[i].At.Before(intents[j].At) })
	m := newModel(r.acct, run.bursts, tops)
	m.check(t, r.acct, tops)

	owner := ownersOf(t, tops, intents)
	checkNoResend(t, tops, owner, intents)
	checkNotSent(t, tops, owner, intents)
	checkFront(t, run.front.topUps(), intents)
	checkNoDouble(t, tops, owner, intents)
	checkRefill(t, r.balanceReads(), r.book.logs(0, "decision"), tops, owner, intents)
	capAt := checkCap(t, tops, intents)
	gap := checkNeeds(t, m, tops, intents, run, capAt)
	report(t, r, run, tops, intents, capAt, gap)
	if t.Failed() || os.Getenv("E2E_STORM_VERBOSE") != "" {
		t.Logf("storm timeline (seconds from the start):\n%s", timeline(run, m, tops, intents, capAt))
	}
}

// ownersOf maps each top-up request to the index of its intent: the last
// intent written at or before the account received it. Checks are
// serialised and one process runs at a time, so the requests of one intent
// all come before the next intent.
func ownersOf(t *testing.T, tops []sim.TopUp, intents []ledger.Record) []int {
	t.Helper()
	owner := make([]int, len(tops))
	for i, tu := range tops {
		k := sort.Search(len(intents), func(k int) bool { return intents[k].At.After(tu.ReceivedAt) }) - 1
		owner[i] = k
		if k < 0 {
			t.Errorf("invariant 1: top-up #%d reached the account at %s with no intent in the ledger before it",
				tu.Seq, stamp(tu.ReceivedAt))
		}
	}
	return owner
}

// checkNoResend: within one intent only 429s come before another attempt.
func checkNoResend(t *testing.T, tops []sim.TopUp, owner []int, intents []ledger.Record) {
	t.Helper()
	for i, tu := range tops {
		if tu.Status == 429 || owner[i] < 0 {
			continue
		}
		for j := i + 1; j < len(tops) && owner[j] == owner[i]; j++ {
			t.Errorf("invariant 1: intent %s sent again (#%d at %s) after #%d (%s, status %d) may have reached the account",
				intents[owner[i]].ID, tops[j].Seq, stamp(tops[j].ReceivedAt), tu.Seq, tu.Result, tu.Status)
		}
	}
}

// checkNotSent: an intent recorded not_sent (provably never reached Vonage)
// owns no request that reached the account, but 429s (which the contract
// counts as not sent: nothing was applied).
func checkNotSent(t *testing.T, tops []sim.TopUp, owner []int, intents []ledger.Record) {
	t.Helper()
	for i, tu := range tops {
		if owner[i] < 0 || intents[owner[i]].Outcome != ledger.NotSent {
			continue
		}
		if tu.Status != 429 || tu.Applied {
			t.Errorf("invariant 1: intent %s was recorded not_sent, but its top-up #%d reached the account at %s (%s, status %d, fault %q)",
				intents[owner[i]].ID, tu.Seq, stamp(tu.ReceivedAt), tu.Result, tu.Status, tu.Fault)
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

// windowEndOf is when the window of a top-up that may have reached Vonage
// ends: a window after the end of its last attempt, or, if that was never
// written (its process died first), after the latest that end could be.
func windowEndOf(in ledger.Record) time.Time {
	if !in.FinishedAt.IsZero() {
		return in.FinishedAt.Add(stormWindow)
	}
	return in.At.Add(stormFlight + stormWindow)
}

// checkNoDouble: no request while an applied top-up of another intent was
// uncredited and inside its window.
func checkNoDouble(t *testing.T, tops []sim.TopUp, owner []int, intents []ledger.Record) {
	t.Helper()
	for i, ti := range tops {
		if !ti.Applied || owner[i] < 0 {
			continue
		}
		windowEnd := windowEndOf(intents[owner[i]])
		for j := i + 1; j < len(tops); j++ {
			tj := tops[j]
			if owner[j] != owner[i] && tj.ReceivedAt.Before(ti.CreditAt) && tj.ReceivedAt.Before(windowEnd) {
				t.Errorf("invariant 2: top-up #%d reached the account at %s while #%d was applied, uncredited until %s and inside its window until %s",
					tj.Seq, stamp(tj.ReceivedAt), ti.Seq, stamp(ti.CreditAt), stamp(windowEnd))
			}
		}
	}
}

// checkRefill replays the balances the account answered through the refill
// rule and checks the balance each top-up was decided on. A balance answered
// with no decision logged for it may not have reached the ledger (the process
// died first, or the client had given up): the replay takes both branches.
func checkRefill(t *testing.T, reads []read, decs []line, tops []sim.TopUp, owner []int, intents []ledger.Record) {
	t.Helper()
	before := make([]map[bool]bool, len(reads)) // refilling states possible before each read
	states := map[bool]bool{false: true}        // a fresh ledger is not refilling
	for k, rd := range reads {
		before[k] = states
		next := map[bool]bool{}
		for s := range states {
			next[refills(s, rd.value)] = true
		}
		if !decided(rd, decs) {
			for s := range states {
				next[s] = true
			}
		}
		states = next
	}
	seen := map[int]bool{}
	for i, tu := range tops {
		if owner[i] < 0 || seen[owner[i]] {
			continue
		}
		seen[owner[i]] = true
		in := intents[owner[i]]
		k := sort.Search(len(reads), func(k int) bool { return reads[k].at.After(in.At) }) - 1
		if k < 0 {
			t.Errorf("invariant 3: intent %s (top-up #%d) has no balance answered before it", in.ID, tu.Seq)
			continue
		}
		v := reads[k].value
		if !v.Equal(in.BalanceBefore) {
			t.Errorf("invariant 3: intent %s was decided on %s, but the account's last answer before it was %s",
				in.ID, in.BalanceBefore, v)
		}
		ok := false
		for s := range before[k] {
			ok = ok || refills(s, v)
		}
		if !ok {
			t.Errorf("invariant 3: top-up #%d (intent %s) decided on a balance of %s, at or above the threshold %s with no refill under way (target %s)",
				tu.Seq, in.ID, v, stormThreshold, stormTarget)
		}
	}
}

// refills is the contract's rule 2: whether a check that reads v wants a
// top-up, given whether a refill was under way.
func refills(refilling bool, v decimal.Decimal) bool {
	if refilling {
		return v.LessThan(stormTarget)
	}
	return v.LessThan(stormThreshold)
}

// decided reports whether a decision line was logged for the balance rd.
func decided(rd read, decs []line) bool {
	for _, d := range decs {
		at, err := time.Parse(time.RFC3339Nano, d.str("ts"))
		if err != nil || at.Before(rd.at.Add(-100*time.Millisecond)) || at.After(rd.at.Add(3*time.Second)) {
			continue
		}
		if v, err := decimal.NewFromString(d.str("balance")); err == nil && v.Equal(rd.value) {
			return true
		}
	}
	return false
}

// checkCap checks the daily cap at the account and in the ledger, and
// returns when the watchdog's own count reached it (zero if it did not).
func checkCap(t *testing.T, tops []sim.TopUp, intents []ledger.Record) time.Time {
	t.Helper()
	reached := 0
	for _, tu := range tops {
		if tu.Status != 429 {
			reached++
		}
	}
	if reached > stormCap {
		t.Errorf("invariant 4: %d top-up requests may have reached the account, over the daily cap of %d", reached, stormCap)
	}
	var counted []ledger.Record
	for _, in := range intents {
		if in.MayHaveReached() {
			counted = append(counted, in)
		}
	}
	if len(counted) > stormCap {
		t.Errorf("invariant 4: the ledger holds %d top-ups that may have reached Vonage, over the daily cap of %d", len(counted), stormCap)
	}
	if len(counted) >= stormCap {
		return counted[stormCap-1].At
	}
	return time.Time{}
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
func checkClock(t *testing.T, r *rig, run *stormRun) {
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

// down is how much of [from, to] the watchdog was not running.
func (run *stormRun) down(from, to time.Time) time.Duration {
	var d time.Duration
	for _, dt := range run.downtimes {
		a, b := maxTime(dt[0], from), minTime(dt[1], to)
		if b.After(a) {
			d += b.Sub(a)
		}
	}
	return d
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }

// report logs what the storm did: the figures of the issue.
func report(t *testing.T, r *rig, run *stormRun, tops []sim.TopUp, intents []ledger.Record, capAt time.Time, gap time.Duration) {
	t.Helper()
	stats := r.acct.Stats()
	byResult := map[string]int{}
	uncredited := 0
	for i, tu := range tops {
		key := string(tu.Result)
		if tu.Fault != sim.FaultNone {
			key += "/" + string(tu.Fault)
		}
		byResult[key]++
		for _, ti := range tops[:i] {
			if ti.Applied && tu.ReceivedAt.Before(ti.CreditAt) {
				uncredited++
			}
		}
	}
	outcomes := map[ledger.Outcome]int{}
	for _, in := range intents {
		outcomes[in.Outcome]++
	}
	reasons := map[string]int{}
	for _, d := range r.book.logs(0, "decision") {
		reasons[d.str("action")+"/"+d.str("reason")]++
	}
	capped := "not reached"
	if !capAt.IsZero() {
		capped = fmt.Sprintf("reached %s into the storm", capAt.Sub(run.start).Round(time.Second))
	}
	h2, hooked := 0, 0
	for _, p := range run.procs {
		if p.h2 {
			h2++
		}
		if p.hook {
			hooked++
		}
	}
	var plain, hook, killed int
	var paused, longest time.Duration
	for _, p := range run.pauses {
		if p.hook {
			hook++
		} else {
			plain++
		}
		if p.killed {
			killed++
		}
		paused += p.to.Sub(p.from)
		longest = max(longest, p.to.Sub(p.from))
	}
	var offsets []string
	for _, s := range run.steps {
		offsets = append(offsets, s.offset.Round(100*time.Millisecond).String())
	}
	t.Logf("storm: seed %d, %s, %d starts (%d through the HTTP/2 front, %d with the pause hook), %d restarts (SIGKILL), weather %s", run.seed,
		run.end.Sub(run.start).Round(time.Second), len(run.procs), h2, hooked, len(run.kills), strings.Join(run.phases, " → "))
	t.Logf("storm: %d pauses (%d SIGSTOP of a running process, %d stopped by the hook between a claim and its request; %d ended with SIGKILL), %s paused in all, longest %s",
		len(run.pauses), plain, hook, killed, paused.Round(time.Millisecond), longest.Round(time.Millisecond))
	t.Logf("storm: %d clock steps, to offsets %s; %d \"intent too old to send\"", len(run.steps), strings.Join(offsets, " → "),
		len(r.book.logs(0, "intent too old to send")))
	t.Logf("storm: account saw %d balance reads, %d top-up requests (%d applied); faults injected %v",
		stats.BalanceRequests, stats.TopUpRequests, stats.TopUpsApplied, stats.Faults)
	t.Logf("storm: HTTP/2 front: %d requests received whole on %d connections: %v", run.front.srv.Received(), run.front.srv.Conns(), run.front.counts())
	t.Logf("storm: top-ups by result/fault at the account %v", byResult)
	t.Logf("storm: ledger intents by outcome %v; %d confirmed in the log; daily cap %d %s",
		outcomes, len(r.book.logs(0, "topup confirmed")), stormCap, capped)
	t.Logf("storm: decisions %v", reasons)
	t.Logf("storm: longest need without a request %s (tolerance %s); %d requests while an applied one was uncredited (window expired first); lowest balance %s; %s below the threshold; %d /metrics scrapes",
		gap.Round(time.Millisecond), needTolerance, uncredited, lowest(r.acct), r.acct.TimeBelow(stormThreshold).Round(time.Millisecond), run.scrapes)
}

func lowest(a *sim.Account) string {
	v, _ := a.Lowest()
	return v.StringFixed(2)
}
