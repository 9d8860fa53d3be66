package notify

// The notification event names, the value of a JSON body's "event" field.
// Each names a change of state; Events lists them in README order.
const (
	// EventTopUp: a top-up request was sent and ended (every one).
	// Fields: intent_id, outcome, attempts, duration_ms, balance_before,
	// error (unless it succeeded).
	EventTopUp = "topup"
	// EventTopUpConfirmed: the credit of a top-up showed up in the balance.
	// Fields: intent_id, balance_before, balance_after, after_ms.
	EventTopUpConfirmed = "topup_confirmed"
	// EventTopUpUnconfirmed: a top-up's window ended and its credit never
	// showed. Fields: intent_id, balance_before, outcome.
	EventTopUpUnconfirmed = "topup_unconfirmed"
	// EventTopUpRejected: Vonage rejected a top-up; sent once per episode
	// of rejections. Fields: intent_id, cause (CauseCredentials,
	// CauseAutoReloadDisabled or CauseClientError), error.
	EventTopUpRejected = "topup_rejected"
	// EventTopUpRejectionCleared: a top-up succeeded after a rejection.
	// Fields: intent_id.
	EventTopUpRejectionCleared = "topup_rejection_cleared"
	// EventDailyCapReached: a check found a wanted top-up blocked by
	// TOPUP_MAX_PER_DAY. Fields: topups_24h.
	EventDailyCapReached = "daily_cap_reached"
	// EventDailyCapCleared: after EventDailyCapReached, a check decided for
	// another reason (the cap no longer blocks anything). Fields: action,
	// reason, topups_24h.
	EventDailyCapCleared = "daily_cap_cleared"
	// EventAutoReloadDisabled: a balance read reported auto-reload off.
	EventAutoReloadDisabled = "auto_reload_disabled"
	// EventAutoReloadEnabled: a balance read reported auto-reload on again.
	EventAutoReloadEnabled = "auto_reload_enabled"
	// EventBalanceReadsFailing: FailingAfter checks in a row could not read
	// the balance, or Vonage rejected the credentials (which retrying does
	// not fix, so it is reported at the first such failure). Fields:
	// consecutive, attempts, cause (CauseCredentials or CauseReadFailed),
	// error.
	EventBalanceReadsFailing = "balance_reads_failing"
	// EventBalanceReadsRecovered: a balance read succeeded after
	// EventBalanceReadsFailing. Fields: failed_checks.
	EventBalanceReadsRecovered = "balance_reads_recovered"
	// EventRedisUnreachable: the fleet's Redis failed a command; no top-up
	// is sent until it is back. Sent once until EventRedisReachable.
	// Fields: error.
	EventRedisUnreachable = "redis_unreachable"
	// EventRedisReachable: Redis answered again after
	// EventRedisUnreachable. Fields: down_ms.
	EventRedisReachable = "redis_reachable"
)

// Events returns every notification event name, in README order.
func Events() []string {
	return []string{
		EventTopUp, EventTopUpConfirmed, EventTopUpUnconfirmed,
		EventTopUpRejected, EventTopUpRejectionCleared,
		EventDailyCapReached, EventDailyCapCleared,
		EventAutoReloadDisabled, EventAutoReloadEnabled,
		EventBalanceReadsFailing, EventBalanceReadsRecovered,
		EventRedisUnreachable, EventRedisReachable,
	}
}

// The values of the "cause" field.
const (
	CauseCredentials        = "credentials"
	CauseAutoReloadDisabled = "auto_reload_disabled"
	CauseClientError        = "client_error"
	CauseReadFailed         = "read_failed"
)

// FailingAfter is how many failed checks in a row make balance reads
// "failing".
const FailingAfter = 3

// headline is the human sentence that opens an event's Slack text.
func headline(event string) string {
	switch event {
	case EventTopUp:
		return "top-up sent"
	case EventTopUpConfirmed:
		return "top-up confirmed, the credit shows in the balance"
	case EventTopUpUnconfirmed:
		return "top-up still unconfirmed at the end of its window"
	case EventTopUpRejected:
		return "Vonage rejected a top-up; top-ups stay blocked for the window"
	case EventTopUpRejectionCleared:
		return "top-ups work again after a rejection"
	case EventDailyCapReached:
		return "daily top-up cap reached, a needed top-up is blocked"
	case EventDailyCapCleared:
		return "daily top-up cap no longer blocks"
	case EventAutoReloadDisabled:
		return "auto-reload is disabled on the account, top-ups are blocked"
	case EventAutoReloadEnabled:
		return "auto-reload is enabled again"
	case EventBalanceReadsFailing:
		return "the balance cannot be read"
	case EventBalanceReadsRecovered:
		return "the balance can be read again"
	case EventRedisUnreachable:
		return "the fleet's Redis is unreachable, no top-up is sent until it is back"
	case EventRedisReachable:
		return "the fleet's Redis is reachable again"
	default:
		return event
	}
}
