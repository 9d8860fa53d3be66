package policy_test

// The burn rate, the projection, the lead time and the runway, at fixed
// instants, and the predictive policy through Decide.

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/oracle"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// minutely returns readings one minute apart, the last at noon.
func minutely(balances ...string) []policy.Reading {
	out := make([]policy.Reading, len(balances))
	for i, b := range balances {
		out[i] = policy.Reading{At: ago(time.Duration(len(balances)-1-i) * time.Minute), Balance: eur(b)}
	}
	return out
}

// noRate fails when readings give a burn rate.
func noRate(t *testing.T, readings []policy.Reading) {
	t.Helper()
	if rate, ok := policy.BurnRate(readings); ok {
		t.Errorf("BurnRate(%v) = %s EUR/min, want none", readings, rate)
	}
}

// rateOf is the burn rate of readings, failing when there is none.
func rateOf(t *testing.T, readings []policy.Reading) decimal.Decimal {
	t.Helper()
	rate, ok := policy.BurnRate(readings)
	if !ok {
		t.Fatalf("BurnRate(%v) gives no rate", readings)
	}
	return rate
}

func wantRate(t *testing.T, readings []policy.Reading, want string) {
	t.Helper()
	if got := rateOf(t, readings); !got.Equal(eur(want)) {
		t.Errorf("BurnRate = %s EUR/min, want %s", got, want)
	}
}

func TestBurnRate(t *testing.T) {
	t.Run("a credit is not negative spend", func(t *testing.T) {
		if got := policy.Spend(eur("10"), eur("15")); !got.IsZero() {
			t.Errorf("Spend(10, 15) = %s, want 0", got)
		}
		if got := policy.Spend(eur("15"), eur("10")); !got.Equal(eur("5")) {
			t.Errorf("Spend(15, 10) = %s, want 5", got)
		}
		// A credit of 50 after falls of 1 a minute gives no rate of zero or
		// less: the falls after it are the pace, from the second on.
		wantRate(t, minutely("100", "99", "149", "148", "147"), "1")
		// A credit ends the run the rate is taken from: falls before it are
		// not the pace after it (a credit hides its span's spend, and noise
		// that goes up and down would otherwise look like spend).
		noRate(t, minutely("100", "99", "97", "94", "144"))
		noRate(t, minutely("100", "99", "149", "148"))
		noRate(t, minutely("100", "99", "149"))
	})
	t.Run("one odd low reading does not move the rate", func(t *testing.T) {
		wantRate(t, minutely("100", "99", "98", "97", "90", "95", "94", "93"), "1")
	})
	t.Run("one odd high reading does not move the rate", func(t *testing.T) {
		wantRate(t, minutely("100", "99", "98", "110", "96", "95", "94"), "1")
	})
	t.Run("the rate reacts to a jump in pace by the third check", func(t *testing.T) {
		steady := []string{"100", "99", "98", "97", "96", "95"}
		wantRate(t, minutely(append(steady, "90")...), "1")
		wantRate(t, minutely(append(steady, "90", "85")...), "1")
		wantRate(t, minutely(append(steady, "90", "85", "80")...), "5")
	})
	t.Run("the rate lets go three checks after a burst ends", func(t *testing.T) {
		burst := []string{"100", "95", "90", "85", "80", "75"}
		wantRate(t, minutely(append(burst, "74")...), "5")
		wantRate(t, minutely(append(burst, "74", "73")...), "5")
		wantRate(t, minutely(append(burst, "74", "73", "72")...), "1")
	})
	t.Run("readings older than an hour are not used", func(t *testing.T) {
		// Two spans of the last minutes, at 2 and then 1 a minute: the lower,
		// 1. A steep span from an hour before would make three rates, and the
		// median 2.
		old := []policy.Reading{{At: ago(61 * time.Minute), Balance: eur("250")}, {At: ago(2 * time.Minute), Balance: eur("102")},
			{At: ago(time.Minute), Balance: eur("100")}, {At: noon, Balance: eur("99")}}
		wantRate(t, old, "1")
		old[0].At = ago(time.Hour) // 148 in 58 minutes: it counts
		wantRate(t, old, "2")
		// A slow span from an hour before, with one span of the last minute:
		// no rate, where it would be a second one, and the lower.
		old = []policy.Reading{{At: ago(61 * time.Minute), Balance: eur("100.59")}, {At: ago(time.Minute), Balance: eur("100")}, {At: noon, Balance: eur("99")}}
		noRate(t, old)
		old[0].At = ago(time.Hour) // 0.59 in 59 minutes: it counts
		wantRate(t, old, "0.01")
	})
	t.Run("readings from before a clock that stepped back are not used", func(t *testing.T) {
		// The clock stepped back two minutes after the reading of 100.50;
		// the two spans since, at 2 and then 1 a minute, give the lower, 1.
		// The steep span from before the step (9.50 in 3 minutes) would
		// make three rates and the median 2; with the span across the step,
		// four, and 1.5.
		stepped := []policy.Reading{{At: ago(4 * time.Minute), Balance: eur("110")}, {At: ago(time.Minute), Balance: eur("100.50")},
			{At: ago(3 * time.Minute), Balance: eur("100")}, {At: ago(2 * time.Minute), Balance: eur("98")}, {At: noon, Balance: eur("96")}}
		wantRate(t, stepped, "1")
		// One span since the step: no rate, where the span across the step
		// would be a second one, and the lower.
		stepped = []policy.Reading{{At: ago(time.Minute), Balance: eur("100.50")}, {At: ago(2 * time.Minute), Balance: eur("100")}, {At: noon, Balance: eur("98")}}
		noRate(t, stepped)
	})
	t.Run("no rate from a single reading", func(t *testing.T) {
		if rate, ok := policy.BurnRate(minutely("50")); ok {
			t.Errorf("BurnRate of one reading = %s, want none", rate)
		}
		if rate, ok := policy.BurnRate(minutely("50", "60")); ok {
			t.Errorf("BurnRate of a rise alone = %s, want none", rate)
		}
		d := policy.Decide(settings, policy.Input{Balance: eur("50"), AutoReload: true, Now: noon})
		if d.RateKnown {
			t.Errorf("Decide without earlier readings knows a rate: %+v", d)
		}
	})
	t.Run("one span is not yet a pace", func(t *testing.T) {
		// Two readings: one span, however steep (a glitch low after a first
		// start), or flat, is no rate.
		noRate(t, minutely("100", "60"))
		noRate(t, minutely("100", "100"))
		// Nor is one fall after a rise (a glitch high and back): the rise
		// gives no rate.
		noRate(t, minutely("100", "160", "100"))
		s := settings
		s.Predictive = true
		d := policy.Decide(s, policy.Input{Balance: eur("60"), AutoReload: true, Now: noon, Readings: minutely("100", "60")[:1]})
		if d.RateKnown || d.Action != policy.ActionNone {
			t.Errorf("Decide with one earlier reading = %+v, want no rate and no top-up", d)
		}
	})
	t.Run("of two spans the lower is the rate", func(t *testing.T) {
		// One odd reading among two spans gives the steep one; the other is
		// the pace.
		wantRate(t, minutely("100", "100", "60"), "0")         // a glitch low after a flat span
		wantRate(t, minutely("100", "160", "100", "100"), "0") // a glitch high and back, then flat
		wantRate(t, minutely("100", "99", "59"), "1")          // a glitch low at a pace of 1
		s := settings
		s.Predictive = true
		d := policy.Decide(s, policy.Input{Balance: eur("60"), AutoReload: true, Now: noon, Readings: minutely("100", "100", "60")[:2]})
		want := policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK, RateKnown: true, BurnRate: eur("0"),
			Projected: eur("60"), LeadTime: policy.DefaultLeadTime, LeadAuto: true}
		if !oracle.Equal(d, want) {
			t.Errorf("Decide after a flat span and a glitch low = %+v, want %+v", d, want)
		}
	})
	t.Run("of two rates the rate is the lower", func(t *testing.T) {
		wantRate(t, minutely("100", "99", "90"), "1")
	})
	t.Run("of four rates the rate is the mean of the two in the middle", func(t *testing.T) {
		wantRate(t, minutely("100", "99", "97", "94", "90"), "2.5")
	})
}

