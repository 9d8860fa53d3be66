package metrics

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// rateDecided is a check at balance whose readings gave rate (EUR per
// minute) and whose projection looked lead ahead.
func rateDecided(at time.Time, balance, rate string, lead time.Duration) watchdog.Decided {
	return watchdog.Decided{At: at, Balance: dec(balance), AutoReload: true,
		Decision: policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK,
			RateKnown: true, BurnRate: dec(rate), Projected: policy.Project(dec(balance), dec(rate), lead), LeadTime: lead, LeadAuto: true},
		Threshold: dec("10"), Target: dec("20"), Recorded: true}
}

// noRateDecided is a check at balance whose readings gave no rate.
func noRateDecided(at time.Time, balance string) watchdog.Decided {
	return watchdog.Decided{At: at, Balance: dec(balance), AutoReload: true,
		Decision:  policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK},
		Threshold: dec("10"), Target: dec("20"), Recorded: true}
}

// rateFamilies are the metrics shown only while a burn rate is known.
var rateFamilies = []string{"topup_watchdog_burn_rate_eur_per_minute", "topup_watchdog_runway_seconds", "topup_watchdog_lead_time_seconds"}

// assertNoRate fails when the scrape shows any of rateFamilies.
func assertNoRate(t *testing.T, body, when string) {
	t.Helper()
	for _, name := range rateFamilies {
		if strings.Contains(body, name) {
			t.Errorf("%s: the scrape shows %s", when, name)
		}
	}
}

func TestSpendAddsUpTheSpendOfEachDecision(t *testing.T) {
	m := New(dec("10"), dec("20"))
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_spend_eur_total 0")
	for i, spend := range []string{"0", "0.75", "1.25", "0", "0.125"} {
		e := noRateDecided(t0.Add(time.Duration(i)*time.Minute), "30")
		e.Spend = dec(spend)
		m.Observe(e)
	}
	m.Observe(watchdog.CheckFailed{At: t0.Add(time.Hour), Err: errors.New("vonage: get balance: transport"), Consecutive: 1})
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_spend_eur_total 2.125")
}

func TestBurnRateRunwayAndLeadTimeShowOnceARateIsKnown(t *testing.T) {
	m := New(dec("10"), dec("20"))
	assertNoRate(t, scrape(t, m.Handler()), "before any check")
	m.Observe(noRateDecided(t0, "30"))
	assertNoRate(t, scrape(t, m.Handler()), "after a check without a rate")

	m.Observe(rateDecided(t0.Add(time.Minute), "30", "0.5", 10*time.Minute))
	assertLines(t, scrape(t, m.Handler()),
		"topup_watchdog_burn_rate_eur_per_minute 0.5",
		"topup_watchdog_runway_seconds 3600", // 30 EUR at 0.5 EUR a minute
		"topup_watchdog_lead_time_seconds 600")

	m.Observe(rateDecided(t0.Add(2*time.Minute), "10", "3", 90*time.Second))
	assertLines(t, scrape(t, m.Handler()),
		"topup_watchdog_burn_rate_eur_per_minute 3",
		"topup_watchdog_runway_seconds 200",
		"topup_watchdog_lead_time_seconds 90")
}

func TestRunwayIsInfiniteWithoutSpendAndZeroWithoutCredit(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.Observe(rateDecided(t0, "30", "0", 10*time.Minute))
	body := scrape(t, m.Handler())
	assertLines(t, body, "topup_watchdog_burn_rate_eur_per_minute 0", "topup_watchdog_runway_seconds +Inf")
	if v := samples(t, "the scrape", body)["topup_watchdog_runway_seconds"]; !math.IsInf(v, 1) {
		t.Errorf("runway %v at a rate of 0, want +Inf", v)
	}

	for _, balance := range []string{"0", "-2.50"} {
		m.Observe(rateDecided(t0.Add(time.Minute), balance, "1", 10*time.Minute))
		assertLines(t, scrape(t, m.Handler()), "topup_watchdog_runway_seconds 0")
	}
	// No credit and no spend: nothing left to run out of.
	m.Observe(rateDecided(t0.Add(2*time.Minute), "0", "0", 10*time.Minute))
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_runway_seconds 0")
}

