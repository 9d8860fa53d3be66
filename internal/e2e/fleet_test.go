package e2e

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/simcheck"
)

// The need test's account: a credit that lags 20s, inside a window of 30s,
// and a drain that takes the balance back under the threshold (10) a moment
// after each credit, so that needs open one after the other: about one
// every 22s.
const (
	needsReplicas = 5
	needsWindow   = 30 * time.Second
	needsCredit   = 20 * time.Second
	needsAmount   = "10"
	needsDrain    = "0.45" // EUR/s: 9.9 in the 22s of a cycle, less than a top-up
	needsStart    = "10.2" // under the threshold 0.44s after the start
	needsCount    = 3
	// needsLatency is the longest a need may wait for its request: a
	// replica reads at every tick of the fleet (1s), the first one after
	// a credit confirms it, and the check that reads a need sends at once;
	// the rest is slack for a loaded machine.
	needsLatency = 5 * time.Second
)

// TestFleetOneTopUpPerNeed runs five replicas on one account whose credit
// lags 20s and whose drain opens a need again soon after each credit. From
// the account's record: every request was applied, none came before its
// need opened (so none while an earlier top-up was uncredited in its window:
// that would be a second request for one need), none later than
// needsLatency after it, and every need that opened had its request.
// Every request had its intent in the Redis ledger first.
func TestFleetOneTopUpPerNeed(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{
		account: sim.Config{Balance: eur(needsStart), AutoReload: true, TopUpAmount: eur(needsAmount),
			CreditDelay: needsCredit, DrainPerSecond: eur(needsDrain)},
		env: map[string]string{"TOPUP_WINDOW": needsWindow.String(), "TOPUP_AMOUNT": needsAmount},
	})
	reps := f.startReplicas(needsReplicas, nil)
	f.waitUp(reps...)
	f.waitTopUps(needsCount*(needsCredit+needsLatency)+waitLimit, needsCount)
	// The last top-up is uncredited for 20s: a few more ticks must send
	// nothing.
	f.quiet(4*time.Second, "while the last top-up was uncredited")
	end := time.Now()
	st := f.mustLedger()
	f.end()

	tops := f.acct.TopUps()
	simcheck.Report(t, simcheck.Requests(tops, needsWindow).NoDouble())
	m := drainModel{start: f.acct.Started(), balance: eur(needsStart), drain: eur(needsDrain), threshold: eur("10")}
	needAt := m.needFrom(m.start, nil)
	for k, tu := range tops {
		if !tu.Applied || tu.Status != 200 {
			t.Errorf("top-up #%d: %s, status %d; want applied, 200", tu.Seq, tu.Result, tu.Status)
		}
		switch wait := tu.ReceivedAt.Sub(needAt); {
		case wait < 0:
			t.Errorf("top-up #%d reached the account at %s, before need %d opened at %s: a second request for need %d",
				tu.Seq, fleetStamp(tu.ReceivedAt), k+1, fleetStamp(needAt), k)
		case wait > needsLatency:
			t.Errorf("need %d opened at %s and waited %s for its request (#%d), more than %s",
				k+1, fleetStamp(needAt), wait.Round(time.Millisecond), tu.Seq, needsLatency)
		}
		needAt = m.needFrom(tu.CreditAt, tops)
	}
	if needAt.Before(end.Add(-needsLatency)) {
		t.Errorf("need %d opened at %s, and no request came by %s", len(tops)+1, fleetStamp(needAt), fleetStamp(end))
	}
	checkIntentsFirst(t, st, tops, f.arrivals)

	senders := map[int]int{}
	for _, l := range f.topUpLines() {
		senders[l.proc]++
	}
	t.Logf("%d top-up requests for %d needs in %s; sent by replica(s) %v; decisions per replica %v",
		len(tops), len(tops), end.Sub(f.acct.Started()).Round(time.Second), senders, f.decisionCounts())
}

// checkIntentsFirst checks the Redis ledger against the account's record:
// one record that may have reached Vonage per request, each written before
// its request arrived (rule 4): as the k-th request arrived, the ledger
// already held k such records (arrivals, read from Redis at that moment,
// which no clock can blur), and each is dated moments before its request.
// The fleet's clock is Redis's TIME anchored at the midpoint of a round
// trip, so a record's time may read up to half a round trip late: 1 ms
// was seen on a loaded machine, and fleetClockSlack allows for it.
func checkIntentsFirst(t *testing.T, st ledger.State, tops []sim.TopUp, arr *arrivals) {
	t.Helper()
	var sent []ledger.Record
	for _, rec := range st.TopUps {
		if rec.MayHaveReached() {
			sent = append(sent, rec)
		}
	}
	sort.SliceStable(sent, func(i, j int) bool { return sent[i].At.Before(sent[j].At) })
	if len(sent) != len(tops) {
		t.Errorf("the redis ledger holds %d records that may have reached Vonage, the account saw %d requests: %+v",
			len(sent), len(tops), st.TopUps)
		return
	}
	held := arr.held()
	if len(held) != len(tops) {
		t.Errorf("%d top-up requests arrived at the account's door, it recorded %d", len(held), len(tops))
		return
	}
	for i, rec := range sent {
		tu := tops[i]
		if held[i].err != nil || held[i].n < i+1 {
			t.Errorf("top-up #%d arrived while the redis ledger held %d records that may have reached Vonage (error %v), want at least %d: its intent was not written first",
				tu.Seq, held[i].n, held[i].err, i+1)
		}
		if rec.At.After(tu.ReceivedAt.Add(fleetClockSlack)) || tu.ReceivedAt.Sub(rec.At) > 3*time.Second {
			t.Errorf("intent %s dated %s for top-up #%d received at %s: want it dated moments before",
				rec.ID, fleetStamp(rec.At), tu.Seq, fleetStamp(tu.ReceivedAt))
		}
	}
}

