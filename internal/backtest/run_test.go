package backtest_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/backtest"
)

var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// minutes is a trace of one-minute rows from day0+1m, spending each of
// spends in turn.
func minutes(spends ...string) backtest.Trace {
	tr := backtest.Trace{Path: "test.csv"}
	for i, s := range spends {
		tr.Rows = append(tr.Rows, backtest.Row{At: day0.Add(time.Duration(i+1) * time.Minute), Spend: eur(s)})
	}
	return tr
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func run(t *testing.T, tr backtest.Trace, s backtest.Settings) map[string]backtest.Result {
	t.Helper()
	rs, err := backtest.Run(context.Background(), tr, s)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	names := []string{backtest.VonageAutoReload, backtest.WatchdogThreshold, backtest.WatchdogPredictive}
	out := map[string]backtest.Result{}
	for i, r := range rs {
		if i >= len(names) || r.Name != names[i] {
			t.Fatalf("result %d is %q, want the strategies in the order %v", i, r.Name, names)
		}
		out[r.Name] = r
	}
	return out
}

func wantMeasures(t *testing.T, r backtest.Result, topUps int, below, atZero time.Duration, lowest, held string) {
	t.Helper()
	if r.TopUps != topUps || r.BelowThreshold != below || r.AtZero != atZero || !r.Lowest.Equal(eur(lowest)) ||
		!r.HeldAboveTarget.Equal(eur(held)) {
		t.Errorf("%s: %d top-ups, below %s, at zero %s, lowest %s, held %s; want %d, %s, %s, %s, %s",
			r.Name, r.TopUps, r.BelowThreshold, r.AtZero, r.Lowest, r.HeldAboveTarget, topUps, below, atZero, lowest, held)
	}
}

// Each row's spend leaves over its minute, at an even pace; the measures
// are the model's, exact. From 30 EUR at 10 a minute: 25 at 30s, 0 at 3m.
func TestTheMeasuresFollowTheSpendOverEachRow(t *testing.T) {
	s := readmeSettings
	s.StartBalance = eur("30")
	rs := run(t, minutes(repeat("10", 5)...), s)

	// Vonage checks at the start only: nothing charged.
	v := rs[backtest.VonageAutoReload]
	wantMeasures(t, v, 0, 270*time.Second, 2*time.Minute, "-20", "0.25") // 1.25 EUR min above 25, over 5 min
	var lows []string
	for _, p := range v.Series {
		lows = append(lows, p.At.Sub(day0).String()+"="+p.Balance.String())
	}
	if want := "1m0s=20 2m0s=10 3m0s=0 4m0s=-10 5m0s=-20"; strings.Join(lows, " ") != want {
		t.Errorf("series %s, want the lowest of each row: %s", strings.Join(lows, " "), want)
	}

	// The watchdog reads 25 at 30s (not below), 20 at 1m and tops up; the
	// credit lands at 2m, on 10: 60, falling to 30 at 5m.
	thr := rs[backtest.WatchdogThreshold]
	wantMeasures(t, thr, 1, 90*time.Second, 0, "10", "12.25") // (1.25 + (35+5)/2*3) / 5
	// The projection knows the pace from the third reading on (one span is
	// not yet a pace): from 35 EUR it tops up at 1m, on 25, where the
	// threshold policy waits for 20 at 1m30s; the balance stays higher.
	s.StartBalance = eur("35")
	rs = run(t, minutes(repeat("10", 5)...), s)
	thr, pred := rs[backtest.WatchdogThreshold], rs[backtest.WatchdogPredictive]
	if pred.TopUps == 0 || !pred.Lowest.GreaterThan(thr.Lowest) || pred.BelowThreshold >= thr.BelowThreshold {
		t.Errorf("predictive: %d top-ups, lowest %s, below %s; want it ahead of threshold's %s and %s",
			pred.TopUps, pred.Lowest, pred.BelowThreshold, thr.Lowest, thr.BelowThreshold)
	}
}

// Vonage's auto-reload charges one amount at a check that finds the balance
// below the threshold, never while its own charge is uncredited, and has no
// cap: with a credit delay longer than its interval it skips one check.
func TestAutoReloadChargesOnceUntilItsCreditLands(t *testing.T) {
	s := readmeSettings
	s.StartBalance, s.CreditDelay, s.MaxPerDay = eur("30"), 10*time.Minute, 0
	rs := run(t, minutes(repeat("10", 20)...), s)
	// Checks at 0 (30), 6m (-30: charge, credited at 16m), 12m (uncredited),
	// 18m (-100: charge, credited after the end at 28m). Lowest just before
	// the credit at 16m: 30-160.
	wantMeasures(t, rs[backtest.VonageAutoReload], 2, 19*time.Minute+30*time.Second, 17*time.Minute, "-130", "0.0625")
	// The watchdog's cap of 0 sends nothing.
	if got := rs[backtest.WatchdogThreshold].TopUps + rs[backtest.WatchdogPredictive].TopUps; got != 0 {
		t.Errorf("%d watchdog top-ups with a daily cap of 0", got)
	}
}

// A trace of one row spends it over FirstStep; the replay depends on
// nothing but its input.
func TestRunIsDeterministic(t *testing.T) {
	s := readmeSettings
	one := run(t, minutes("1"), s)
	if got := one[backtest.VonageAutoReload].Series; len(got) != 1 || !got[0].Balance.Equal(eur("74")) {
		t.Errorf("one row: series %v, want 74 at its end", got)
	}
	tr := minutes(append(repeat("0.4", 100), repeat("12", 20)...)...)
	a, b := run(t, tr, s), run(t, tr, s)
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs of one trace differ")
	}
}

