package watchdog_test

import (
	"testing"
	"time"
)

// glitchThenNeed runs, on an account at 100 EUR that spends nothing
// (threshold 10, target 10, cap 5, 50 EUR a top-up credited after a
// minute): three steady reads, two odd reads in a row (70, then 40: a
// glitching or stale balance answer), the true balance again for 20
// minutes, and then a real need: the account is drained to 5 EUR, below
// the threshold. It returns the top-ups sent before the need and after it.
func glitchThenNeed(t *testing.T, edit ...func(*worldOptions)) (before, after int, r *world) {
	acct := defaultAccount()
	acct.Balance = eur("100")
	r = newWorld(t, acct, edit...)
	r.every(30*time.Second, 3) // 100, 100, 100
	r.acct.Drain(eur("30"))    // odd read: 70
	r.check()
	r.clock.Advance(30 * time.Second)
	r.acct.Drain(eur("30")) // odd read: 40
	r.check()
	r.clock.Advance(30 * time.Second)
	r.acct.Drain(eur("-60")) // the true balance again (credits in flight kept)
	r.every(30*time.Second, 40)
	before = r.topUpRequests()
	r.acct.Drain(r.acct.Balance().Sub(eur("5"))) // a real need: 5 EUR, below the threshold
	r.every(30*time.Second, 4)
	return before, r.topUpRequests() - before, r
}

// Two odd reads in a row (70, then 40, 30 s apart) are, when they come, a
// burst of 60 EUR a minute: nothing tells them from a real one, and one
// top-up for them is the policy doing its job. What must not follow is
// more: before the fix the return to the true balance (a rise of 60, which
// "confirms" that top-up) left the two steep spans in the rate, and each
// later credit confirmed the newest top-up and let the next one out, the
// whole daily cap (5 top-ups, 250 EUR) for nothing, after which the cap
// blocked the real need. A rise now ends the run of spans the rate is
// taken from: at most the one top-up, and the real need is met.
func TestTwoOddReadsInARowCostOneTopUpAtMostAndLeaveTheCapForTheRealNeed(t *testing.T) {
	for _, lead := range []time.Duration{10 * time.Minute, 0} {
		before, after, r := glitchThenNeed(t, predictive(lead))
		if before > 1 {
			t.Errorf("predictive, lead time %s (0: auto): %d top-up requests for two odd reads on an account that spent nothing; decisions %v",
				lead, before, r.decisions())
		}
		if after == 0 {
			t.Errorf("predictive, lead time %s: no top-up for the real need (balance %s, below the threshold 10); last decisions %v",
				lead, r.acct.Balance(), r.decisions()[len(r.decisions())-4:])
		}
	}
	tb, ta, _ := glitchThenNeed(t)
	if tb != 0 || ta != 1 {
		t.Errorf("the threshold policy on the same reads: %d top-ups before the need and %d for it, want 0 and 1", tb, ta)
	}
}
