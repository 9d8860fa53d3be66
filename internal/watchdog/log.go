package watchdog

import (
	"context"
	"errors"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// The messages of the log lines, as the contract names them.
const (
	msgDecision           = "decision"
	msgTopUp              = "topup"
	msgTopUpConfirmed     = "topup confirmed"
	msgTopUpUnconfirmed   = "topup unconfirmed"
	msgCheckFailed        = "check failed"
	msgCheckRecovered     = "check recovered"
	msgLedgerFailed       = "ledger write failed"
	msgCheckInterrupted   = "check interrupted"
	msgClockStepped       = "system clock stepped"
	msgClockSteppedUnseen = "system clock stepped while no watchdog watched: the ledger's times moved by the step"
	msgRecordAhead        = "ledger record dated ahead of the clock: counted as written now"
	msgIntentTooOld       = "intent too old to send"
	msgAttemptRetried     = "attempt failed, retrying"
	msgCheckSkipped       = "check skipped" // begins each skipped-check line: skippedMessage
	msgTickTaken          = "tick taken by another replica: it reads the balance for the fleet"
	msgTickFailed         = "fleet tick failed: reading the balance alone; a top-up still needs its claim in redis"
	msgClaimLost          = "claim lost to another replica: its top-up holds the window"
	msgUnsentClosed       = "intent closed not_sent: its write had failed, and it was never sent"
)

// The messages of the states that need a person (alarms.go): one line when
// a state begins, one when it ends.
const (
	msgAutoReloadOff       = "auto-reload is off on the account: no top-up will be sent until it is switched on in the Vonage dashboard"
	msgAutoReloadOn        = "auto-reload is on again: top-ups can be sent"
	msgCredentialsRejected = "vonage rejected the credentials: fix VONAGE_API_KEY/VONAGE_API_SECRET"
	msgCredentialsAccepted = "credentials accepted again"
	msgTopUpRejected       = "vonage rejected the top-up: no top-up will be sent until the rejection is older than TOPUP_WINDOW; see error for the cause"
	msgRejectionOver       = "top-ups allowed again: the rejection is older than the window"
)

// The field names of the log lines.
const (
	fieldBalance       = "balance"
	fieldAutoReload    = "auto_reload"
	fieldThreshold     = "threshold"
	fieldTarget        = "target"
	fieldAction        = "action"
	fieldReason        = "reason"
	fieldDryRun        = "dry_run"
	fieldTopUps24h     = "topups_24h"
	fieldRefilling     = "refilling"
	fieldWindowOpen    = "window_open"
	fieldIntentID      = "intent_id"
	fieldOutcome       = "outcome"
	fieldAttempts      = "attempts"
	fieldDurationMS    = "duration_ms"
	fieldBalanceBefore = "balance_before"
	fieldBalanceAfter  = "balance_after"
	fieldAfterMS       = "after_ms"
	fieldAgeMS         = "age_ms"
	fieldError         = "error"
	fieldRepeated      = "repeated"
	fieldFailures      = "failures"
	fieldTopUpSent     = "topup_sent"
	fieldStep          = "step"
	fieldStepMS        = "step_ms"
	fieldHoldUntil     = "hold_until"
	fieldHolder        = "holder"
	fieldBurnRate      = "burn_rate_per_min"
	fieldProjected     = "projected_balance"
	fieldLeadTimeMS    = "lead_time_ms"
	fieldLeadTimeAuto  = "lead_time_auto"
	fieldOp            = "op"
	fieldAttempt       = "attempt"
	fieldWaitMS        = "wait_ms"
	fieldRuns          = "runs"
	fieldUntil         = "until"
)

// reportReconciled logs and reports the top-ups a check confirmed, and
// those whose window it saw end without a credit.
func (w *Watchdog) reportReconciled(now time.Time, bal vonage.Balance, c claim) {
	for _, r := range c.confirmed {
		ev := TopUpConfirmed{At: now, IntentID: r.ID, BalanceBefore: r.BalanceBefore,
			BalanceAfter: bal.Value, After: now.Sub(r.At)}
		w.log.Info(msgTopUpConfirmed, zap.String(fieldIntentID, r.ID),
			zap.String(fieldBalanceBefore, r.BalanceBefore.String()),
			zap.String(fieldBalanceAfter, bal.Value.String()),
			zap.Int64(fieldAfterMS, ev.After.Milliseconds()))
		w.opts.Observer.Observe(ev)
	}
	for _, r := range c.unconfirmed {
		w.log.Warn(msgTopUpUnconfirmed, zap.String(fieldIntentID, r.ID),
			zap.String(fieldOutcome, string(r.Outcome)),
			zap.String(fieldBalanceBefore, r.BalanceBefore.String()),
			zap.Int64(fieldAgeMS, now.Sub(r.At).Milliseconds()))
		w.opts.Observer.Observe(TopUpUnconfirmed{At: now, IntentID: r.ID,
			BalanceBefore: r.BalanceBefore, Outcome: r.Outcome})
	}
}

// reportDecision logs and reports what one check decided.
func (w *Watchdog) reportDecision(now time.Time, bal vonage.Balance, c claim, recorded bool) {
	s := w.opts.Settings
	d := c.decision
	// Checked first: a replay logs nowhere, and the fields cost more than the
	// rest of its check.
	if line := w.log.Check(zap.InfoLevel, msgDecision); line != nil {
		fields := make([]zap.Field, 0, 14)
		fields = append(fields,
			zap.String(fieldBalance, bal.Value.String()),
			zap.Bool(fieldAutoReload, bal.AutoReload),
			zap.String(fieldThreshold, s.Threshold.String()),
			zap.String(fieldTarget, s.Target.String()),
			zap.String(fieldAction, string(d.Action)),
			zap.String(fieldReason, string(d.Reason)),
			zap.Bool(fieldDryRun, w.opts.DryRun),
			zap.Int(fieldTopUps24h, d.TopUps24h),
			zap.Bool(fieldRefilling, d.Refilling),
			zap.Bool(fieldWindowOpen, c.wasOpen),
		)
		if d.RateKnown {
			fields = append(fields,
				zap.String(fieldBurnRate, d.BurnRate.String()),
				zap.String(fieldProjected, d.Projected.String()),
				zap.Int64(fieldLeadTimeMS, d.LeadTime.Milliseconds()),
				zap.Bool(fieldLeadTimeAuto, d.LeadAuto))
		}
		line.Write(fields...)
	}
	spend := c.spend
	if !recorded { // the reading is not in the ledger: the next check counts its span
		spend = decimal.Zero
	}
	w.opts.Observer.Observe(Decided{At: now, Balance: bal.Value, AutoReload: bal.AutoReload,
		Decision: d, DryRun: w.opts.DryRun, WindowOpen: c.windowOpen,
		Threshold: s.Threshold, Target: s.Target, Recorded: recorded, Spend: spend})
}

// ledgerFailed logs a ledger that could not be written. Nothing was sent.
func (w *Watchdog) ledgerFailed(now time.Time, err error, wanted bool) {
	level := zap.ErrorLevel
	if errors.Is(err, ledger.ErrLedgerRecreated) {
		// Expected once after a flush, or at a new fleet's first need; again
		// and again, Redis loses the ledger before every check (eviction, a
		// restart each interval) and no claim gets through.
		if w.recreated++; w.recreated == 1 {
			level = zap.WarnLevel
		}
	}
	w.log.Log(level, msgLedgerFailed, zap.Error(err), zap.Bool(fieldTopUpSent, false),
		zap.Bool("topup_wanted", wanted))
	w.opts.Observer.Observe(LedgerFailed{At: now, Err: err})
}

// checkFailed logs a failed balance read, once per distinct failure and then
// at most every RepeatEvery while it repeats.
func (w *Watchdog) checkFailed(ctx context.Context, err error, attempts int) {
	now := w.now()
	if ctx.Err() != nil { // shutting down: the read was cut short, not failed
		w.log.Debug(msgCheckInterrupted, zap.Error(err), zap.Int(fieldAttempts, attempts))
		return
	}
	n, repeated, logIt := w.failures.record(now, err.Error())
	fields := []zap.Field{zap.String(fieldError, err.Error()), zap.Int(fieldAttempts, attempts)}
	if repeated > 0 {
		fields = append(fields, zap.Int(fieldRepeated, repeated))
	}
	if logIt {
		w.log.Error(msgCheckFailed, fields...)
	} else {
		w.log.Debug(msgCheckFailed, fields...)
	}
	w.noteCredentials(OpGetBalance, err)
	w.opts.Observer.Observe(CheckFailed{At: now, Err: err, Attempts: attempts,
		CredentialsRejected: isAuthFailure(err), Consecutive: n})
}

// checkSucceeded ends a run of failures, logging the recovery.
func (w *Watchdog) checkSucceeded() {
	if n := w.failures.reset(); n > 0 {
		w.log.Info(msgCheckRecovered, zap.Int(fieldFailures, n))
	}
	w.noteCredentials(OpGetBalance, nil)
}

// failureLog rate-limits identical failure lines.
type failureLog struct {
	every       time.Duration
	consecutive int
	last        string
	lastLogged  time.Time
	suppressed  int
}

// record counts a failure and says whether to log it at error level, with
// how many identical ones were held back since the last such line.
func (f *failureLog) record(now time.Time, msg string) (consecutive, repeated int, logIt bool) {
	f.consecutive++
	if msg == f.last && now.Sub(f.lastLogged) < f.every {
		f.suppressed++
		return f.consecutive, 0, false
	}
	repeated = f.suppressed
	f.last, f.lastLogged, f.suppressed = msg, now, 0
	return f.consecutive, repeated, true
}

// reset ends a run of failures and returns its length.
func (f *failureLog) reset() int {
	n := f.consecutive
	*f = failureLog{every: f.every}
	return n
}
