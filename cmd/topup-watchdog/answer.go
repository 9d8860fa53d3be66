package main

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// answer is the check command's line for a person: what the watchdog
// would do now and why, amounts first. The JSON decision line says the
// same for programs.
func answer(d watchdog.Decided, cfg config.Config) string {
	bal, threshold := eur(d.Balance), eur(d.Threshold)
	switch d.Decision.Action {
	case policy.ActionTopUp:
		what := "top up"
		if !cfg.Amount.IsZero() {
			what += " " + eur(cfg.Amount)
		}
		return fmt.Sprintf("%s: %s (dry run: nothing sent)", what, wantedBecause(d))
	case policy.ActionBlocked:
		return fmt.Sprintf("no top-up: one is wanted (balance %s, threshold %s) but %s", bal, threshold, blockedBecause(d, cfg))
	default:
		return fmt.Sprintf("no top-up: balance %s is at or above the threshold %s", bal, threshold)
	}
}

// wantedBecause says why a top-up is wanted.
func wantedBecause(d watchdog.Decided) string {
	bal := eur(d.Balance)
	switch d.Decision.Reason {
	case policy.ReasonRefilling:
		return fmt.Sprintf("balance %s is below the target %s of the refill under way", bal, eur(d.Target))
	case policy.ReasonProjectedBelowThreshold:
		return fmt.Sprintf("balance %s is projected at %s in %s at %s a minute, below the threshold %s",
			bal, eur(d.Decision.Projected), d.Decision.LeadTime, eur(d.Decision.BurnRate), eur(d.Threshold))
	default:
		return fmt.Sprintf("balance %s is below the threshold %s", bal, eur(d.Threshold))
	}
}

// blockedBecause says what blocks a wanted top-up, naming the variable
// that sets the rule.
func blockedBecause(d watchdog.Decided, cfg config.Config) string {
	switch d.Decision.Reason {
	case policy.ReasonAutoReloadDisabled:
		return "auto-reload is off on the account: Vonage would refuse it"
	case policy.ReasonWindowOpen:
		return fmt.Sprintf("an earlier top-up is not confirmed yet and inside its window (TOPUP_WINDOW %s)", cfg.Window)
	case policy.ReasonRecentlyRejected:
		return fmt.Sprintf("Vonage rejected a top-up less than TOPUP_WINDOW (%s) ago", cfg.Window)
	case policy.ReasonRateLimited:
		return "Vonage's Retry-After still holds new top-ups"
	case policy.ReasonBackingOff:
		return "the last top-ups could not be sent: backing off"
	case policy.ReasonDailyCapReached:
		return fmt.Sprintf("%d top-ups in the last 24 hours reach TOPUP_MAX_PER_DAY (%d)", d.Decision.TopUps24h, cfg.MaxPerDay)
	default:
		return string(d.Decision.Reason)
	}
}

// eur is an amount for a person: exact, with at least two decimals.
func eur(d decimal.Decimal) string {
	if d.Equal(d.Round(2)) {
		return d.StringFixed(2) + " EUR"
	}
	return d.String() + " EUR"
}
