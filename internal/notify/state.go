package notify

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// state is what the notifier remembers between events, so that it sends one
// notification per change of state rather than one per check. It lives in
// memory: a restarted watchdog may announce a state again.
type state struct {
	balance       decimal.NullDecimal
	readsFailing  bool
	failedChecks  int
	autoReloadOff bool
	capReached    bool
	rejected      bool
	// notSent is set while top-ups end not sent (Vonage unreachable or
	// rate limiting): one notification covers the whole episode.
	notSent bool
	// redisDown is set from a RedisUnreachable to a RedisReachable.
	redisDown bool
}

// next moves the state on by one event and returns the notifications it
// causes, oldest first.
func (s *state) next(e watchdog.Event) []message {
	switch e := e.(type) {
	case watchdog.CheckFailed:
		return s.checkFailed(e)
	case watchdog.Decided:
		return s.decided(e)
	case watchdog.TopUpFinished:
		return s.topUpFinished(e)
	case watchdog.TopUpConfirmed:
		s.balance = decimal.NewNullDecimal(e.BalanceAfter)
		return []message{s.msg(EventTopUpConfirmed, e.At,
			f("intent_id", e.IntentID),
			f("balance_before", amount(e.BalanceBefore)),
			f("balance_after", amount(e.BalanceAfter)),
			f("after_ms", e.After.Milliseconds()))}
	case watchdog.TopUpUnconfirmed:
		return []message{s.msg(EventTopUpUnconfirmed, e.At,
			f("intent_id", e.IntentID),
			f("balance_before", amount(e.BalanceBefore)),
			f("outcome", string(e.Outcome)))}
	case watchdog.RedisUnreachable:
		if s.redisDown {
			return nil
		}
		s.redisDown = true
		return []message{s.msg(EventRedisUnreachable, e.At, f("error", errText(e.Err)))}
	case watchdog.RedisReachable:
		// Without a RedisUnreachable before it, nothing changed.
		if !s.redisDown {
			return nil
		}
		s.redisDown = false
		return []message{s.msg(EventRedisReachable, e.At, f("down_ms", e.Down.Milliseconds()))}
	}
	return nil
}

func (s *state) checkFailed(e watchdog.CheckFailed) []message {
	if s.readsFailing {
		s.failedChecks = max(s.failedChecks, e.Consecutive)
		return nil
	}
	if e.Consecutive < FailingAfter && !e.CredentialsRejected {
		return nil
	}
	s.readsFailing, s.failedChecks = true, e.Consecutive
	cause := CauseReadFailed
	if e.CredentialsRejected {
		cause = CauseCredentials
	}
	return []message{s.msg(EventBalanceReadsFailing, e.At,
		f("consecutive", e.Consecutive),
		f("attempts", e.Attempts),
		f("cause", cause),
		f("error", errText(e.Err)))}
}

func (s *state) decided(e watchdog.Decided) []message {
	s.balance = decimal.NewNullDecimal(e.Balance)
	var out []message
	if s.readsFailing {
		s.readsFailing = false
		out = append(out, s.msg(EventBalanceReadsRecovered, e.At, f("failed_checks", s.failedChecks)))
	}
	if off := !e.AutoReload; off != s.autoReloadOff {
		s.autoReloadOff = off
		name := EventAutoReloadEnabled
		if off {
			name = EventAutoReloadDisabled
		}
		out = append(out, s.msg(name, e.At))
	}
	capped := e.Decision.Reason == policy.ReasonDailyCapReached
	switch {
	case capped && !s.capReached:
		out = append(out, s.msg(EventDailyCapReached, e.At, f("topups_24h", e.Decision.TopUps24h)))
	case !capped && s.capReached:
		out = append(out, s.msg(EventDailyCapCleared, e.At,
			f("action", string(e.Decision.Action)),
			f("reason", string(e.Decision.Reason)),
			f("topups_24h", e.Decision.TopUps24h)))
	}
	s.capReached = capped
	return out
}

func (s *state) topUpFinished(e watchdog.TopUpFinished) []message {
	episode := e.Outcome == ledger.NotSent
	if episode && s.notSent {
		return nil
	}
	s.notSent = episode
	var hold string
	if !e.HoldUntil.IsZero() {
		hold = e.HoldUntil.UTC().Format(time.RFC3339)
	}
	out := []message{s.msg(EventTopUp, e.At,
		f("intent_id", e.IntentID),
		f("outcome", string(e.Outcome)),
		f("attempts", e.Attempts),
		f("duration_ms", e.Duration.Milliseconds()),
		f("balance_before", amount(e.BalanceBefore)),
		f("hold_until", hold),
		f("error", errText(e.Err)))}
	switch {
	case e.Outcome == ledger.Rejected && !s.rejected:
		s.rejected = true
		out = append(out, s.msg(EventTopUpRejected, e.At,
			f("intent_id", e.IntentID),
			f("cause", rejectionCause(e)),
			f("error", errText(e.Err))))
	case e.Outcome == ledger.Succeeded && s.rejected:
		s.rejected = false
		out = append(out, s.msg(EventTopUpRejectionCleared, e.At, f("intent_id", e.IntentID)))
	}
	return out
}

func rejectionCause(e watchdog.TopUpFinished) string {
	switch {
	case e.CredentialsRejected:
		return CauseCredentials
	case e.AutoReloadDisabled:
		return CauseAutoReloadDisabled
	default:
		return CauseClientError
	}
}

// msg builds a notification with the last balance known. Fields with an
// empty string value are left out.
func (s *state) msg(event string, at time.Time, fields ...field) message {
	m := message{event: event, at: at}
	if s.balance.Valid {
		m.balance = amount(s.balance.Decimal)
	}
	for _, fl := range fields {
		if v, ok := fl.value.(string); ok && v == "" {
			continue
		}
		m.fields = append(m.fields, fl)
	}
	return m
}

// amount is d as an exact decimal string, with at least two decimals.
func amount(d decimal.Decimal) string {
	if d.Equal(d.Round(2)) {
		return d.StringFixed(2)
	}
	return d.String()
}

// errText is err's text on one line; "" for nil. The watchdog hands over
// errors already redacted.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
