package watchdog_test

// Issue 8, case 4, on the simulated account: a refund is a rise of the
// balance too small to be a top-up's credit (TOPUP_AMOUNT set).

import (
	"testing"
	"time"
)

// A refund of a few cents landing while a credit lags used to confirm the
// pending top-up, and a second one went out at once.
func TestARefundDoesNotConfirmATopUp(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct, func(o *worldOptions) { o.amount = eur("50") })
	r.check()
	r.wantTopUps("first check", 1)

	r.acct.Drain(eur("-0.05")) // a refund of 0.05
	r.clock.Advance(30 * time.Second)
	r.check()
	r.wantTopUps("after the refund", 1)
	if d := r.lastDecision(); d != "blocked/window_open" {
		t.Fatalf("decision after the refund %s, want blocked/window_open", d)
	}
	if n := len(r.lines("topup confirmed")); n != 0 {
		t.Errorf("%d confirmations after a refund of 0.05, want 0", n)
	}

	r.clock.Advance(30 * time.Second) // the credit lands
	r.check()
	if n := len(r.lines("topup confirmed")); n != 1 {
		t.Errorf("%d confirmations after the credit, want 1", n)
	}
}

// A refill to 120 by top-ups of 50 takes three, also when a refund lands
// before each credit.
func TestARefillWithRefundsTakesOneTopUpPerStep(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct, func(o *worldOptions) {
		o.amount = eur("50")
		o.settings.Target = eur("120")
	})
	for range 10 {
		r.check()
		r.clock.Advance(30 * time.Second)
		r.acct.Drain(eur("-0.05")) // a refund, before the credit a minute after the top-up
		r.check()
		r.clock.Advance(30 * time.Second)
	}
	r.wantTopUps("once the refill is over", 3)
	if d := r.lastDecision(); d != "none/balance_ok" {
		t.Errorf("decision once the refill is over %s, want none/balance_ok", d)
	}
	if got, want := r.acct.Balance(), eur("155.5"); !got.Equal(want) {
		t.Errorf("balance %s, want %s: 5, three credits of 50 and ten refunds of 0.05", got, want)
	}
}
