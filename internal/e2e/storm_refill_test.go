package e2e

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/oracle"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// Invariant 3 of the storms (checkInvariants): every top-up was decided on
// a balance the account answered, below the threshold or, with a refill
// under way, below the target; under the predictive policy, also on a
// projection below the threshold that its decision line shows and the
// account's answers bear out (storm_predictive_test.go).

// checkRefill is invariant 3 for one binary under the threshold policy.
func checkRefill(t *testing.T, reads []read, decs []line, tops []sim.TopUp, owner []int, intents []ledger.Record) {
	t.Helper()
	checkRefillUnder(t, nil, reads, decs, tops, owner, intents)
}

// checkRefillUnder replays the balances the account answered through the
// refill rule and checks the balance each top-up was decided on. A balance
// answered with no decision logged for it may not have reached the ledger
// (the process died first, or the client had given up): the replay takes
// both branches. With proj (the predictive policy), a balance whose decision
// line shows a projection below the threshold that proj accepts starts a
// refill too, and a top-up at or above the threshold with no refill under
// way is allowed when its own decision line says projected_below_threshold
// with such a projection.
func checkRefillUnder(t *testing.T, proj *projections, reads []read, decs []line, tops []sim.TopUp, owner []int, intents []ledger.Record) {
	t.Helper()
	before := make([]map[bool]bool, len(reads)) // refilling states possible before each read
	states := map[bool]bool{false: true}        // a fresh ledger is not refilling
	for k, rd := range reads {
		before[k] = states
		d := decisionOf(rd, decs)
		projected := proj != nil && d != nil && proj.accepts(rd, d)
		next := map[bool]bool{}
		for s := range states {
			next[refills(s, rd.value) || projected] = true
		}
		if d == nil {
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
		switch {
		case ok:
		case proj == nil:
			t.Errorf("invariant 3: top-up #%d (intent %s) decided on a balance of %s, at or above the threshold %s with no refill under way (target %s)",
				tu.Seq, in.ID, v, stormThreshold, stormTarget)
		default:
			proj.checkTopUp(t, tu, in, reads[k], decs)
		}
	}
}

// stormSettings are the binary's threshold and target as internal/oracle
// takes them (rule 2 reads nothing else): the storm runs the threshold
// policy.
var stormSettings = policy.Settings{Threshold: stormThreshold, Target: stormTarget}

// refills is the contract's rule 2, as internal/oracle states it: whether a
// check that reads v wants a top-up, given whether a refill was under way;
// a refill is under way after it if it does.
func refills(refilling bool, v decimal.Decimal) bool {
	_, ok := oracle.Want(stormSettings, policy.Input{Balance: v, Refilling: refilling})
	return ok
}

// decided reports whether a decision line was logged for the balance rd.
func decided(rd read, decs []line) bool { return decisionOf(rd, decs) != nil }

// decisionOf is the decision line logged for the balance rd: one of its
// value from 100ms before the answer to 3s after; nil if none.
func decisionOf(rd read, decs []line) *line {
	return decisionIn(rd, decs, rd.at.Add(3*time.Second), func(line) bool { return true })
}

// decisionIn is the first decision line of decs that keep accepts, for the
// balance rd, logged from 100ms before the answer to until; nil if none.
func decisionIn(rd read, decs []line, until time.Time, keep func(line) bool) *line {
	for i, d := range decs {
		at, err := time.Parse(time.RFC3339Nano, d.str("ts"))
		if err != nil || at.Before(rd.at.Add(-100*time.Millisecond)) || at.After(until) {
			continue
		}
		if v, err := decimal.NewFromString(d.str("balance")); err == nil && v.Equal(rd.value) && keep(d) {
			return &decs[i]
		}
	}
	return nil
}

// The fleet's clock and its replicas' logs may disagree by a few
// milliseconds: Redis's TIME, carried on each pod's monotonic clock, and
// the logger's wall clock.
const fleetClockSlack = 50 * time.Millisecond

// fleetDecisionLag bounds the time between a check's intent (its time is
// read before the ledger's update) and its decision line (logged after the
// update): the update's round trips, and a pause of the process between
// them.
const fleetDecisionLag = stormMaxPause + 5*time.Second

// fleetDecision is one decision line of a replica.
type fleetDecision struct {
	at        time.Time
	proc      int
	balance   decimal.Decimal
	action    string
	refilling bool
	// committed: the ledger update of the check was written. A decision
	// logged before "ledger write failed" changed nothing in Redis.
	committed bool
}

// fleetDecisions returns the decision lines of every replica, oldest first,
// each with whether its ledger update was written.
func fleetDecisions(all []line) []fleetDecision {
	var out []fleetDecision
	for i, l := range all {
		if l.msg() != "decision" {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, l.str("ts"))
		if err != nil {
			continue
		}
		v, err := decimal.NewFromString(l.str("balance"))
		if err != nil {
			continue
		}
		refilling, _ := l.fields["refilling"].(bool)
		d := fleetDecision{at: at, proc: l.proc, balance: v, action: l.str("action"), refilling: refilling, committed: true}
		for _, next := range all[i+1:] {
			if next.proc != l.proc || next.fields == nil {
				continue
			}
			if m := next.msg(); m == "ledger write failed" || m == "decision" || m == "topup" {
				d.committed = m != "ledger write failed"
				break
			}
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b fleetDecision) int { return a.at.Compare(b.at) })
	return out
}

// checkFleetRefill is invariant 3 for a fleet, whose checks may overlap (a
// check that outlasts its tick's lease, a paused replica, every replica
// reading while Redis is down), so that the fleet's ledger takes the
// readings in another order than the account answered them. For each
// top-up's intent it checks that
//
//   - its balance is one the account answered before it (the latest such
//     answer is the one it was decided on), and no credit reached the
//     account between that answer and the intent: a claim on a balance
//     that a credit had made stale is a second top-up for one need;
//   - the balance wants a top-up (refills) with the refill state the
//     fleet's ledger may have had when the intent was written: the state
//     written by the last decision committed before it, or by any decision
//     committed while its update ran, or by a balance answered with no
//     decision logged for it (its replica may have died after writing it).
//
// The decision lines are the replicas' own record of the ledger's refill
// state; the account's answers are the witness of the balances.
func checkFleetRefill(t *testing.T, answered []read, all []line, tops []sim.TopUp, owner []int, intents []ledger.Record) time.Duration {
	t.Helper()
	reads := slices.Clone(answered)
	slices.SortStableFunc(reads, func(a, b read) int { return a.at.Compare(b.at) })
	decs := fleetDecisions(all)
	var logged []line
	for _, l := range all {
		if l.msg() == "decision" {
			logged = append(logged, l)
		}
	}
	used := map[int]bool{}
	seen := map[int]bool{}
	var stalest time.Duration
	for i, tu := range tops {
		if owner[i] < 0 || seen[owner[i]] {
			continue
		}
		seen[owner[i]] = true
		in := intents[owner[i]]
		v := in.BalanceBefore
		k := -1
		for j, rd := range reads {
			if rd.at.After(in.At.Add(fleetClockSlack)) {
				break
			}
			if rd.value.Equal(v) {
				k = j
			}
		}
		if k < 0 {
			t.Errorf("invariant 3: intent %s (top-up #%d) was decided on %s, which the account never answered before it", in.ID, tu.Seq, v)
			continue
		}
		readAt := reads[k].at
		stalest = max(stalest, in.At.Sub(readAt))
		for _, c := range tops {
			if c.Applied && c.CreditAt.After(readAt) && c.CreditAt.Before(in.At) {
				t.Errorf("invariant 3: intent %s (top-up #%d) was decided on the balance %s answered at %s, but the credit of top-up #%d reached the account at %s, before the intent at %s: it claimed on a stale balance",
					in.ID, tu.Seq, v, stamp(readAt), c.Seq, stamp(c.CreditAt), stamp(in.At))
			}
		}
		own := -1
		for j, d := range decs {
			if !used[j] && d.committed && d.action == "top_up" && d.balance.Equal(v) &&
				!d.at.Before(in.At.Add(-fleetClockSlack)) && !d.at.After(in.At.Add(fleetDecisionLag)) {
				own = j
				break
			}
		}
		until := in.At.Add(3 * time.Second) // no decision line: its replica died between the update and the log
		if own >= 0 {
			used[own] = true
			until = decs[own].at
		}
		states := fleetRefillStates(decs, reads, logged, in.At.Add(-fleetClockSlack), until, own)
		ok := false
		for s := range states {
			ok = ok || refills(s, v)
		}
		if !ok {
			t.Errorf("invariant 3: top-up #%d (intent %s) decided on a balance of %s, at or above the threshold %s with no refill under way in the fleet's ledger (target %s; refill states possible %v)",
				tu.Seq, in.ID, v, stormThreshold, stormTarget, states)
		}
	}
	return stalest
}

// fleetRefillStates are the refill states the fleet's ledger may have held
// for an update that started at from and was written by until: the state
// of the last decision committed before from (none: a fresh ledger, not
// refilling), of every decision committed from from to until but the
// update's own (skip), and of every balance answered from 3s before that
// last decision to until with no decision logged for it, which may have
// been written either way.
func fleetRefillStates(decs []fleetDecision, reads []read, logged []line, from, until time.Time, skip int) map[bool]bool {
	states := map[bool]bool{}
	since := from.Add(-3 * time.Second)
	base := -1
	for j, d := range decs {
		if d.committed && d.at.Before(from) {
			base = j
		}
	}
	if base < 0 {
		states[false] = true
	} else {
		states[decs[base].refilling] = true
		since = decs[base].at.Add(-3 * time.Second)
	}
	for j, d := range decs {
		if j != skip && d.committed && !d.at.Before(from) && d.at.Before(until) {
			states[d.refilling] = true
		}
	}
	for _, rd := range reads {
		if rd.at.Before(since) || !rd.at.Before(until) || decided(rd, logged) {
			continue
		}
		states[refills(false, rd.value)] = true
		states[refills(true, rd.value)] = true
	}
	return states
}
