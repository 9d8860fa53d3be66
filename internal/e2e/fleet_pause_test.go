package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/simcheck"
)

// fleetPauseWindow is the pause test's window: a quarter of it (2s), the
// latest a claim may be sent after it is written, is twice the request
// timeout.
const fleetPauseWindow = 8 * time.Second

// TestFleetPausedClaimIsNotSent stops a replica (SIGSTOP, from inside,
// through TOPUP_TEST_PAUSE_AT=after_intent on that replica only) right after
// its claim is in Redis and before its request, then starts two more
// replicas. They must hold the paused claim's window, then top up the need
// once it has passed. The paused replica, continued (SIGCONT) after that,
// must not send its stale request (rule 12): "intent too old to send", its
// intent ends not_sent with no attempt. The account sees exactly one
// top-up, after the window.
func TestFleetPausedClaimIsNotSent(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{
		account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: 500 * time.Millisecond},
		env:     map[string]string{"TOPUP_WINDOW": fleetPauseWindow.String(), "TOPUP_AMOUNT": "50"},
	})
	// Alone, it wins the first tick and claims the need.
	p := f.startReplica(map[string]string{"TOPUP_TEST_PAUSE_AT": "after_intent"})
	f.book.waitFor(t, waitLimit, "the pause hook's line", func() bool {
		return len(f.book.find(func(l line) bool { return l.proc == p.n && strings.Contains(l.text, pauseMarker) })) > 0
	})
	if !p.waitStopped(t, waitLimit) {
		t.Fatalf("replica %d ended instead of stopping; output:\n%s", p.n, f.book.tail(20))
	}
	st := f.mustLedger()
	if len(st.TopUps) != 1 || st.TopUps[0].Outcome != ledger.Pending {
		t.Fatalf("the redis ledger holds %+v, want the paused replica's one pending claim", st.TopUps)
	}
	paused := st.TopUps[0]

	others := f.startReplicas(2, nil)
	f.waitUp(others...)
	tops := f.waitTopUps(2*fleetPauseWindow+waitLimit, 1)
	sent := tops[0]
	if end := paused.At.Add(fleetPauseWindow); sent.ReceivedAt.Before(end) {
		t.Errorf("a top-up reached the account at %s, inside the paused claim's window (%s to %s at the earliest)",
			fleetStamp(sent.ReceivedAt), fleetStamp(paused.At), fleetStamp(end))
	}
	held, decided := 0, 0
	for _, d := range f.book.logs(0, "decision") {
		switch {
		case d.proc == p.n || !d.at.Before(sent.ReceivedAt):
		case d.str("action") == "top_up":
			decided++ // the check that sent it
		case d.str("action") != "blocked" || d.str("reason") != "window_open":
			t.Errorf("decision of replica %d before the fleet's top-up: %s, want blocked/window_open", d.proc, d.text)
		default:
			held++
		}
	}
	if held == 0 || decided > 1 {
		t.Errorf("before the fleet's top-up the other replicas logged %d window_open and %d top_up decisions, want some and at most one",
			held, decided)
	}

	resumedAt := p.resume()
	f.book.waitLines(t, waitLimit, p.n, msgFleetTooOld, 1)
	stale := f.book.waitLines(t, waitLimit, p.n, "topup", 1)[0]
	if stale.str("intent_id") != paused.ID || stale.str("outcome") != "not_sent" || stale.fields["attempts"] != 0.0 {
		t.Errorf("the paused replica's topup line %s, want intent %s not_sent with 0 attempts", stale.text, paused.ID)
	}
	f.book.waitFor(t, waitLimit, "the fleet's topup line", func() bool {
		return slices.ContainsFunc(f.topUpLines(), func(l line) bool { return l.proc != p.n })
	})
	var sender line
	for _, l := range f.topUpLines() {
		if l.proc != p.n {
			if sender.text != "" {
				t.Errorf("a second topup line from the fleet: %s", l.text)
			}
			sender = l
		}
	}
	if sender.str("outcome") != "succeeded" || sender.str("intent_id") == paused.ID {
		t.Fatalf("the fleet's topup line %q, want a new intent that succeeded", sender.text)
	}
	f.waitConfirmed(waitLimit, sender.str("intent_id"))
	f.quiet(3*time.Second, "after the credit")
	st = f.mustLedger()
	f.end()

	if tops := f.acct.TopUps(); len(tops) != 1 || !tops[0].Applied {
		t.Errorf("the account saw %+v, want exactly one top-up, applied", tops)
	}
	for _, rec := range st.TopUps {
		switch rec.ID {
		case paused.ID:
			if rec.Outcome != ledger.NotSent || rec.Attempts != 0 || rec.MayHaveReached() {
				t.Errorf("the redis ledger's record of the paused claim %+v, want not_sent with no attempt", rec)
			}
		case sender.str("intent_id"):
			if rec.Outcome != ledger.Succeeded || !rec.Confirmed() {
				t.Errorf("the redis ledger's record of the fleet's top-up %+v, want succeeded and confirmed", rec)
			}
		default:
			t.Errorf("unexpected record in the redis ledger: %+v", rec)
		}
	}
	t.Logf("replica %d paused after its claim at %s; replica %d sent at %s (%s after the claim); continued at %s",
		p.n, fleetStamp(paused.At), sender.proc, fleetStamp(sent.ReceivedAt), sent.ReceivedAt.Sub(paused.At).Round(time.Millisecond),
		fleetStamp(resumedAt))
}

