package e2e

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// TestPredictiveTopsUpBeforeTheThreshold runs the binary with
// TOPUP_POLICY=predictive against an account draining 30 EUR a minute from
// 25 EUR: with a lead time of 20 s the projection falls below the 10 EUR
// threshold once the balance is below 20 EUR, 10 s in, 20 s before the
// balance itself would. The one top-up goes out then, with reason
// projected_below_threshold, and the balance never goes below the
// threshold. Then the process is killed and started again: its first
// decision knows the burn rate from the readings the ledger kept.
func TestPredictiveTopsUpBeforeTheThreshold(t *testing.T) {
	t.Parallel()
	r := newWorld(t, worldOptions{
		account: sim.Config{
			Balance: eur("25"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: 2 * time.Second,
			DrainPerSecond: eur("0.5"),
		},
		env: map[string]string{"TOPUP_POLICY": "predictive", "TOPUP_LEAD_TIME": "20s", "TOPUP_AMOUNT": "50",
			"TOPUP_WINDOW": "30s"},
	})
	p := r.start(nil)
	r.book.waitLines(t, waitLimit, p.n, "topup confirmed", 1)
	start := len(r.book.logs(p.n, "decision"))
	r.book.waitLines(t, waitLimit, p.n, "decision", start+3) // three checks after the credit
	p.kill(t)

	if s := r.acct.Stats(); s.TopUpRequests != 1 {
		t.Fatalf("%d top-up requests, want 1", s.TopUpRequests)
	}
	var topUps []line
	for _, d := range r.book.logs(p.n, "decision") {
		if d.str("action") == "top_up" {
			topUps = append(topUps, d)
		}
	}
	if len(topUps) != 1 || topUps[0].str("reason") != "projected_below_threshold" {
		t.Fatalf("top_up decisions %v, want one, projected_below_threshold", decisions(topUps))
	}
	balance, err := decimal.NewFromString(topUps[0].str("balance"))
	if err != nil || balance.LessThan(eur("10")) {
		t.Errorf("the top-up was decided at balance %q, want at or above the threshold 10", topUps[0].str("balance"))
	}
	if rate := topUps[0].str("burn_rate_per_min"); rate == "" {
		t.Errorf("the top-up's decision line has no burn_rate_per_min")
	}
	if low, at := r.acct.Lowest(); low.LessThan(eur("10")) {
		t.Errorf("the balance went down to %s at %s, below the threshold, with the predictive policy", low, at)
	}

	q := r.start(nil)
	first := r.book.waitLines(t, waitLimit, q.n, "decision", 1)[0]
	if first.str("burn_rate_per_min") == "" {
		t.Errorf("the first decision after a SIGKILL and a restart has no burn rate: the readings were lost")
	}
	q.stop(t)
	r.finish()
}
