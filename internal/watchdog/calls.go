package watchdog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"
	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// The calls whose attempts are retried, as AttemptRetried and the
// msgAttemptRetried line name them, and as vonage.Error does.
const (
	OpGetBalance = vonage.OpGetBalance
	OpTopUp      = vonage.OpTopUp
)

// sleep waits d on a timer, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// readBalance reads the balance, retrying what may succeed on a second try:
// no answer, 429 and 5xx. It returns the attempts made.
func (w *Watchdog) readBalance(ctx context.Context) (vonage.Balance, int, error) {
	b := &honourRetryAfter{next: w.opts.ReadBackoff(), max: w.opts.MaxRetryAfter}
	var (
		bal      vonage.Balance
		attempts int
		last     error
	)
	err := w.retry(ctx, OpGetBalance, b, func(ctx context.Context) (bool, error) {
		attempts++
		var err error
		bal, err = w.api.GetBalance(ctx)
		last = err
		if err != nil && readRetryable(err) {
			b.wait = retryAfter(err)
			return true, err
		}
		return false, err
	})
	if err != nil && last != nil {
		err = last // a cancelled wait reports the cause, not "context canceled"
	}
	return bal, attempts, err
}

// retry runs attempt until it returns an error that is not worth another
// attempt (nil included), b stops, or ctx ends (checked before each attempt),
// as retry.Do does, but waiting on Options.Sleep, so that a simulated clock
// can carry the waits. It returns the last attempt's error, or ctx's cause
// when ctx ended first. Each attempt of op that is retried is reported;
// the last is not: "check failed" or "topup" says how the call ended.
func (w *Watchdog) retry(ctx context.Context, op string, b retry.Backoff, attempt func(context.Context) (again bool, err error)) error {
	for n := 1; ; n++ {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		again, err := attempt(ctx)
		if !again {
			return err
		}
		next, stop := b.Next()
		if stop {
			return err
		}
		w.retrying(op, n, next, err)
		_ = w.opts.Sleep(ctx, next) // a wait cut short is caught at the top
	}
}

// retrying reports that attempt n of op failed with err and is retried
// after wait (a Retry-After included). The line is built only when debug
// is on: a retry storm must not cost its fields at info.
func (w *Watchdog) retrying(op string, n int, wait time.Duration, err error) {
	if line := w.log.Check(zap.DebugLevel, msgAttemptRetried); line != nil {
		line.Write(zap.String(fieldOp, op), zap.Int(fieldAttempt, n),
			zap.Int64(fieldWaitMS, wait.Milliseconds()), zap.String(fieldError, errorText(err)))
	}
	w.opts.Observer.Observe(AttemptRetried{At: w.now(), Op: op, Attempt: n, Wait: wait, Err: err})
}

func readRetryable(err error) bool {
	e, ok := vonage.AsError(err)
	if !ok {
		return false
	}
	switch e.Kind {
	case vonage.KindTransport, vonage.KindRateLimited, vonage.KindServer:
		return true
	}
	return false
}

func retryAfter(err error) time.Duration {
	if e, ok := vonage.AsError(err); ok {
		return e.RetryAfter
	}
	return 0
}

// sendResult is how one top-up request ended.
type sendResult struct {
	outcome  ledger.Outcome
	attempts int
	err      error
	// hold is the Retry-After of the last attempt's 429, if any.
	hold time.Duration
}

// errIntentTooOld ends the attempts of an intent written too long ago.
var errIntentTooOld = errors.New("intent too old to send")

// sendTopUp sends the top-up claimed at the reading claimed, retrying only
// attempts that provably never reached Vonage (and 429s). No attempt starts
// once the intent is older than a quarter of the window on the monotonic
// clock (the process was paused, or the retries went on that long): a late
// request could land after its window and beside the next top-up. An attempt
// in flight is never cut short by ctx: it runs to its answer or its own
// timeout, so its outcome is known; ctx only stops further attempts.
func (w *Watchdog) sendTopUp(ctx context.Context, claimed reading) sendResult {
	b := &honourRetryAfter{next: w.opts.SendBackoff(), max: w.opts.MaxRetryAfter}
	limit := w.opts.Settings.Window / 4
	var r sendResult
	_ = w.retry(ctx, OpTopUp, b, func(ctx context.Context) (bool, error) {
		if age := w.read().mono - claimed.mono; age > limit {
			r.outcome = ledger.NotSent
			r.err = fmt.Errorf("%w: written %s ago, over a quarter of the %s window", errIntentTooOld,
				age.Round(time.Millisecond), w.opts.Settings.Window)
			w.log.Warn(msgIntentTooOld, zap.Int(fieldAttempts, r.attempts), zap.Int64(fieldAgeMS, age.Milliseconds()))
			return false, r.err
		}
		r.attempts++
		r.err = w.api.TopUp(context.WithoutCancel(ctx))
		r.outcome = outcomeOf(r.err)
		r.hold = 0
		if r.outcome == ledger.NotSent {
			b.wait = retryAfter(r.err)
			r.hold = b.wait
			return true, r.err
		}
		return false, r.err
	})
	if r.outcome == "" { // ctx ended before the first attempt
		r.outcome, r.err = ledger.NotSent, context.Cause(ctx)
	}
	return r
}

// outcomeOf gives one attempt's error its outcome, as the README's table of
// top-up outcomes does.
func outcomeOf(err error) ledger.Outcome {
	if err == nil {
		return ledger.Succeeded
	}
	e, ok := vonage.AsError(err)
	if !ok {
		return ledger.Unknown
	}
	switch {
	case e.Kind == vonage.KindRateLimited:
		return ledger.NotSent
	case e.Kind == vonage.KindAuthFailed, e.Kind == vonage.KindAutoReloadDisabled, e.Kind == vonage.KindClient:
		return ledger.Rejected
	case !e.Sent:
		return ledger.NotSent
	default:
		return ledger.Unknown
	}
}

// honourRetryAfter waits at least the server's Retry-After before the next
// attempt, and gives up when the server asks for longer than max.
type honourRetryAfter struct {
	next retry.Backoff
	max  time.Duration
	wait time.Duration // set by the attempt that got a Retry-After
}

func (h *honourRetryAfter) Next() (time.Duration, bool) {
	wait := h.wait
	h.wait = 0
	if wait > h.max {
		return 0, true
	}
	d, stop := h.next.Next()
	if stop {
		return 0, true
	}
	return max(d, wait), false
}

// errorText is err's text, or "" for nil.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// isAuthFailure reports whether Vonage rejected the credentials.
func isAuthFailure(err error) bool {
	e, ok := vonage.AsError(err)
	return ok && e.Kind == vonage.KindAuthFailed
}

// isAutoReloadDisabled reports whether Vonage answered "not auto-reload enabled".
func isAutoReloadDisabled(err error) bool {
	e, ok := vonage.AsError(err)
	return ok && e.Kind == vonage.KindAutoReloadDisabled
}