// decisionCounts is how many decisions each replica logged.
func (f *fleet) decisionCounts() map[int]int {
	out := map[int]int{}
	for _, rep := range f.reps {
		out[rep.n] = len(f.book.logs(rep.n, "decision"))
	}
	return out
}

// drainModel is an account's balance from its configuration and the
// credits in its record: a start, a steady drain, no burst.
type drainModel struct {
	start                     time.Time
	balance, drain, threshold decimal.Decimal
}

// at is the exact balance at t.
func (m drainModel) at(t time.Time, tops []sim.TopUp) decimal.Decimal {
	v := m.balance.Sub(m.drain.Mul(decimal.NewFromInt(int64(t.Sub(m.start))).Shift(-9)))
	for _, tu := range tops {
		if tu.CreditedBy(t) {
			v = v.Add(tu.Amount)
		}
	}
	return v
}

// needFrom is the first instant from from on at which the balance is below
// the threshold, with no credit after from.
func (m drainModel) needFrom(from time.Time, tops []sim.TopUp) time.Time {
	v := m.at(from, tops)
	if v.LessThan(m.threshold) {
		return from
	}
	secs := v.Sub(m.threshold).Div(m.drain)
	return from.Add(time.Duration(secs.Shift(9).IntPart()) + 1)
}

// The sender test's timing: a credit that lags well behind the kill, inside
// the window.
const (
	senderWindow = 20 * time.Second
	senderCredit = 8 * time.Second
)

// TestFleetSenderKilledBeforeCredit runs three replicas, opens a need, and
// kills (SIGKILL) the replica that sent the top-up as soon as its topup
// line shows, long before the credit. No other replica may send one: the
// account sees exactly one request. The survivors hold the window until the
// credit; one of them confirms the dead replica's top-up, and the ledger in
// Redis shows it confirmed.
func TestFleetSenderKilledBeforeCredit(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{
		account: sim.Config{Balance: eur("20"), AutoReload: true, TopUpAmount: eur("20"), CreditDelay: senderCredit},
		env:     map[string]string{"TOPUP_WINDOW": senderWindow.String(), "TOPUP_AMOUNT": "20"},
	})
	reps := f.startReplicas(3, nil)
	f.waitUp(reps...)
	f.acct.SetBalance(eur("5"))
	top := f.book.waitLines(t, waitLimit, 0, "topup", 1)[0]
	sender := f.replicaOf(top.proc)
	sender.kill(t)
	killedAt := time.Now()
	id := top.str("intent_id")
	tops := f.acct.TopUps()
	if len(tops) != 1 || !tops[0].Applied {
		t.Fatalf("the account saw %+v when the sender died, want one top-up, applied", tops)
	}
	creditAt := tops[0].CreditAt
	if !killedAt.Before(creditAt) {
		t.Fatalf("the sender died at %s, after the credit at %s: the test proves nothing", fleetStamp(killedAt), fleetStamp(creditAt))
	}
	if top.str("outcome") != "succeeded" {
		t.Errorf("the sender's topup line %s, want outcome succeeded", top.text)
	}

	conf := f.waitConfirmed(senderCredit+waitLimit, id)
	if conf.proc == sender.n {
		t.Errorf("the confirmation %s came from the killed replica %d", conf.text, sender.n)
	}
	// The fleet goes on reading: a few ticks after the credit, nothing sent.
	f.quiet(3*time.Second, "after the credit (the balance is above the threshold)")
	st := f.mustLedger()
	if rec := record(st, id); rec == nil || !rec.Confirmed() {
		t.Errorf("the redis ledger's record of %s: %+v, want it confirmed", id, rec)
	}
	held := 0
	for _, d := range f.linesBetween(0, "decision", killedAt, creditAt) {
		held++
		if d.proc == sender.n || d.str("action") != "blocked" || d.str("reason") != "window_open" {
			t.Errorf("decision of replica %d between the kill and the credit: %s, want blocked/window_open from a survivor", d.proc, d.text)
		}
	}
	if held == 0 {
		t.Errorf("no survivor decided between the kill at %s and the credit at %s: nobody held the window",
			fleetStamp(killedAt), fleetStamp(creditAt))
	}
	f.end()
	if s := f.acct.Stats(); s.TopUpRequests != 1 || s.TopUpsApplied != 1 {
		t.Errorf("the account saw %d top-up requests, %d applied; want exactly 1", s.TopUpRequests, s.TopUpsApplied)
	}
	t.Logf("replica %d sent %s and was killed %s before the credit; replica %d confirmed it; %d decisions held the window",
		sender.n, id, creditAt.Sub(killedAt).Round(time.Millisecond), conf.proc, held)
}