// The clock test's timing: a credit that lags well behind the kill of the
// sender, inside the window.
const (
	clockAheadWindow = 20 * time.Second
	clockAheadCredit = 5 * time.Second
)

// TestFleetPodClockAhead runs a replica whose pod clock is an hour ahead
// (TOPUP_TEST_CLOCK_FILE) beside normal ones. In a fleet the times come from
// Redis (rule 13): it logs "pod clock differs from redis", and decides as
// the others do. A normal replica sends the first top-up and is killed;
// the replica an hour ahead, alone, must hold that top-up's window (on its
// own clock the claim is an hour old) and confirm it. A second need, with
// a normal replica beside it, is topped up once too, and the two share the
// ticks (on its own clock every lease has run out). Every record in Redis
// is on the real time, not an hour ahead.
func TestFleetPodClockAhead(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{
		account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("20"), CreditDelay: clockAheadCredit},
		env:     map[string]string{"TOPUP_WINDOW": clockAheadWindow.String(), "TOPUP_AMOUNT": "20"},
	})
	clockFile := filepath.Join(t.TempDir(), "clock")
	if err := os.WriteFile(clockFile, []byte("1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := f.startReplica(nil)
	first := f.book.waitLines(t, waitLimit, a.n, "topup", 1)[0]
	ahead := f.startReplica(map[string]string{"TOPUP_TEST_CLOCK_FILE": clockFile})
	f.book.waitLines(t, waitLimit, ahead.n, msgFleetPodClock, 1)
	f.waitUp(ahead)
	a.kill(t)
	killedAt := time.Now()
	tu := f.acct.TopUps()
	if len(tu) != 1 || !killedAt.Before(tu[0].CreditAt) {
		t.Fatalf("the account saw %+v by the kill at %s: want one top-up, not yet credited", tu, fleetStamp(killedAt))
	}
	conf := f.waitConfirmed(clockAheadCredit+waitLimit, first.str("intent_id"))
	if conf.proc != ahead.n {
		t.Errorf("the confirmation %s came from replica %d, want the one an hour ahead (%d)", conf.text, conf.proc, ahead.n)
	}
	held := f.linesBetween(ahead.n, "decision", killedAt, tu[0].CreditAt)
	for _, d := range held {
		if d.str("action") != "blocked" || d.str("reason") != "window_open" {
			t.Errorf("decision of the replica an hour ahead before the credit: %s, want blocked/window_open", d.text)
		}
	}
	if len(held) == 0 {
		t.Errorf("the replica an hour ahead decided nothing between the kill and the credit")
	}

	c := f.startReplica(nil)
	f.waitUp(c)
	needAt := time.Now()
	f.acct.SetBalance(eur("5"))
	second := f.waitTopUps(waitLimit, 2)[1]
	lines := f.book.waitLines(t, waitLimit, 0, "topup", 2)
	if l := lines[len(lines)-1]; l.proc == a.n || l.str("outcome") != "succeeded" {
		t.Errorf("the second need's topup line %s from replica %d, want one that succeeded from a live replica", l.text, l.proc)
	}
	f.waitConfirmed(clockAheadCredit+waitLimit, lines[len(lines)-1].str("intent_id"))
	from := time.Now()
	f.quiet(4*time.Second, "after the second credit")
	to := time.Now()
	reads := f.readsBetween(from, to)
	st := f.mustLedger()
	f.end()

	tops := f.acct.TopUps()
	if len(tops) != 2 {
		t.Errorf("the account saw %d top-up requests for two needs, want 2", len(tops))
	}
	simcheck.Report(t, simcheck.Requests(tops, clockAheadWindow).NoDouble())
	checkIntentsFirst(t, st, tops, f.arrivals)
	if limit := int(to.Sub(from).Seconds()) + 2; reads > limit {
		t.Errorf("%d balance reads in %s with two replicas, one an hour ahead: want at most %d, the ticks shared",
			reads, to.Sub(from).Round(time.Millisecond), limit)
	}
	for _, rep := range []*replica{a, c} {
		if l := f.book.logs(rep.n, msgFleetPodClock); len(l) > 0 {
			t.Errorf("replica %d, on the real time, logged %s", rep.n, l[0].text)
		}
	}
	t.Logf("first top-up by replica %d, confirmed by the replica an hour ahead after %d held decisions; second need at %s topped up by replica %d after %s; %d reads in %s",
		a.n, len(held), fleetStamp(needAt), lines[len(lines)-1].proc, second.ReceivedAt.Sub(needAt).Round(time.Millisecond),
		reads, to.Sub(from).Round(time.Millisecond))
}
