package backtest_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/backtest"
)

// readmeSettings are the settings of the README's table: threshold 25,
// target 25 (the threshold's), top-ups of 50 credited after a minute, a
// start at the target plus one top-up, a check every 30s, Vonage's every
// 6m, the default window and lead time, at most 10 top-ups a day.
var readmeSettings = backtest.Settings{
	Threshold: decimal.NewFromInt(25), Target: decimal.NewFromInt(25), Amount: decimal.NewFromInt(50),
	StartBalance: decimal.NewFromInt(75), CreditDelay: time.Minute, Every: 30 * time.Second,
	VonageInterval: 6 * time.Minute, Window: 15 * time.Minute, MaxPerDay: 10,
}

// refillLimit is the most that one top-up at a time can refill, in EUR a
// minute: an amount each credit delay plus check interval.
func refillLimit(s backtest.Settings) decimal.Decimal {
	return s.Amount.Mul(decimal.NewFromInt(int64(time.Minute))).Div(decimal.NewFromInt(int64(s.CreditDelay + s.Every)))
}

// synthetic runs each synthetic trace once with readmeSettings, for every
// test that asks.
var synthetic = sync.OnceValue(func() map[string]syntheticRun {
	out := map[string]syntheticRun{}
	for _, s := range shapes {
		tr, err := backtest.ReadTrace(filepath.Join("testdata", s.file))
		if err != nil {
			out[s.file] = syntheticRun{err: err}
			continue
		}
		rs, err := backtest.Run(context.Background(), tr, readmeSettings)
		out[s.file] = syntheticRun{trace: tr, results: rs, err: err}
	}
	return out
})

type syntheticRun struct {
	trace   backtest.Trace
	results []backtest.Result
	err     error
}

// strategies returns the run of file, its results by name.
func strategies(t *testing.T, file string) (backtest.Trace, map[string]backtest.Result) {
	t.Helper()
	r := synthetic()[file]
	if r.err != nil {
		t.Fatalf("%s: %v", file, r.err)
	}
	byName := map[string]backtest.Result{}
	for _, res := range r.results {
		byName[res.Name] = res
	}
	if len(byName) != 3 {
		t.Fatalf("%s: results %v, want the three strategies", file, r.results)
	}
	return r.trace, byName
}

func TestTheRefillLimitIs33EURAMinute(t *testing.T) {
	if got := refillLimit(readmeSettings).StringFixed(2); got != "33.33" {
		t.Errorf("refill limit %s EUR a minute, want 33.33", got)
	}
}

// On the steady trace the two watchdog policies are within one top-up.
func TestOnTheSteadyTraceBothPoliciesAreWithinOneTopUp(t *testing.T) {
	_, rs := strategies(t, "steady.csv")
	thr, pred := rs[backtest.WatchdogThreshold], rs[backtest.WatchdogPredictive]
	if d := pred.TopUps - thr.TopUps; d < -1 || d > 1 {
		t.Errorf("steady: %d top-ups predictive, %d threshold: more than one apart", pred.TopUps, thr.TopUps)
	}
	if thr.TopUps == 0 {
		t.Error("steady: no top-up at all: the trace does not exercise the policies")
	}
}

// On every bursty trace the predictive policy never lets the balance reach
// zero, with at most 20 % more top-ups than the threshold policy.
func TestOnBurstyTracesThePredictivePolicyNeverReachesZero(t *testing.T) {
	for _, file := range []string{"daily-cycle.csv", "campaign-bursts.csv", "retry-storm.csv"} {
		_, rs := strategies(t, file)
		thr, pred := rs[backtest.WatchdogThreshold], rs[backtest.WatchdogPredictive]
		if pred.AtZero != 0 {
			t.Errorf("%s: predictive at or below zero for %s (lowest %s)", file, pred.AtZero, pred.Lowest)
		}
		if 5*pred.TopUps > 6*thr.TopUps {
			t.Errorf("%s: %d top-ups predictive, over 120 %% of threshold's %d", file, pred.TopUps, thr.TopUps)
		}
	}
}

// The campaign-bursts trace holds a burst under the refill limit that the
// threshold policy does not survive and the predictive one does:
// Wednesday's campaign, 30 EUR a minute at its peak.
func TestABurstUnderTheRefillLimitEmptiesTheThresholdPolicyOnly(t *testing.T) {
	tr, rs := strategies(t, "campaign-bursts.csv")
	from := time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)
	to := from.Add(30 * time.Minute)
	limit := refillLimit(readmeSettings)
	var peak decimal.Decimal
	for _, r := range tr.Rows { // one-minute rows: a row's spend is its pace
		peak = decimal.Max(peak, r.Spend)
	}
	if !peak.LessThan(limit) || peak.LessThan(limit.Mul(decimal.RequireFromString("0.85"))) {
		t.Fatalf("the trace peaks at %s EUR a minute, want a burst just under the limit of %s", peak, limit.StringFixed(2))
	}
	low := func(r backtest.Result) decimal.Decimal { // the lowest during the campaign
		v, seen := decimal.Zero, false
		for _, p := range r.Series {
			if p.At.After(from) && !p.At.After(to) && (!seen || p.Balance.LessThan(v)) {
				v, seen = p.Balance, true
			}
		}
		return v
	}
	thr, pred := rs[backtest.WatchdogThreshold], rs[backtest.WatchdogPredictive]
	if thr.AtZero == 0 || !low(thr).IsNegative() {
		t.Errorf("threshold: %s at or below zero, lowest %s during the campaign: want it to run dry", thr.AtZero, low(thr))
	}
	if pred.AtZero != 0 || pred.Lowest.LessThanOrEqual(decimal.Zero) {
		t.Errorf("predictive: %s at or below zero, lowest %s: want it to survive", pred.AtZero, pred.Lowest)
	}
}
