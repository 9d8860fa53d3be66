package watchdog

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// send sends the top-up whose intent is already durable (written at the
// reading claimed), then records and reports its outcome. The outcome is
// recorded even when ctx has ended: a shutdown must not lose what the last
// request did.
func (w *Watchdog) send(ctx context.Context, intent ledger.Record, claimed reading) {
	start := w.read()
	res := w.sendTopUp(ctx, claimed)
	end := w.read()
	w.opts.CrashPoint(CrashAfterAnswer)

	var holdUntil time.Time // Vonage's Retry-After, kept across checks
	if res.outcome == ledger.NotSent && res.hold > 0 {
		holdUntil = end.wall.Add(min(res.hold, ledger.MaxHold))
	}
	pending := w.clock.unapplied()
	var (
		unseen time.Duration
		found  bool
	)
	err := w.ledger.Update(context.WithoutCancel(ctx), func(st *ledger.State) error {
		unseen = w.settleClock(st, end, pending)
		r := st.Find(intent.ID)
		if found = r != nil; !found { // pruned meanwhile: nothing to record
			return nil
		}
		r.Outcome, r.Attempts, r.Error, r.FinishedAt = res.outcome, res.attempts, errorText(res.err), end.wall
		r.HoldUntil = holdUntil
		return nil
	})
	if err == nil {
		w.clock.applied(pending)
		w.logUnseenStep(unseen)
	}
	ev := TopUpFinished{
		At: end.wall, IntentID: intent.ID, Outcome: res.outcome, Attempts: res.attempts,
		Duration: end.mono - start.mono, BalanceBefore: intent.BalanceBefore,
		AutoReloadDisabled:  isAutoReloadDisabled(res.err),
		CredentialsRejected: isAuthFailure(res.err),
		HoldUntil:           holdUntil,
	}
	if res.outcome != ledger.Succeeded {
		ev.Err = res.err
	}
	w.logTopUp(ev)
	if err != nil {
		// The intent stays pending on disk, which holds the window: the safe side.
		w.log.Error(msgLedgerFailed, zap.String(fieldIntentID, intent.ID),
			zap.String(fieldOutcome, string(res.outcome)), zap.Error(err))
		w.opts.Observer.Observe(LedgerFailed{At: end.wall, Err: err})
	}
	w.noteTopUp(ev, err == nil && found)
	w.opts.Observer.Observe(ev)
}

func (w *Watchdog) logTopUp(ev TopUpFinished) {
	fields := []zap.Field{
		zap.String(fieldIntentID, ev.IntentID),
		zap.String(fieldOutcome, string(ev.Outcome)),
		zap.Int(fieldAttempts, ev.Attempts),
		zap.Int64(fieldDurationMS, ev.Duration.Milliseconds()),
		zap.String(fieldBalanceBefore, ev.BalanceBefore.String()),
	}
	if !ev.HoldUntil.IsZero() {
		fields = append(fields, zap.Time(fieldHoldUntil, ev.HoldUntil))
	}
	if ev.Err != nil {
		fields = append(fields, zap.String(fieldError, ev.Err.Error()))
	}
	switch ev.Outcome {
	case ledger.Succeeded:
		w.log.Info(msgTopUp, fields...)
	case ledger.NotSent:
		w.log.Warn(msgTopUp, fields...)
	default:
		w.log.Error(msgTopUp, fields...)
	}
}
