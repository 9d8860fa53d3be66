package watchdog

import (
	"context"

	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// send sends the top-up whose intent is already durable, then records and
// reports its outcome. The outcome is recorded even when ctx has ended: a
// shutdown must not lose what the last request did.
func (w *Watchdog) send(ctx context.Context, intent ledger.Record) {
	start := w.opts.Now()
	res := w.sendTopUp(ctx)
	end := w.opts.Now()
	w.opts.CrashPoint(CrashAfterAnswer)

	err := w.ledger.Update(context.WithoutCancel(ctx), func(st *ledger.State) error {
		r := st.Find(intent.ID)
		if r == nil { // pruned meanwhile: nothing to record
			return nil
		}
		r.Outcome, r.Attempts, r.Error, r.FinishedAt = res.outcome, res.attempts, errorText(res.err), end
		return nil
	})
	ev := TopUpFinished{
		At: end, IntentID: intent.ID, Outcome: res.outcome, Attempts: res.attempts,
		Duration: end.Sub(start), BalanceBefore: intent.BalanceBefore,
		AutoReloadDisabled:  isAutoReloadDisabled(res.err),
		CredentialsRejected: isAuthFailure(res.err),
	}
	if res.outcome != ledger.Succeeded {
		ev.Err = res.err
	}
	w.logTopUp(ev)
	if err != nil {
		// The intent stays pending on disk, which holds the window: the safe side.
		w.log.Error(msgLedgerFailed, zap.String(fieldIntentID, intent.ID),
			zap.String(fieldOutcome, string(res.outcome)), zap.Error(err))
		w.opts.Observer.Observe(LedgerFailed{At: end, Err: err})
	}
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
