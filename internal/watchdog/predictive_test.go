package watchdog_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// drainingAccount is the default account at 40 EUR, drained at 3 EUR a
// minute.
func drainingAccount() sim.Config {
	acct := defaultAccount()
	acct.Balance, acct.DrainPerSecond = eur("40"), eur("0.05")
	return acct
}

func predictive(lead time.Duration) func(*worldOptions) {
	return func(o *worldOptions) {
		o.settings.Predictive, o.settings.LeadTime = true, lead
	}
}

// decisionAt returns the decision line of check i (from 0).
func (r *world) decisionAt(i int) map[string]any {
	r.t.Helper()
	ds := r.lines("decision")
	if i >= len(ds) {
		r.t.Fatalf("%d decision lines, want at least %d", len(ds), i+1)
	}
	return ds[i]
}

func decimalField(t *testing.T, line map[string]any, field string) decimal.Decimal {
	t.Helper()
	s, ok := line[field].(string)
	if !ok {
		t.Fatalf("decision line has no %s string: %v", field, line)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("%s = %q: %v", field, s, err)
	}
	return d
}

// With a lead time of 5 minutes at 3 EUR a minute, the projection falls
// below the 10 EUR threshold once the balance is below 25 EUR: the top-up
// goes out while the balance is still above the threshold, once.
func TestThePredictivePolicyTopsUpWhileTheBalanceIsStillAboveTheThreshold(t *testing.T) {
	r := newWorld(t, drainingAccount(), predictive(5*time.Minute))
	r.every(30*time.Second, 24) // 12 minutes: 40 EUR down to 25 by minute 5, the credit a minute later

	if n := r.topUpRequests(); n != 1 {
		t.Fatalf("%d top-up requests, want 1", n)
	}
	var topUp map[string]any
	for _, d := range r.lines("decision") {
		if d["action"] == "top_up" {
			topUp = d
		}
	}
	if topUp["reason"] != string(policy.ReasonProjectedBelowThreshold) {
		t.Fatalf("the top-up's reason is %v, want %s", topUp["reason"], policy.ReasonProjectedBelowThreshold)
	}
	balance := decimalField(t, topUp, "balance")
	if !balance.GreaterThanOrEqual(eur("10")) || balance.GreaterThan(eur("25")) {
		t.Errorf("the top-up went out at %s EUR, want between the threshold (10) and 25", balance)
	}
	if rate := decimalField(t, topUp, "burn_rate_per_min"); !rate.Equal(eur("3")) {
		t.Errorf("burn_rate_per_min = %s, want 3", rate)
	}
	projected := decimalField(t, topUp, "projected_balance")
	if want := balance.Sub(eur("15")); !projected.Equal(want) {
		t.Errorf("projected_balance = %s, want the balance less 5 minutes at 3 EUR: %s", projected, want)
	}
	if topUp["lead_time_ms"] != float64(5*time.Minute/time.Millisecond) || topUp["lead_time_auto"] != false {
		t.Errorf("lead time fields = %v, %v; want 300000 and false", topUp["lead_time_ms"], topUp["lead_time_auto"])
	}
}

// The threshold policy reports the burn rate and the projection too, and
// acts on the balance alone.
func TestTheThresholdPolicyLogsTheProjectionAndIgnoresIt(t *testing.T) {
	r := newWorld(t, drainingAccount())
	r.every(30*time.Second, 12) // 6 minutes: 40 EUR down to 22
	if n := r.topUpRequests(); n != 0 {
		t.Fatalf("%d top-up requests above the threshold, want 0", n)
	}
	if _, ok := r.decisionAt(0)["burn_rate_per_min"]; ok {
		t.Errorf("the first decision has a burn rate, from a single reading")
	}
	last := r.decisionAt(11)
	if rate := decimalField(t, last, "burn_rate_per_min"); !rate.Equal(eur("3")) {
		t.Errorf("burn_rate_per_min = %s, want 3", rate)
	}
	if last["lead_time_auto"] != true || last["lead_time_ms"] != float64(policy.DefaultLeadTime/time.Millisecond) {
		t.Errorf("lead time = %v (auto %v), want the default %s, auto", last["lead_time_ms"], last["lead_time_auto"], policy.DefaultLeadTime)
	}
	if p := decimalField(t, last, "projected_balance"); !p.IsNegative() {
		t.Errorf("projected_balance = %s, want 22 less 30 EUR: below zero", p)
	}
}

// Once a top-up is confirmed, the automatic lead time is its credit delay
// (from the intent to the check that saw the credit) plus two intervals.
func TestTheAutomaticLeadTimeFollowsTheCreditDelay(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.DrainPerSecond = eur("11"), eur("0.01")
	r := newWorld(t, acct)
	r.every(30*time.Second, 10) // below 10 EUR after 100 s; credited a minute after
	if n := len(r.lines("topup confirmed")); n != 1 {
		t.Fatalf("%d confirmations, want 1", n)
	}
	last := r.lines("decision")
	line := last[len(last)-1]
	// The intent at 120 s, its credit at 180 s, seen by the check at 180 s;
	// Check knows no schedule, so the interval is the default 30 s.
	want := time.Minute + 2*30*time.Second
	if line["lead_time_ms"] != float64(want/time.Millisecond) || line["lead_time_auto"] != true {
		t.Errorf("lead time after the credit = %v (auto %v), want %d ms, auto", line["lead_time_ms"], line["lead_time_auto"], want.Milliseconds())
	}
}

// A restart reads the readings back: the first check after it knows the
// burn rate.
func TestARestartKeepsTheBurnRate(t *testing.T) {
	r := newWorld(t, drainingAccount())
	r.every(30*time.Second, 4)
	r.restart()
	r.check()
	line := r.decisionAt(4)
	if rate := decimalField(t, line, "burn_rate_per_min"); !rate.Equal(eur("3")) {
		t.Errorf("the first check after a restart has burn_rate_per_min %s, want 3", rate)
	}
}
