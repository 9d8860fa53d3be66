package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// createLedger creates the state file at path as run's first check
// would, and returns what it holds.
func createLedger(t *testing.T, path string) []byte {
	t.Helper()
	f, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// check refuses a state file, or a folder, that does not exist: run would
// start from an empty ledger there (or not start), so a decision on an
// empty ledger would not be the one run takes. It exits 1 before asking
// Vonage anything, and creates nothing.
func TestCheckRefusesAStateFileThatDoesNotExist(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "stat.json"), "topup-watchdog: check: state file " + filepath.Join(dir, "stat.json") +
			" does not exist (TOPUP_STATE_FILE): run creates it at its first check; check only reads it\n"},
		{filepath.Join(dir, "dta", "state.json"), "topup-watchdog: check: state folder " + filepath.Join(dir, "dta") +
			" does not exist (TOPUP_STATE_FILE " + filepath.Join(dir, "dta", "state.json") +
			"): run cannot start without it; check only reads the file\n"},
	} {
		acct, srv := startAccount(t, testAccount("5", time.Minute))
		env := testEnv(t, srv.URL)
		env["TOPUP_STATE_FILE"] = tt.path
		code, stdout, stderr := runOnce(t, env, "check")
		if code != exitFatal || stdout != "" || stderr != tt.want {
			t.Errorf("exit %d, stdout %q, stderr\n%q\nwant exit 1, no stdout, stderr\n%q", code, stdout, stderr, tt.want)
		}
		if s := acct.Stats(); s.BalanceRequests+s.TopUpRequests != 0 {
			t.Errorf("check asked Vonage with no ledger: %+v", s)
		}
		if _, err := os.Lstat(tt.path); !os.IsNotExist(err) {
			t.Errorf("check created %s: %v", tt.path, err)
		}
	}
}

// Each decision reads as a sentence, amounts exact with two decimals at
// least, and a blocked top-up names the variable of its rule.
func TestCheckAnswerSaysWhatAndWhy(t *testing.T) {
	cfg := config.Config{Amount: decimal.RequireFromString("25"), Window: 15 * time.Minute, MaxPerDay: 5}
	d := func(balance string, action policy.Action, reason policy.Reason) watchdog.Decided {
		return watchdog.Decided{Balance: decimal.RequireFromString(balance),
			Threshold: decimal.RequireFromString("20"), Target: decimal.RequireFromString("40.5"),
			Decision: policy.Decision{Action: action, Reason: reason, TopUps24h: 5,
				Projected: decimal.RequireFromString("12.345"), BurnRate: decimal.RequireFromString("1.5"), LeadTime: 10 * time.Minute}}
	}
	for _, tt := range []struct {
		d    watchdog.Decided
		want string
	}{
		{d("12.34", policy.ActionTopUp, policy.ReasonBelowThreshold),
			"top up 25.00 EUR: balance 12.34 EUR is below the threshold 20.00 EUR (dry run: nothing sent)"},
		{d("30", policy.ActionTopUp, policy.ReasonRefilling),
			"top up 25.00 EUR: balance 30.00 EUR is below the target 40.50 EUR of the refill under way (dry run: nothing sent)"},
		{d("27.5", policy.ActionTopUp, policy.ReasonProjectedBelowThreshold),
			"top up 25.00 EUR: balance 27.50 EUR is projected at 12.345 EUR in 10m0s at 1.50 EUR a minute, below the threshold 20.00 EUR (dry run: nothing sent)"},
		{d("42.1", policy.ActionNone, policy.ReasonBalanceOK),
			"no top-up: balance 42.10 EUR is at or above the threshold 20.00 EUR"},
		{d("12.34", policy.ActionBlocked, policy.ReasonAutoReloadDisabled),
			"no top-up: one is wanted (balance 12.34 EUR, threshold 20.00 EUR) but auto-reload is off on the account: Vonage would refuse it"},
		{d("12.34", policy.ActionBlocked, policy.ReasonWindowOpen),
			"no top-up: one is wanted (balance 12.34 EUR, threshold 20.00 EUR) but an earlier top-up is not confirmed yet and inside its window (TOPUP_WINDOW 15m0s)"},
		{d("12.34", policy.ActionBlocked, policy.ReasonRecentlyRejected),
			"no top-up: one is wanted (balance 12.34 EUR, threshold 20.00 EUR) but Vonage rejected a top-up less than TOPUP_WINDOW (15m0s) ago"},
		{d("12.34", policy.ActionBlocked, policy.ReasonRateLimited),
			"no top-up: one is wanted (balance 12.34 EUR, threshold 20.00 EUR) but Vonage's Retry-After still holds new top-ups"},
		{d("12.34", policy.ActionBlocked, policy.ReasonBackingOff),
			"no top-up: one is wanted (balance 12.34 EUR, threshold 20.00 EUR) but the last top-ups could not be sent: backing off"},
		{d("12.34", policy.ActionBlocked, policy.ReasonDailyCapReached),
			"no top-up: one is wanted (balance 12.34 EUR, threshold 20.00 EUR) but 5 top-ups in the last 24 hours reach TOPUP_MAX_PER_DAY (5)"},
	} {
		if got := answer(tt.d, cfg); got != tt.want {
			t.Errorf("%s/%s:\n got  %q\n want %q", tt.d.Decision.Action, tt.d.Decision.Reason, got, tt.want)
		}
	}
}
