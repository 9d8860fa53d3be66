package e2e

import (
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// TestStopDuringStartup sends SIGTERM to the binary at twelve points of its
// start and first check (0 to 22ms after its first line; the first check
// takes about 10ms against a local account) on an account below
// the threshold, all on one ledger, then runs it once more undisturbed. Every
// stop must exit 0, the ledger must stay readable, and the account must get
// exactly one top-up for its one need: a stop never loses a top-up that was
// sent, never sends a second, and never leaves the need unmet. A stop that
// lands between the intent and the request ends the intent not_sent, and a
// later start tops up; the log names which start did.
func TestStopDuringStartup(t *testing.T) {
	t.Parallel()
	r := newWorld(t, worldOptions{
		account: sim.Config{
			Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: 500 * time.Millisecond,
		},
		env:               map[string]string{"TOPUP_WINDOW": "30s"},
		processEveryTopUp: true,
	})
	for i := range 12 {
		p := r.start(nil)
		p.waitFirstLine(t)
		time.Sleep(time.Duration(i) * 2 * time.Millisecond)
		p.stop(t)
		if lines := r.book.logs(p.n, "stopped"); len(lines) != 1 {
			t.Fatalf("process %d (stopped %dms after its first line) wrote %d stopped lines, want 1; output:\n%s",
				p.n, i*2, len(lines), r.book.tail(20))
		}
		for _, rec := range r.ledger().TopUps {
			if rec.Outcome == ledger.Pending {
				t.Errorf("process %d left intent %s pending after a clean stop: a stop must wait for the outcome",
					p.n, rec.ID)
			}
		}
	}

	p := r.start(nil)
	r.waitAccount(waitLimit, "the one top-up applied", func(s sim.Stats) bool { return s.TopUpsApplied >= 1 })
	r.book.waitFor(t, waitLimit, "the balance above the threshold", func() bool {
		for _, d := range r.book.logs(p.n, "decision") {
			if d.str("action") == "none" {
				return true
			}
		}
		return false
	})
	p.stop(t)
	for _, l := range r.book.logs(0, "topup") {
		t.Logf("process %d of %d: topup %s", l.proc, len(r.procs), l.str("outcome"))
	}

	if s := r.acct.Stats(); s.TopUpRequests != 1 || s.TopUpsApplied != 1 {
		t.Errorf("account after %d starts: %d top-up requests, %d applied; want exactly 1 of each",
			len(r.procs), s.TopUpRequests, s.TopUpsApplied)
	}
	// A stop between the intent and the request ends the intent not_sent
	// (the restart then tops up); any other record is the one top-up.
	var sent []ledger.Record
	for _, rec := range r.ledger().TopUps {
		switch {
		case rec.MayHaveReached():
			sent = append(sent, rec)
		case rec.Outcome != ledger.NotSent || rec.Attempts != 0:
			t.Errorf("ledger record %+v: want the one top-up, or not_sent with no attempt", rec)
		}
	}
	if len(sent) != 1 || sent[0].Outcome != ledger.Succeeded || !sent[0].Confirmed() {
		t.Errorf("ledger after %d starts holds %+v as sent, want one succeeded, confirmed top-up", len(r.procs), sent)
	}
	r.finish()
}