func TestRunwayOfATinyRateIsLargeAndFinite(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.Observe(rateDecided(t0, "1000000", "0.000001", 10*time.Minute))
	v := samples(t, "the scrape", scrape(t, m.Handler()))["topup_watchdog_runway_seconds"]
	if math.IsInf(v, 0) || v < 9e9 { // policy.Runway caps it at the longest time.Duration, 292 years
		t.Errorf("runway %v, want finite and at least 9e9 s", v)
	}
}

func TestBurnRateHidesWhenTheRateIsNoLongerKnown(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.Observe(rateDecided(t0, "30", "0.5", 10*time.Minute))
	m.Observe(noRateDecided(t0.Add(time.Minute), "80")) // a credit landed: the readings give no rate
	body := scrape(t, m.Handler())
	assertNoRate(t, body, "after a check without a rate")
	assertLines(t, body, "topup_watchdog_balance_eur 80")

	m.Observe(rateDecided(t0.Add(2*time.Minute), "79", "1", 10*time.Minute))
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_burn_rate_eur_per_minute 1")
}

// A failed read leaves the rate as the last read gave it, as it leaves the
// balance: the time of the last read tells its age.
func TestAFailedCheckKeepsTheLastRate(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.Observe(rateDecided(t0, "30", "0.5", 10*time.Minute))
	m.Observe(watchdog.CheckFailed{At: t0.Add(time.Minute), Err: errors.New("vonage: get balance: transport"), Consecutive: 1})
	assertLines(t, scrape(t, m.Handler()),
		"topup_watchdog_burn_rate_eur_per_minute 0.5",
		"topup_watchdog_runway_seconds 3600",
		"topup_watchdog_balance_eur 30")
}

// A replica that skips a tick serves the fleet's balance but knows no rate:
// its own would go stale while another replica reads.
func TestASkippedTickHidesTheRateUntilThisReplicaReadsAgain(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.EnableFleet()
	m.Observe(rateDecided(t0, "30", "0.5", 10*time.Minute))
	m.Observe(watchdog.TickSkipped{At: t0.Add(30 * time.Second), Holder: "pod-b", Last: &ledger.Reading{
		At: t0.Add(29 * time.Second), Balance: dec("12"), AutoReload: true, Replica: "pod-b"}})
	body := scrape(t, m.Handler())
	assertNoRate(t, body, "after a skipped tick")
	assertLines(t, body, "topup_watchdog_balance_eur 12", "topup_watchdog_spend_eur_total 0")

	m.Observe(watchdog.TickSkipped{At: t0.Add(time.Minute), Holder: "pod-b"}) // no reading yet: still hidden
	assertNoRate(t, scrape(t, m.Handler()), "after a skipped tick without a reading")

	m.Observe(watchdog.TickWon{At: t0.Add(90 * time.Second)})
	m.Observe(rateDecided(t0.Add(90*time.Second), "11", "2", 10*time.Minute))
	assertLines(t, scrape(t, m.Handler()),
		"topup_watchdog_burn_rate_eur_per_minute 2",
		"topup_watchdog_runway_seconds 330")
}

func TestProjectedTopUpsCountFromZero(t *testing.T) {
	m := New(dec("10"), dec("20"))
	assertLines(t, scrape(t, m.Handler()),
		`topup_watchdog_decisions_total{action="top_up",reason="projected_below_threshold"} 0`)
	e := rateDecided(t0, "12", "1", 10*time.Minute)
	e.Decision.Action, e.Decision.Reason, e.Decision.Refilling = policy.ActionTopUp, policy.ReasonProjectedBelowThreshold, true
	m.Observe(e)
	assertLines(t, scrape(t, m.Handler()),
		`topup_watchdog_decisions_total{action="top_up",reason="projected_below_threshold"} 1`,
		"topup_watchdog_runway_seconds 720",
		"topup_watchdog_lead_time_seconds 600")
}
