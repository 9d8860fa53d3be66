package watchdog_test

import (
	"testing"
	"time"
)

// An account that spends nothing, at 100 EUR (threshold 10, daily cap 5),
// watched by the predictive policy with the automatic lead time from a
// fresh ledger (the first start, or the first start after the upgrade from
// a version-1 state file, which holds no readings). The second check's read
// is one odd value (60); every read after it is the account's true balance.
// Nothing was ever needed.
//
// The glitch is the only falling span, so it is the burn rate (80 EUR/min):
// the second check tops up. The third check reads 100 again: a rise from
// 60, which confirms that top-up and closes its window, while the burn rate
// (rises are left out) is still the glitch: it tops up again. Two top-ups
// (100 EUR charged) for one odd read; the fourth check's flat span ends it.
func TestOneOddReadingAfterAFreshStartSendsNoTopUp(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("100")
	r := newWorld(t, acct, predictive(0))
	r.check()
	r.clock.Advance(30 * time.Second)
	r.acct.SetBalance(eur("60")) // one odd read
	r.check()
	r.acct.SetBalance(eur("100")) // the true balance again
	r.clock.Advance(30 * time.Second)
	r.every(30*time.Second, 20)
	if n := r.topUpRequests(); n != 0 {
		t.Errorf("%d top-up requests (%s EUR now) for an account at 100 EUR that spends nothing (threshold 10) after one odd read; decisions %v",
			n, r.acct.Balance(), r.decisions())
	}
}
