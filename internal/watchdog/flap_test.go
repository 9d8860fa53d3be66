package watchdog_test

import (
	"testing"
	"time"
)

// flap runs n checks 30 s apart on an account at 100 EUR that spends
// nothing (threshold 10, target 10, cap 5, 50 EUR a top-up credited after
// a minute), whose balance read alternates between the true value and
// 10 EUR less: two answers of a load-balanced or cached read, one of them
// stale, or a hold that is taken and released. Nothing is ever needed.
func flap(t *testing.T, n int, edit ...func(*worldOptions)) *world {
	acct := defaultAccount()
	acct.Balance = eur("100")
	r := newWorld(t, acct, edit...)
	for i := range n {
		if i%2 == 1 {
			r.acct.Drain(eur("10"))
		} else if i > 0 {
			r.acct.Drain(eur("-10"))
		}
		r.check()
		r.clock.Advance(30 * time.Second)
	}
	return r
}

// A read that flaps spends nothing and must charge nothing. Before the fix
// every span the burn rate kept was a fall of 10 in 30 s (the rises were
// left out, not counted as the spend they undo): 20 EUR/min for an account
// that spends nothing, one top-up with the automatic lead time, and with
// TOPUP_LEAD_TIME=10m four in two minutes, each credit confirming the
// newest and letting the next one out. A rise now ends the run of spans
// the rate is taken from, and a flapping read never makes two falls in a
// row: no rate, no top-up.
func TestAFlappingReadChargesNothing(t *testing.T) {
	for _, lead := range []time.Duration{0, 10 * time.Minute} {
		r := flap(t, 120, predictive(lead)) // one hour
		if n := r.topUpRequests(); n != 0 {
			t.Errorf("lead time %s (0: auto): %d top-up requests in an hour (%s EUR now, started at 100, nothing spent) for a read that flaps by 10 EUR; decisions %v",
				lead, n, r.acct.Balance(), r.decisions()[:16])
		}
	}
}
