// Package backtest replays a usage trace through three strategies on one
// simulated account, in simulated time: Vonage's own auto-reload, and the
// watchdog with its threshold and its predictive policy, which run the real
// check code (internal/replay). It reads traces (ReadTrace), runs them (Run)
// and prints what each strategy did (Render, RenderJSON).
package backtest

import (
	"time"

	"github.com/shopspring/decimal"
)

// The strategies, by the names the table and --json give them.
const (
	VonageAutoReload   = "vonage-auto-reload"
	WatchdogThreshold  = "watchdog-threshold"
	WatchdogPredictive = "watchdog-predictive"
)

// Row is one row of a trace: Spend EUR spent in the span that ends At, since
// the previous row (for the first row, in the span of the trace's step
// before it).
type Row struct {
	At    time.Time
	Spend decimal.Decimal
}

// Trace is a usage trace, rows sorted by strictly increasing time.
type Trace struct {
	// Path names the file it was read from, for messages.
	Path string
	Rows []Row
	// StartBalance is the balance before the first row when the trace
	// says it (a watchdog log's first balance); zero and false otherwise.
	StartBalance decimal.Decimal
	HasStart     bool
}

// Settings are a backtest's settings, as the flags give them.
type Settings struct {
	Threshold, Target decimal.Decimal
	// Amount is what each top-up adds.
	Amount decimal.Decimal
	// StartBalance is the balance at the trace's start, one step before
	// its first row (Run).
	StartBalance decimal.Decimal
	// CreditDelay is how long after it is applied a top-up shows in the
	// balance, for every strategy.
	CreditDelay time.Duration
	// Every is the watchdog's schedule; VonageInterval Vonage's own check.
	Every, VonageInterval time.Duration
	// LeadTime is the predictive policy's lead time; 0 means auto.
	LeadTime  time.Duration
	Window    time.Duration
	MaxPerDay int
}

// Point is the balance at an instant, for the chart.
type Point struct {
	At      time.Time
	Balance decimal.Decimal
}

// Result is what one strategy did over the trace.
type Result struct {
	Name   string
	TopUps int
	// BelowThreshold is how long the balance was strictly below the
	// threshold; AtZero how long it was at or below zero (calls and
	// messages failing). Both computed from the account's model, not
	// sampled.
	BelowThreshold, AtZero time.Duration
	Lowest                 decimal.Decimal
	// HeldAboveTarget is the mean, over the trace, of the EUR the balance
	// held above the target (zero while at or below it): what the strategy
	// keeps tied up.
	HeldAboveTarget decimal.Decimal
	// Series is, for each row of the trace, the lowest balance over the
	// row's span, at the row's time, for the chart: a column of the chart
	// shows the lowest of its points, so no dip between two rows is lost.
	Series []Point
}
