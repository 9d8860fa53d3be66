package oracle_test

// The oracle against cases worked by hand from the contract: the tests that
// hold package policy to the oracle cannot tell when both are wrong alike.

import (
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/oracle"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

var noon = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ago(d time.Duration) time.Time { return noon.Add(-d) }

var settings = policy.Settings{Threshold: eur("10"), Target: eur("40"), Window: 15 * time.Minute, MaxPerDay: 1,
	Backoff: 30 * time.Second, Predictive: true, LeadTime: 10 * time.Minute}

func TestBlockersComeInTheContractsOrder(t *testing.T) {
	// Every blocker holds: a pending top-up a minute ago (the window, and the
	// cap of one), a rejection, two not-sent ones, the newest held by a
	// Retry-After; auto-reload off.
	in := policy.Input{Balance: eur("5"), Now: noon, TopUps: []policy.TopUp{
		{At: ago(3 * time.Minute), Status: policy.Pending},
		{At: ago(2 * time.Minute), Status: policy.Rejected},
		{At: ago(20 * time.Second), Ended: ago(20 * time.Second), Status: policy.NotSent, Attempts: 1},
		{At: ago(10 * time.Second), Ended: ago(10 * time.Second), Status: policy.NotSent, Attempts: 1, HoldUntil: noon.Add(time.Second)},
	}}
	want := []policy.Reason{policy.ReasonAutoReloadDisabled, policy.ReasonWindowOpen, policy.ReasonRecentlyRejected,
		policy.ReasonRateLimited, policy.ReasonBackingOff, policy.ReasonDailyCapReached}
	if got := oracle.Assess(settings, in).Blocks(); !slices.Equal(got, want) {
		t.Fatalf("Blocks() = %v, want %v", got, want)
	}
	if d := oracle.Expect(settings, in); d.Action != policy.ActionBlocked || d.Reason != policy.ReasonAutoReloadDisabled || !d.Refilling || d.TopUps24h != 1 {
		t.Errorf("Expect() = %+v, want blocked by auto-reload, refilling, one top-up in 24h", d)
	}
}

func TestWhatWantsATopUp(t *testing.T) {
	falling := []policy.Reading{{At: ago(2 * time.Minute), Balance: eur("29")}, {At: ago(time.Minute), Balance: eur("27")}}
	for _, tt := range []struct {
		name      string
		settings  policy.Settings
		in        policy.Input
		want      policy.Reason
		wantAnyIn bool
	}{
		{"below the threshold", settings, policy.Input{Balance: eur("9.99")}, policy.ReasonBelowThreshold, true},
		{"at the threshold, no refill", settings, policy.Input{Balance: eur("10")}, "", false},
		{"a refill below the target", settings, policy.Input{Balance: eur("39.99"), Refilling: true}, policy.ReasonRefilling, true},
		{"a refill at the target", settings, policy.Input{Balance: eur("40"), Refilling: true}, "", false},
		{"25 at 2 a minute, 10 minutes ahead: 5", settings, policy.Input{Balance: eur("25"), Readings: falling}, policy.ReasonProjectedBelowThreshold, true},
		{"the same under the threshold policy", policy.Settings{Threshold: eur("10"), Target: eur("40"), LeadTime: 10 * time.Minute},
			policy.Input{Balance: eur("25"), Readings: falling}, "", false},
	} {
		tt.in.Now = noon
		if got, ok := oracle.Want(tt.settings, tt.in); got != tt.want || ok != tt.wantAnyIn {
			t.Errorf("%s: Want() = %q, %t; want %q, %t", tt.name, got, ok, tt.want, tt.wantAnyIn)
		}
	}
}

func TestBurnRateAndLeadTime(t *testing.T) {
	// Spans newest first: 1 a minute, 4, 2, then a clock that stepped back
	// ends them: rates 1, 4, 2, median 2 (with the span back in time, -50,
	// it would be 1.5).
	readings := []policy.Reading{{At: ago(4 * time.Minute), Balance: eur("200")}, {At: ago(5 * time.Minute), Balance: eur("100")},
		{At: ago(4 * time.Minute), Balance: eur("98")}, {At: ago(3 * time.Minute), Balance: eur("94")},
		{At: ago(2 * time.Minute), Balance: eur("93")}}
	if rate, ok := oracle.BurnRate(readings); !ok || !rate.Equal(eur("2")) {
		t.Errorf("BurnRate() = %s, %t; want 2", rate, ok)
	}
	// A rise ends the run: the falls of 4 and 2 before the credit to 120 are
	// not the pace after it, one fall of 1 is not yet one.
	risen := append(readings[:4:4], policy.Reading{At: ago(30 * time.Second), Balance: eur("120")}, policy.Reading{At: noon, Balance: eur("119")})
	if rate, ok := oracle.BurnRate(risen); ok {
		t.Errorf("BurnRate() across a rise = %s, want none: one fall since the rise", rate)
	}
	if _, ok := oracle.BurnRate(readings[:1]); ok {
		t.Error("BurnRate of one reading gives a rate")
	}
	s := policy.Settings{Interval: time.Minute}
	credited := []policy.TopUp{{At: ago(time.Hour), Status: policy.Confirmed, ConfirmedAt: ago(time.Hour + time.Minute)}}
	if lead, auto := oracle.LeadTime(s, credited); lead != 2*time.Minute || !auto {
		t.Errorf("LeadTime with a credit dated before its intent = %s, %t; want no delay plus two intervals", lead, auto)
	}
	if lead, auto := oracle.LeadTime(s, nil); lead != 10*time.Minute || !auto {
		t.Errorf("LeadTime before any credit = %s, %t; want 10m", lead, auto)
	}
}

func TestTheReadingsTheLedgerKeeps(t *testing.T) {
	at := func(r []policy.Reading) []time.Duration {
		var out []time.Duration
		for _, x := range r {
			out = append(out, noon.Sub(x.At))
		}
		return out
	}
	reading := func(d time.Duration) policy.Reading { return policy.Reading{At: ago(d), Balance: eur("1")} }
	// An hour and a minute ago, an hour ago, then ten more: the first goes
	// for its age, the one an hour old stays.
	rs := []policy.Reading{reading(61 * time.Minute), reading(time.Hour)}
	for m := 10; m >= 1; m-- {
		rs = append(rs, reading(time.Duration(m)*time.Minute))
	}
	got := oracle.AddReading(rs, reading(0))
	if len(got) != 12 || got[0].At != ago(time.Hour) || got[11].At != noon {
		t.Errorf("AddReading kept %v, want from an hour ago to now, 12 readings", at(got))
	}
	// Twenty a second apart: the 16 newest.
	rs = nil
	for s := 20; s >= 1; s-- {
		rs = oracle.AddReading(rs, reading(time.Duration(s)*time.Second))
	}
	if len(rs) != 16 || rs[0].At != ago(16*time.Second) {
		t.Errorf("AddReading kept %v, want the 16 newest", at(rs))
	}
	// A reading before the newest ones drops them.
	got = oracle.AddReading(rs, reading(10*time.Second+time.Millisecond))
	if len(got) != 7 || got[6].At != ago(10*time.Second+time.Millisecond) || len(rs) != 16 {
		t.Errorf("AddReading after a step back kept %v, want 6 older and the new one, the input unchanged", at(got))
	}
}
