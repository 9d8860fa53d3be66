package backtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/replay"
	"github.com/topup-watchdog/topup-watchdog/internal/replay/clock"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// FirstStep is the span of a trace's first row when the trace has no second
// row to take its step from.
const FirstStep = time.Minute

// MinInterval is the shortest check interval, the watchdog's (Every) and
// Vonage's (VonageInterval): a second, as TOPUP_SCHEDULE allows no @every
// below one.
const MinInterval = time.Second

// MaxChecks bounds the checks of one strategy over a replay (Trace.Checks):
// a little over a year of checks every 30 s (1,054,080 over 366 days), so
// that no trace and settings Run accepts replay for hours. A year at 30 s
// takes 20 to 30 s on two cores (BenchmarkRunYear).
const MaxChecks = 1_100_000

// requestTimeout is TOPUP_REQUEST_TIMEOUT's default, which a top-up's
// flight is counted with (policy.Settings.Flight), as the watchdog counts
// it. The simulated account answers at once, so it only matters to a
// request whose end is not known, and there is none.
const requestTimeout = 10 * time.Second

// Run replays tr through the three strategies, on three copies of one
// simulated account (internal/sim) in simulated time, and returns what each
// did, in the order VonageAutoReload, WatchdogThreshold, WatchdogPredictive.
//
// The account starts at s.StartBalance one step before the first row (the
// span between the first two rows; FirstStep for a trace of one row) and
// spends each row's spend at an even pace over the row's span, from the row
// before to the row's own time: checks between two rows see the pace, not
// one drop. Every top-up adds s.Amount, s.CreditDelay after Vonage applies
// it. The replay ends at the last row.
//
// The strategies:
//
//   - VonageAutoReload is Vonage's own auto-reload as this package models
//     it: a check every s.VonageInterval, the first at the account's start;
//     a check that finds the balance below s.Threshold, while no charge of
//     its own is still uncredited, charges one amount. No target (one
//     charge per check, whatever the balance still lacks), no window, no
//     daily cap: Vonage's own check has none of the watchdog's rules.
//   - WatchdogThreshold and WatchdogPredictive are the watchdog itself: the
//     real check (watchdog.Watchdog through internal/replay, with the policy,
//     the ledger's rules and the confirmation of credits, TOPUP_AMOUNT being
//     s.Amount) every s.Every, the first at the start, over an in-memory
//     ledger, with TOPUP_POLICY threshold and predictive.
//
// The measures come from the account's exact model (sim.Account.History),
// not from samples. Run depends on nothing but tr and s: not on the wall
// clock, nor on chance. It ends early with ctx's cause when ctx ends.
//
// Run refuses a trace of more than MaxRows rows or whose last row is more
// than MaxSpan after its first, intervals below MinInterval, and an
// interval that would make more than MaxChecks checks over the trace.
func Run(ctx context.Context, tr Trace, s Settings) ([]Result, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := tr.check(s); err != nil {
		return nil, err
	}
	start, spends := traceSpends(tr)
	end := tr.Rows[len(tr.Rows)-1].At
	cuts := make([]time.Time, len(tr.Rows))
	for i, r := range tr.Rows {
		cuts[i] = r.At
	}
	strategies := []struct {
		name string
		run  func(context.Context, *sim.Account, *clock.Clock) error
	}{
		{VonageAutoReload, func(ctx context.Context, a *sim.Account, c *clock.Clock) error {
			return autoReload(ctx, a, c, s, end)
		}},
		{WatchdogThreshold, func(ctx context.Context, a *sim.Account, c *clock.Clock) error {
			return watch(ctx, a, c, s, false, end)
		}},
		{WatchdogPredictive, func(ctx context.Context, a *sim.Account, c *clock.Clock) error {
			return watch(ctx, a, c, s, true, end)
		}},
	}
	// The strategies share nothing: each has its account and its clock,
	// and runs on its own goroutine.
	results := make([]Result, len(strategies))
	errs := make([]error, len(strategies))
	var wg sync.WaitGroup
	for i, st := range strategies {
		wg.Go(func() {
			c := clock.New(start)
			acct, err := sim.New(sim.Config{APIKey: "backtest", APISecret: "backtest", TRX: "backtest",
				Balance: s.StartBalance, AutoReload: true, TopUpAmount: s.Amount, CreditDelay: s.CreditDelay,
				Spends: spends, Now: c.Now})
			if err == nil {
				err = st.run(ctx, acct, c)
			}
			if err != nil {
				errs[i] = fmt.Errorf("backtest: %s: %w", st.name, err)
				return
			}
			if c.Now().Before(end) {
				c.Advance(end.Sub(c.Now()))
			}
			results[i] = measure(st.name, acct, s, cuts)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return results, nil
}

// check reports settings the replay cannot run with.
func (s Settings) check() error {
	var errs []error
	switch {
	case !s.Threshold.IsPositive():
		errs = append(errs, fmt.Errorf("the threshold %s is not above 0", s.Threshold))
	case s.Target.LessThan(s.Threshold):
		errs = append(errs, fmt.Errorf("the target %s is below the threshold %s", s.Target, s.Threshold))
	}
	if !s.Amount.IsPositive() {
		errs = append(errs, fmt.Errorf("the amount %s is not above 0", s.Amount))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
		zero bool // whether 0 is allowed
	}{
		{"credit delay", s.CreditDelay, true}, {"check interval", s.Every, false},
		{"Vonage interval", s.VonageInterval, false}, {"lead time", s.LeadTime, true}, {"window", s.Window, false},
	} {
		if d.d < 0 || d.d == 0 && !d.zero {
			errs = append(errs, fmt.Errorf("the %s %s is not above 0", d.name, d.d))
		}
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"check interval", s.Every}, {"Vonage interval", s.VonageInterval}} {
		if d.d > 0 && d.d < MinInterval {
			errs = append(errs, fmt.Errorf("the %s %s is below %s", d.name, d.d, MinInterval))
		}
	}
	if s.MaxPerDay < 0 {
		errs = append(errs, fmt.Errorf("the daily cap %d is negative", s.MaxPerDay))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	return nil
}

// check reports a trace the replay cannot run, or not in reasonable time,
// with s.
func (tr Trace) check(s Settings) error {
	if len(tr.Rows) == 0 {
		return errors.New("backtest: the trace has no rows")
	}
	if len(tr.Rows) > MaxRows {
		return fmt.Errorf("backtest: the trace has %d rows, more than %d", len(tr.Rows), MaxRows)
	}
	first, last := tr.Rows[0].At, tr.Rows[len(tr.Rows)-1].At
	if last.After(first.Add(MaxSpan)) { // times compared: their difference may overflow
		return fmt.Errorf("backtest: the trace's last row is more than %s after its first", Days(MaxSpan))
	}
	var errs []error
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"check interval", s.Every}, {"Vonage interval", s.VonageInterval}} {
		if n := tr.Checks(d.d); n > MaxChecks {
			errs = append(errs, fmt.Errorf("the %s %s makes %d checks over the trace's %s, more than %d",
				d.name, d.d, n, Days(tr.Span()), MaxChecks))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	return nil
}

// Span is the time a replay of tr covers: from the account's start, one
// step before the first row (Run), to the last row; 0 without rows. It
// saturates at the longest time.Duration for rows further apart than
// MaxSpan, which Run refuses.
func (tr Trace) Span() time.Duration {
	if len(tr.Rows) == 0 {
		return 0
	}
	start := traceStart(tr)
	return tr.Rows[len(tr.Rows)-1].At.Sub(start)
}

// Checks is how many checks a strategy checking every interval makes over
// tr's Span: the first at the start, the last before the last row.
func (tr Trace) Checks(interval time.Duration) int64 {
	if interval <= 0 {
		return math.MaxInt64
	}
	span := tr.Span()
	n := int64(span / interval)
	if span%interval != 0 {
		n++
	}
	return n
}

// traceStart is the account's start: a step before the first row, the span
// between the first two rows (FirstStep for a trace of one row).
func traceStart(tr Trace) time.Time {
	step := FirstStep
	if len(tr.Rows) > 1 {
		step = tr.Rows[1].At.Sub(tr.Rows[0].At)
	}
	return tr.Rows[0].At.Add(-step)
}

// traceSpends is the account's start, a step before the first row, and the
// rows as spends spread over their spans, counted from the start.
func traceSpends(tr Trace) (time.Time, []sim.Spend) {
	start := traceStart(tr)
	spends := make([]sim.Spend, len(tr.Rows))
	from := time.Duration(0)
	for i, r := range tr.Rows {
		to := r.At.Sub(start)
		spends[i] = sim.Spend{From: from, To: to, Amount: r.Spend}
		from = to
	}
	return start, spends
}

// autoReload runs Vonage's auto-reload, as Run describes it, until end.
func autoReload(ctx context.Context, acct *sim.Account, c *clock.Clock, s Settings, end time.Time) error {
	api := acct.Direct()
	var credited time.Time // when its last charge shows in the balance
	for at := c.Now(); at.Before(end); at = at.Add(s.VonageInterval) {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		c.Advance(at.Sub(c.Now()))
		bal, err := api.GetBalance(ctx)
		if err != nil {
			return err
		}
		if bal.Value.LessThan(s.Threshold) && !at.Before(credited) {
			if err := api.TopUp(ctx); err != nil {
				return err
			}
			credited = at.Add(s.CreditDelay)
		}
	}
	return nil
}

// watch runs the watchdog's real check every s.Every until end.
func watch(ctx context.Context, acct *sim.Account, c *clock.Clock, s Settings, predictive bool, end time.Time) error {
	d := replay.New(c, s.Every)
	d.Start(acct.Direct(), ledger.NewMemory(ledger.State{}), watchdog.Options{
		Settings: policySettings(s, predictive), Amount: s.Amount, Log: zap.NewNop(),
	})
	return d.Run(ctx, end, replay.Hooks{})
}

// policySettings are the policy's settings for s, as the run command sets
// them from the TOPUP_ variables.
func policySettings(s Settings, predictive bool) policy.Settings {
	return policy.Settings{
		Threshold: s.Threshold, Target: s.Target, Window: s.Window, MaxPerDay: s.MaxPerDay,
		Predictive: predictive, LeadTime: s.LeadTime, Interval: s.Every,
		Flight: s.Window/4 + requestTimeout, Backoff: s.Every,
	}
}

// measure reads one strategy's result from its account's history, in one
// pass over it, cut at every row (cuts) for the series. Within a segment
// the balance only falls: its lowest is its End.
func measure(name string, acct *sim.Account, s Settings, cuts []time.Time) Result {
	r := Result{Name: name, TopUps: acct.Stats().TopUpsApplied, Series: make([]Point, 0, len(cuts))}
	var area decimal.Decimal
	var low decimal.Decimal // the lowest of the row so far
	row, fresh := 0, true
	history := acct.History(cuts...)
	r.Lowest = history[0].Start
	for _, seg := range history {
		if from, ok := seg.BelowFrom(s.Threshold, false); ok {
			r.BelowThreshold += seg.To.Sub(from)
		}
		if from, ok := seg.BelowFrom(decimal.Zero, true); ok {
			r.AtZero += seg.To.Sub(from)
		}
		area = area.Add(seg.Above(s.Target))
		if seg.End.LessThan(r.Lowest) {
			r.Lowest = seg.End
		}
		if fresh || seg.End.LessThan(low) {
			low, fresh = seg.End, false
		}
		// The segments never straddle a row: the last of a row ends at it.
		if row < len(cuts) && !seg.To.Before(cuts[row]) {
			r.Series = append(r.Series, Point{At: cuts[row], Balance: low})
			row, fresh = row+1, true
		}
	}
	r.Lowest = decimal.Min(r.Lowest, acct.Balance()).Round(8)
	span := history[len(history)-1].To.Sub(history[0].From)
	r.HeldAboveTarget = area.DivRound(decimal.NewFromInt(int64(span)).Shift(-9), 8)
	return r
}