func TestProjectionAndRunway(t *testing.T) {
	t.Run("the projection subtracts the rate times the lead time", func(t *testing.T) {
		for _, tt := range []struct {
			balance, rate string
			lead          time.Duration
			want          string
		}{
			{"50", "1.5", 10 * time.Minute, "35"},
			{"50", "0.25", 90 * time.Second, "49.625"},
			{"5", "2", 5 * time.Minute, "-5"},
		} {
			if got := policy.Project(eur(tt.balance), eur(tt.rate), tt.lead); !got.Equal(eur(tt.want)) {
				t.Errorf("Project(%s, %s/min, %s) = %s, want %s", tt.balance, tt.rate, tt.lead, got, tt.want)
			}
		}
	})
	t.Run("the runway is the balance over the rate", func(t *testing.T) {
		if got, ok := policy.Runway(eur("30"), eur("1.5")); !ok || got != 20*time.Minute {
			t.Errorf("Runway(30, 1.5/min) = %s, %t; want 20m, true", got, ok)
		}
		if got, ok := policy.Runway(eur("0"), eur("1.5")); !ok || got != 0 {
			t.Errorf("Runway(0, 1.5/min) = %s, %t; want 0, true: it has run out", got, ok)
		}
		if got, ok := policy.Runway(eur("30"), eur("0")); ok {
			t.Errorf("Runway(30, 0/min) = %s, true; want none: it never runs out", got)
		}
	})
}

