package policy_test

import (
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// A fresh ledger (first start, a state file upgraded from version 1, or a
// restart after more than an hour down) holds one earlier reading. One odd
// reading then made the only span there was, and "the lowest of fewer than
// three rates" (the rule before) was that span: the burn rate was the
// glitch, and the predictive policy topped up an account that spends
// nothing. Now one rate is not yet a pace (BurnRate's doc): no rate.
func TestOneOddReadingAfterAFreshStartIsNotAPace(t *testing.T) {
	s := settings
	s.Target = s.Threshold // the README's setup: the target at the threshold
	s.Predictive = true    // lead time auto: 10 minutes until a credit is seen
	for _, tt := range []struct {
		name     string
		readings []policy.Reading
		now      string
	}{
		// 100 EUR, flat; the second check reads 60 once (a glitch low).
		{"a glitch low at the second check", []policy.Reading{{At: ago(30 * time.Second), Balance: eur("100")}}, "60"},
		// 100 EUR, flat; the second check reads 160 once, the third 100 again.
		{"a glitch high at the second check", []policy.Reading{{At: ago(time.Minute), Balance: eur("100")}, {At: ago(30 * time.Second), Balance: eur("160")}}, "100"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := policy.Decide(s, policy.Input{Balance: eur(tt.now), AutoReload: true, Now: noon, Readings: tt.readings})
			if d.Action == policy.ActionTopUp {
				t.Errorf("Decide = %s/%s (burn rate %s EUR/min, projected %s) on a balance of %s with a threshold of %s: one odd reading charged the card",
					d.Action, d.Reason, d.BurnRate, d.Projected, tt.now, s.Threshold)
			}
		})
	}
}
