package backtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/backtest"
)

// monthTrace is 30 days of one-minute rows: a daily cycle of 0.02 to 0.12
// EUR a minute, with a burst of 1 EUR a minute for 20 minutes every six
// hours: some 180 EUR a day, within what the default daily cap of five 50
// EUR top-ups refills.
func monthTrace() backtest.Trace {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tr := backtest.Trace{Path: "month", Rows: make([]backtest.Row, 0, 43_200)}
	for i := range 43_200 {
		minute := i % 1440
		cents := 2 + 10*min(minute, 1440-minute)/720
		if i%360 < 20 {
			cents = 100
		}
		tr.Rows = append(tr.Rows, backtest.Row{At: t0.Add(time.Duration(i+1) * time.Minute), Spend: decimal.New(int64(cents), -2)})
	}
	return tr
}

// yearTrace is monthTrace's days, 366 of them: the longest trace ReadTrace
// reads, 527,040 one-minute rows.
func yearTrace() backtest.Trace {
	month := monthTrace()
	tr := backtest.Trace{Path: "year", Rows: make([]backtest.Row, 0, 527_040)}
	for i := range 527_040 {
		r := month.Rows[i%len(month.Rows)]
		tr.Rows = append(tr.Rows, backtest.Row{At: month.Rows[0].At.Add(time.Duration(i) * time.Minute), Spend: r.Spend})
	}
	return tr
}

// benchSettings are the backtest's defaults, those of the README's table.
var benchSettings = backtest.Settings{
	Threshold: decimal.NewFromInt(25), Target: decimal.NewFromInt(25), Amount: decimal.NewFromInt(50),
	StartBalance: decimal.NewFromInt(75), CreditDelay: time.Minute, Every: 30 * time.Second,
	VonageInterval: 6 * time.Minute, Window: 15 * time.Minute, MaxPerDay: 5,
}

// BenchmarkRunMonth is the backtest of a month of one-minute rows: the
// three strategies, 7,200 checks of Vonage's and 86,400 of each watchdog's.
func BenchmarkRunMonth(b *testing.B) {
	tr := monthTrace()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := backtest.Run(context.Background(), tr, benchSettings); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunYear is the longest backtest of the defaults: a year of
// one-minute rows, 1,054,080 checks of each watchdog's (within MaxChecks)
// and 87,840 of Vonage's. Run with -benchtime 1x: one replay takes 20 to
// 30 s on two cores.
func BenchmarkRunYear(b *testing.B) {
	tr := yearTrace()
	if n := tr.Checks(benchSettings.Every); n > backtest.MaxChecks {
		b.Fatalf("%d checks, above MaxChecks", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := backtest.Run(context.Background(), tr, benchSettings); err != nil {
			b.Fatal(err)
		}
	}
}
