package policy_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The burn rate orders the spans in units of 1e-8 EUR when every balance is
// exact in them (Vonage's 8 places), and in decimals otherwise. Both orders
// must give the same rate: balances written to 12 places, each the same
// 8-place balance plus the same tiny offset, spend exactly what the 8-place
// ones do.
func TestTheBurnRateIsTheSameHoweverFinelyTheBalancesAreWritten(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	offset := decimal.New(7, -12)
	for run := range 2000 {
		n := 2 + rng.IntN(policy.MaxReadings-1)
		coarse := make([]policy.Reading, n)
		balance := decimal.New(rng.Int64N(1e12), -8)
		at := noon
		for i := range coarse {
			coarse[i] = policy.Reading{At: at, Balance: balance}
			at = at.Add(time.Duration(1+rng.IntN(120)) * time.Second)
			switch rng.IntN(6) {
			case 0:
				balance = balance.Add(decimal.New(rng.Int64N(5e9), -8)) // a credit
			case 1: // no spend
			default:
				balance = balance.Sub(decimal.New(rng.Int64N(3e8), -8))
			}
		}
		fine := make([]policy.Reading, n)
		for i, r := range coarse {
			fine[i] = policy.Reading{At: r.At, Balance: r.Balance.Add(offset)}
		}
		a, okA := policy.BurnRate(coarse)
		b, okB := policy.BurnRate(fine)
		if okA != okB || !a.Equal(b) {
			t.Fatalf("run %d: the rate is %s (%t) from 8-place balances and %s (%t) from the same balances to 12 places; readings %v",
				run, a, okA, b, okB, coarse)
		}
	}
}
