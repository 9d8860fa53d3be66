package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The pause test's timing: the world's request timeout (1s) and a window of
// five, so that a quarter of the window (the latest an attempt may start
// after its intent) is 1.25s.
const (
	pauseWindow = 5 * time.Second
	pauseLimit  = pauseWindow / 4
)

// pauseMarker is the line TOPUP_TEST_PAUSE_AT writes to stderr just before
// the process stops itself (cmd/topup-watchdog/testhooks.go).
const pauseMarker = "test hook: stopping (SIGSTOP) at "

// TestPauseBetweenClaimAndRequest stops the binary (SIGSTOP, from inside,
// through TOPUP_TEST_PAUSE_AT=after_intent) after its intent is durable and
// before its request, on an account below the threshold, and lets it go on
// (SIGCONT) later. After a pause longer than the window (long), the stale
// request must not go out: the intent closes not_sent ("intent too old to
// send", no attempt), and the next check tops up, so the account sees
// exactly one top-up for the need, from a new intent, after the pause. After
// a pause shorter than a quarter of the window (short), the request goes out
// as it would have: exactly one top-up, from the paused intent.
func TestPauseBetweenClaimAndRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		pause time.Duration
	}{
		{"long", pauseWindow + 2*time.Second},
		{"short", pauseLimit / 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testPause(t, tc.pause)
		})
	}
}

func testPause(t *testing.T, pause time.Duration) {
	r := newWorld(t, worldOptions{
		account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: 500 * time.Millisecond},
		env:     map[string]string{"TOPUP_WINDOW": pauseWindow.String()},
	})
	p := r.start(map[string]string{"TOPUP_TEST_PAUSE_AT": "after_intent"})
	r.book.waitLines(t, waitLimit, p.n, "decision", 1)
	r.book.waitFor(t, waitLimit, "the pause hook's line", func() bool {
		return len(r.book.find(func(l line) bool { return l.proc == p.n && strings.Contains(l.text, pauseMarker) })) > 0
	})
	if !p.waitStopped(t, waitLimit) {
		t.Fatalf("process %d ended instead of stopping; output:\n%s", p.n, r.book.tail(20))
	}
	stoppedAt := time.Now()
	st := r.ledger()
	if len(st.TopUps) != 1 || st.TopUps[0].Outcome != ledger.Pending {
		t.Fatalf("ledger of the paused process holds %+v, want one pending intent: it is written before the request", st.TopUps)
	}
	paused := st.TopUps[0]

	// The pause itself: nothing may reach the account while the process is
	// stopped (waiting for a top-up that must not come is the pause).
	ctx, cancel := context.WithTimeout(context.Background(), pause)
	err := r.acct.Wait(ctx, func(s sim.Stats) bool { return s.TopUpRequests > 0 })
	cancel()
	if err == nil {
		t.Fatalf("a top-up reached the account while the process was stopped: %+v", r.acct.TopUps())
	}
	resumedAt := p.resume()
	t.Logf("paused %s between the claim and the request (a quarter of the window is %s)",
		resumedAt.Sub(stoppedAt).Round(time.Millisecond), pauseLimit)

	r.waitAccount(waitLimit, "the top-up", func(s sim.Stats) bool { return s.TopUpsApplied >= 1 })
	tops := r.book.waitLines(t, waitLimit, p.n, "topup", 1)
	long := pause > pauseLimit
	var sent string
	if long {
		// The paused intent ends not_sent with no attempt; the next check
		// claims a new intent and sends it.
		if tops[0].str("intent_id") != paused.ID || tops[0].str("outcome") != "not_sent" || tops[0].fields["attempts"] != 0.0 {
			t.Errorf("first topup line %s, want intent %s not_sent with 0 attempts", tops[0].text, paused.ID)
		}
		if n := len(r.book.logs(p.n, "intent too old to send")); n != 1 {
			t.Errorf("%d \"intent too old to send\" lines, want 1", n)
		}
		tops = r.book.waitLines(t, waitLimit, p.n, "topup", 2)
		sent = tops[1].str("intent_id")
		if sent == paused.ID || tops[1].str("outcome") != "succeeded" {
			t.Errorf("second topup line %s, want a new intent that succeeded", tops[1].text)
		}
		// The check right after the paused one sends it: the first decision
		// after the SIGCONT is a top_up, and its intent is the one sent.
		var after []line
		for _, d := range r.book.logs(p.n, "decision") {
			if d.at.After(resumedAt) {
				after = append(after, d)
			}
		}
		if len(after) == 0 || after[0].str("action") != "top_up" {
			t.Errorf("decisions after the pause %v, want the first a top_up", decisions(after))
		}
	} else {
		sent = paused.ID
		if tops[0].str("intent_id") != paused.ID || tops[0].str("outcome") != "succeeded" {
			t.Errorf("topup line %s, want the paused intent %s, succeeded", tops[0].text, paused.ID)
		}
	}
	r.book.waitFor(t, waitLimit, "the confirmation of "+sent, func() bool {
		for _, l := range r.book.logs(p.n, "topup confirmed") {
			if l.str("intent_id") == sent {
				return true
			}
		}
		return false
	})
	n := len(r.book.logs(p.n, "decision"))
	r.book.waitLines(t, waitLimit, p.n, "decision", n+2)
	p.stop(t)

	accountTops := r.acct.TopUps()
	if len(accountTops) != 1 || !accountTops[0].Applied {
		t.Fatalf("the account saw %+v, want exactly one top-up, applied", accountTops)
	}
	if at := accountTops[0].ReceivedAt; at.Before(resumedAt) {
		t.Errorf("the top-up reached the account at %s, before the SIGCONT at %s", stamp(at), stamp(resumedAt))
	}
	for _, rec := range r.ledger().TopUps {
		switch {
		case rec.ID == sent:
			if rec.Outcome != ledger.Succeeded || !rec.Confirmed() {
				t.Errorf("ledger record of the sent intent %+v, want succeeded and confirmed", rec)
			}
		case long && rec.ID == paused.ID:
			if rec.Outcome != ledger.NotSent || rec.Attempts != 0 || rec.MayHaveReached() {
				t.Errorf("ledger record of the paused intent %+v, want not_sent with no attempt", rec)
			}
		default:
			t.Errorf("unexpected ledger record %+v", rec)
		}
	}
}