func TestRunRefusesWhatItCannotReplay(t *testing.T) {
	if _, err := backtest.Run(context.Background(), backtest.Trace{}, readmeSettings); err == nil {
		t.Error("Run accepted a trace without rows")
	}
	bad := readmeSettings
	bad.Threshold, bad.Amount, bad.Every, bad.MaxPerDay = eur("0"), eur("-1"), 0, -1
	_, err := backtest.Run(context.Background(), minutes("1"), bad)
	for _, want := range []string{"threshold 0 is not above 0", "amount -1", "check interval 0s", "daily cap -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run with bad settings: %v; want it to say %q", err, want)
		}
	}
	bad = readmeSettings
	bad.Target = eur("10")
	if _, err := backtest.Run(context.Background(), minutes("1"), bad); err == nil || !strings.Contains(err.Error(), "target 10 is below") {
		t.Errorf("Run with a target below the threshold: %v", err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stop")
	cancel(stop)
	if _, err := backtest.Run(ctx, minutes("1", "1"), readmeSettings); !errors.Is(err, stop) {
		t.Errorf("Run on an ended context: %v, want its cause", err)
	}
}

// Run refuses what would overflow its spans or not end in reasonable time:
// more than MaxRows rows, rows further apart than MaxSpan (compared as times: centuries apart, their
// difference overflows a time.Duration), intervals below MinInterval, and
// an interval making more than MaxChecks checks over the trace.
func TestRunRefusesWhatItWouldNotEnd(t *testing.T) {
	far := backtest.Trace{Rows: []backtest.Row{
		{At: time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), Spend: eur("1")},
		{At: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Spend: eur("1")},
	}}
	if _, err := backtest.Run(context.Background(), far, readmeSettings); err == nil ||
		!strings.Contains(err.Error(), "the trace's last row is more than 366 days after its first") {
		t.Errorf("Run on rows 300 years apart: %v", err)
	}
	many := backtest.Trace{Rows: make([]backtest.Row, backtest.MaxRows+1)}
	if _, err := backtest.Run(context.Background(), many, readmeSettings); err == nil ||
		!strings.Contains(err.Error(), "the trace has 1100001 rows, more than 1100000") {
		t.Errorf("Run on %d rows: %v", len(many.Rows), err)
	}
	fast := readmeSettings
	fast.Every, fast.VonageInterval = time.Nanosecond, 999*time.Millisecond
	_, err := backtest.Run(context.Background(), minutes("1", "1"), fast)
	for _, want := range []string{"the check interval 1ns is below 1s", "the Vonage interval 999ms is below 1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run with intervals below a second: %v; want it to say %q", err, want)
		}
	}
	// Two rows 13 days apart replay 26 days: 2,246,400 checks at 1s.
	long := backtest.Trace{Rows: []backtest.Row{{At: day0, Spend: eur("1")}, {At: day0.Add(13 * 24 * time.Hour), Spend: eur("1")}}}
	if got := long.Span(); got != 26*24*time.Hour {
		t.Errorf("Span %s, want 26 days: from a step before the first row", got)
	}
	second := readmeSettings
	second.Every = time.Second
	if _, err := backtest.Run(context.Background(), long, second); err == nil ||
		!strings.Contains(err.Error(), "the check interval 1s makes 2246400 checks over the trace's 26 days, more than 1100000") {
		t.Errorf("Run of 2,246,400 checks: %v", err)
	}
}

// Checks counts the checks a strategy makes: the first at the start, then
// every interval while before the last row.
func TestChecksCountsTheChecksOfAStrategy(t *testing.T) {
	tr := minutes(repeat("1", 5)...) // 5 minutes from the start, a minute before the first row
	for interval, want := range map[time.Duration]int64{
		time.Minute: 5, 30 * time.Second: 10, 7 * time.Minute: 1, 59 * time.Second: 6, 0: math.MaxInt64,
	} {
		if got := tr.Checks(interval); got != want {
			t.Errorf("Checks(%s) = %d, want %d", interval, got, want)
		}
	}
	if got := minutes("1").Span(); got != backtest.FirstStep {
		t.Errorf("a row alone spans %s, want FirstStep", got)
	}
	if got := (backtest.Trace{}).Checks(time.Second); got != 0 {
		t.Errorf("no rows: %d checks", got)
	}
	// A year of one-minute rows at the default 30s is within the bound.
	if n := int64(backtest.MaxSpan / (30 * time.Second)); n > backtest.MaxChecks {
		t.Errorf("a year at 30s is %d checks, above MaxChecks %d", n, backtest.MaxChecks)
	}
}
