package policy_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// BenchmarkDecide is one check of the predictive policy with a full ledger
// of readings (policy.MaxReadings, a minute apart, falling with a credit
// among them) and a few top-ups, the automatic lead time worked from their
// credit delays: the balance is above the threshold and projected below it,
// so that every rule of the chain is looked at.
func BenchmarkDecide(b *testing.B) {
	s := settings
	s.Predictive, s.Interval, s.Backoff, s.MaxPerDay = true, 30*time.Second, 30*time.Second, 5
	in := policy.Input{Balance: eur("14"), AutoReload: true, Now: noon, Refilling: false}
	balance := eur("15.60")
	for i := range policy.MaxReadings {
		if i == 6 {
			balance = balance.Add(eur("20")) // a credit
		}
		in.Readings = append(in.Readings, policy.Reading{At: ago(time.Duration(policy.MaxReadings-i) * time.Minute), Balance: balance})
		balance = balance.Sub(decimal.New(125+int64(i%3)*10, -2))
	}
	in.TopUps = []policy.TopUp{
		{At: ago(5 * time.Hour), Ended: ago(5 * time.Hour), Status: policy.Confirmed, ConfirmedAt: ago(5*time.Hour - 3*time.Minute)},
		{At: ago(3 * time.Hour), Ended: ago(3 * time.Hour), Status: policy.NotSent, Attempts: 1},
		{At: ago(2 * time.Hour), Ended: ago(2 * time.Hour), Status: policy.Rejected},
		{At: ago(10 * time.Minute), Ended: ago(10 * time.Minute), Status: policy.Confirmed, ConfirmedAt: ago(8 * time.Minute)},
	}
	if d := policy.Decide(s, in); d.Reason != policy.ReasonProjectedBelowThreshold || !d.LeadAuto {
		b.Fatalf("Decide() = %+v, want a top-up for the projection, with the automatic lead time", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		policy.Decide(s, in)
	}
}
