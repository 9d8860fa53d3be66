package main

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// The README's first command: `go run ./cmd/topup-watchdog demo --duration
// 20s` exits 0 by itself, shows a top-up and its confirmation, and prints
// the summary.
func TestDemoShowsATopUpItsConfirmationAndASummary(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runOnce(t, nil, "demo", "--duration", "20s")
	if code != exitOK {
		t.Fatalf("demo exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{`INFO +topup outcome=succeeded `, `INFO +topup confirmed `, `\nDemo summary`, `\n  checks `, `\n  lowest balance `} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	m := regexp.MustCompile(`top-ups\s+(\d+) succeeded`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no top-up count in the summary:\n%s", stdout)
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 {
		t.Errorf("summary counts %d succeeded top-ups, want at least 1", n)
	}
	if !regexp.MustCompile(`credits confirmed [1-9]`).MatchString(stdout) {
		t.Errorf("summary shows no confirmed credit:\n%s", stdout)
	}
}

// The summary counts the run times skipped while a check ran late (a
// CheckSkipped may cover several) and the retried attempts, balance reads
// and top-ups apart.
func TestDemoSummaryCountsSkippedRunsAndRetriedAttempts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	acct, err := sim.New(sim.Config{
		APIKey: demoKey, APISecret: demoSecret, TRX: demoTRX, AutoReload: true,
		Balance: decimal.NewFromInt(30), TopUpAmount: decimal.RequireFromString(demoTopUp),
		DrainPerSecond: decimal.RequireFromString("0.5"), Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second) // 15 EUR drained, the last 10 s below 20 EUR
	tally := newDemoTally()
	fail := errors.New("vonage: get balance: 503")
	for _, e := range []watchdog.Event{
		watchdog.CheckStarted{}, watchdog.CheckStarted{}, watchdog.CheckStarted{}, watchdog.CheckFailed{Err: fail},
		watchdog.CheckSkipped{Ran: 5 * time.Second, Runs: 2}, watchdog.CheckSkipped{Ran: 3 * time.Second, Runs: 1},
		watchdog.AttemptRetried{Op: watchdog.OpGetBalance, Attempt: 1, Err: fail},
		watchdog.AttemptRetried{Op: watchdog.OpGetBalance, Attempt: 2, Err: fail},
		watchdog.AttemptRetried{Op: watchdog.OpGetBalance, Attempt: 1, Err: fail},
		watchdog.AttemptRetried{Op: watchdog.OpTopUp, Attempt: 1, Err: fail},
		watchdog.TopUpFinished{Outcome: ledger.Succeeded}, watchdog.TopUpConfirmed{},
	} {
		tally.Observe(e)
	}
	var out strings.Builder
	tally.print(&out, 30*time.Second, acct, decimal.NewFromInt(20))

	want := `
Demo summary, 30s on a simulated account
  checks            3 (1 failed), 3 run times skipped while a check ran late
  retried attempts  3 of balance reads, 1 of top-ups
  top-ups           1 succeeded, 0 rejected, 0 not sent, 0 unknown
  credits confirmed 1
  lowest balance    15.00 EUR
  below threshold   10s (threshold 20 EUR)
  balance now       15.00 EUR
`
	if got := out.String(); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
}