func TestLeadTime(t *testing.T) {
	s := settings
	s.Interval = 30 * time.Second
	confirmed := func(at, delay time.Duration) policy.TopUp {
		return policy.TopUp{At: ago(at), Status: policy.Confirmed, ConfirmedAt: ago(at - delay)}
	}
	t.Run("the automatic lead time is the slowest of the last five credit delays plus two intervals", func(t *testing.T) {
		topUps := []policy.TopUp{
			confirmed(10*time.Hour, 20*time.Minute), // the sixth newest: too old to count
			confirmed(9*time.Hour, 2*time.Minute),
			confirmed(8*time.Hour, 4*time.Minute),
			{At: ago(7 * time.Hour), Status: policy.Pending},
			{At: ago(6 * time.Hour), Status: policy.Rejected},
			confirmed(5*time.Hour, 3*time.Minute),
			confirmed(4*time.Hour, time.Minute),
			confirmed(3*time.Hour, 2*time.Minute),
		}
		if lead, auto := s.LeadTimeFor(topUps); lead != 5*time.Minute || !auto {
			t.Errorf("LeadTimeFor = %s, auto %t; want 4m + 2 x 30s = 5m, auto", lead, auto)
		}
	})
	t.Run("ten minutes until a top-up has been confirmed", func(t *testing.T) {
		for _, topUps := range [][]policy.TopUp{nil, {{At: ago(time.Hour), Status: policy.Pending}, {At: ago(time.Minute), Status: policy.Rejected}}} {
			if lead, auto := s.LeadTimeFor(topUps); lead != 10*time.Minute || !auto {
				t.Errorf("LeadTimeFor(%v) = %s, auto %t; want 10m, auto", topUps, lead, auto)
			}
		}
	})
	t.Run("a lead time that is set is used as it is", func(t *testing.T) {
		s := s
		s.LeadTime = 7 * time.Minute
		if lead, auto := s.LeadTimeFor([]policy.TopUp{confirmed(time.Hour, 30*time.Minute)}); lead != 7*time.Minute || auto {
			t.Errorf("LeadTimeFor = %s, auto %t; want 7m, set", lead, auto)
		}
	})
}

// TestPredictivePolicy: threshold 10, target 120, a fixed lead time of 10
// minutes, and a balance of 25 falling 2 EUR a minute: projected to 5.
func TestPredictivePolicy(t *testing.T) {
	s := settings
	s.Predictive, s.LeadTime = true, 10*time.Minute
	falling := minutely("35", "33", "31", "29", "27", "25")[:5] // 25 is the reading at noon
	in := policy.Input{Balance: eur("25"), AutoReload: true, Now: noon, Readings: falling}
	projected := policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonProjectedBelowThreshold, Refilling: true,
		RateKnown: true, BurnRate: eur("2"), Projected: eur("5"), LeadTime: 10 * time.Minute}
	same := func(t *testing.T, got, want policy.Decision) {
		t.Helper()
		if !oracle.Equal(got, want) {
			t.Errorf("Decide() = %+v, want %+v", got, want)
		}
	}
	t.Run("the predictive policy tops up while the balance is above the threshold when the projection falls below it, with reason projected_below_threshold", func(t *testing.T) {
		same(t, policy.Decide(s, in), projected)
	})
	t.Run("the predictive policy waits while the projection stays at or above the threshold", func(t *testing.T) {
		in := in
		in.Readings = minutely("40", "38", "36", "34", "32", "30")[:5]
		in.Balance = eur("30") // 30 - 2 x 10 = 10
		want := projected
		want.Action, want.Reason, want.Refilling, want.Projected = policy.ActionNone, policy.ReasonBalanceOK, false, eur("10")
		same(t, policy.Decide(s, in), want)
	})
	t.Run("the threshold policy ignores the projection", func(t *testing.T) {
		s := s
		s.Predictive = false
		want := projected
		want.Action, want.Reason, want.Refilling = policy.ActionNone, policy.ReasonBalanceOK, false
		same(t, policy.Decide(s, in), want)
	})
	t.Run("a projected top-up is blocked by an open window like any other", func(t *testing.T) {
		in := in
		in.TopUps = []policy.TopUp{{At: ago(time.Minute), Status: policy.Pending}}
		want := projected
		want.Action, want.Reason, want.TopUps24h = policy.ActionBlocked, policy.ReasonWindowOpen, 1
		same(t, policy.Decide(s, in), want)
	})
	t.Run("a refill started by the projection goes on to the target", func(t *testing.T) {
		first := policy.Decide(s, in)
		same(t, first, projected)
		// Two minutes on, the credit of 50 has shown, and the balance falls
		// no more. The credit ended the run of falls: one flat span since is
		// not yet a rate, and the refill goes on to the target all the same.
		topUps := []policy.TopUp{{At: noon, Ended: noon, Status: policy.Confirmed, ConfirmedAt: noon.Add(2 * time.Minute)}}
		readings := append(falling[:5:5], policy.Reading{At: noon, Balance: eur("25")}, policy.Reading{At: noon.Add(time.Minute), Balance: eur("75")})
		next := policy.Input{Balance: eur("75"), AutoReload: true, Now: noon.Add(2 * time.Minute), Refilling: first.Refilling, TopUps: topUps, Readings: readings}
		second := policy.Decide(s, next)
		same(t, second, policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonRefilling, Refilling: true, TopUps24h: 1})
		next.Balance, next.Refilling = eur("120"), second.Refilling
		same(t, policy.Decide(s, next), policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK, TopUps24h: 1})
	})
}