// TestFleetDailyCap runs three replicas with TOPUP_MAX_PER_DAY=2 on an
// account that a fast drain takes under the threshold a moment after every
// credit. The account sees exactly two top-ups. The cap is the fleet's: the
// replica that holds the tick once the cap is reached is killed, again and
// again, so that every replica in turn reads the need and finds the cap,
// and a replica started afterwards finds it too.
func TestFleetDailyCap(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{
		account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("10"),
			CreditDelay: time.Second, DrainPerSecond: eur("2")},
		env: map[string]string{"TOPUP_WINDOW": "10s", "TOPUP_AMOUNT": "10", "TOPUP_MAX_PER_DAY": "2"},
	})
	reps := f.startReplicas(3, nil)
	f.waitUp(reps...)
	f.waitTopUps(2*waitLimit, 2)
	capped := func(l line) bool { return l.msg() == "decision" && l.str("reason") == "daily_cap_reached" }
	var order []int
	for range reps {
		var d line
		f.book.waitFor(t, waitLimit, "a daily_cap_reached decision from a live replica", func() bool {
			for _, l := range f.book.find(capped) {
				if !slices.Contains(order, l.proc) && !f.replicaOf(l.proc).exited() {
					d = l
					return true
				}
			}
			return false
		})
		if d.str("action") != "blocked" {
			t.Errorf("decision %s, want action blocked", d.text)
		}
		order = append(order, d.proc)
		f.replicaOf(d.proc).kill(t) // the next tick goes to another replica
	}
	late := f.startReplica(nil)
	f.book.waitFor(t, waitLimit, "the late replica's daily_cap_reached decision", func() bool {
		return slices.ContainsFunc(f.book.find(capped), func(l line) bool { return l.proc == late.n })
	})
	f.end()
	s := f.acct.Stats()
	if s.TopUpRequests != 2 || s.TopUpsApplied != 2 {
		t.Errorf("the account saw %d top-up requests, %d applied; want exactly 2 (TOPUP_MAX_PER_DAY=2)", s.TopUpRequests, s.TopUpsApplied)
	}
	for _, d := range f.book.logs(0, "decision") {
		if d.str("action") == "top_up" && !slices.Contains([]string{"below_threshold", "refilling"}, d.str("reason")) {
			t.Errorf("decision %s", d.text)
		}
	}
	t.Logf("capped replicas in the order they held the tick %v, then the late replica %d; %d top-up requests",
		order, late.n, s.TopUpRequests)
}

// fleetReadsWindow is how long the reads test counts the account's reads.
const fleetReadsWindow = 30 * time.Second

// TestFleetReadsPerTick runs one, three and five replicas at @every 1s for
// 30s on a healthy account and counts the balance reads the account
// answered: one per tick for the whole fleet (rule 9), so at most 40 in
// 30s for five replicas. It logs the reads per tick, and each replica's
// decisions, skipped ticks and tick metrics.
func TestFleetReadsPerTick(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("replicas=%d", n), func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, fleetOptions{account: sim.Config{Balance: eur("100"), AutoReload: true}})
			reps := f.startReplicas(n, nil)
			f.waitUp(reps...)
			from := time.Now()
			time.Sleep(fleetReadsWindow)
			to := time.Now()
			reads := f.readsBetween(from, to)
			ticks := to.Sub(from).Seconds()
			var per []string
			for _, rep := range reps {
				per = append(per, fmt.Sprintf("replica %d: %d decisions, %d ticks taken by another, metrics %s",
					rep.n, len(f.linesBetween(rep.n, "decision", from, to)),
					len(f.linesBetween(rep.n, msgFleetTickTaken, from, to)), ticksOf(f.metrics(rep))))
			}
			f.end()
			t.Logf("%d replicas: %d balance reads in %.1fs: %.2f reads per tick\n  %s",
				n, reads, ticks, float64(reads)/ticks, strings.Join(per, "\n  "))
			if limit := 40; reads > limit {
				t.Errorf("%d replicas at @every 1s: %d balance reads in %s, want at most %d: one read per tick for the fleet",
					n, reads, to.Sub(from).Round(time.Millisecond), limit)
			}
			if reads < int(ticks)-5 {
				t.Errorf("%d balance reads in %.1fs: the fleet skipped ticks", reads, ticks)
			}
			if n > 1 && len(f.book.logs(0, msgFleetTickTaken)) == 0 {
				t.Errorf("no replica logged %q", msgFleetTickTaken)
			}
		})
	}
}
