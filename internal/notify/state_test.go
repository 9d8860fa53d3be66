package notify

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

func expectNames(t *testing.T, bodies []map[string]any, want ...string) {
	t.Helper()
	if got := names(bodies); !slices.Equal(got, want) {
		t.Errorf("notifications = %q, want %q", got, want)
	}
}

func expectFields(t *testing.T, body map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if fmt.Sprint(body[k]) != fmt.Sprint(v) {
			t.Errorf("%s: field %s = %v, want %v", body["event"], k, body[k], v)
		}
	}
}

func TestOneTopUpNotificationPerTopUp(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	var events []watchdog.Event
	for i := range 3 {
		events = append(events,
			watchdog.CheckStarted{At: t0},
			decided(policy.ReasonBelowThreshold, true),
			finished(fmt.Sprint("intent-", i), ledger.Succeeded),
			decided(policy.ReasonWindowOpen, true),
			decided(policy.ReasonWindowOpen, true))
	}
	bodies := deliver(t, events...)
	expectNames(t, bodies, EventTopUp, EventTopUp, EventTopUp)
	expectFields(t, bodies[0], map[string]any{
		"event": "topup", "ts": "2025-03-01T12:00:00Z", "account": testAccount, "balance": "12.50",
		"intent_id": "intent-0", "outcome": "succeeded", "attempts": 1, "duration_ms": 250,
		"balance_before": "4.20",
	})
	if _, ok := bodies[0]["error"]; ok {
		t.Error("a succeeded top-up has an error field")
	}
}

func TestDailyCapOncePerEpisode(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	var events []watchdog.Event
	for range 10 {
		events = append(events, decided(policy.ReasonDailyCapReached, true))
	}
	events = append(events, decided(policy.ReasonBalanceOK, true), decided(policy.ReasonBalanceOK, true))
	bodies := deliver(t, events...)
	expectNames(t, bodies, EventDailyCapReached, EventDailyCapCleared)
	expectFields(t, bodies[0], map[string]any{"topups_24h": 5})
	expectFields(t, bodies[1], map[string]any{"action": "none", "reason": "balance_ok"})
}

func TestBalanceReadsFailingOnceAndRecoveryOnce(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	bodies := deliver(t,
		failed(1, false), failed(2, false), failed(3, false), failed(4, false), failed(5, false),
		decided(policy.ReasonBalanceOK, true), decided(policy.ReasonBalanceOK, true),
		failed(1, false), decided(policy.ReasonBalanceOK, true))
	expectNames(t, bodies, EventBalanceReadsFailing, EventBalanceReadsRecovered)
	expectFields(t, bodies[0], map[string]any{"consecutive": 3, "cause": CauseReadFailed, "attempts": 3})
	expectFields(t, bodies[1], map[string]any{"failed_checks": 5})
	if bodies[0]["balance"] != "" {
		t.Errorf("balance before any read = %q, want empty", bodies[0]["balance"])
	}
}

func TestRejectedCredentialsAreReportedAtTheFirstFailure(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	bodies := deliver(t, failed(1, true), failed(2, true), failed(3, true))
	expectNames(t, bodies, EventBalanceReadsFailing)
	expectFields(t, bodies[0], map[string]any{"consecutive": 1, "cause": CauseCredentials})
}

func TestTopUpRejectedOncePerEpisode(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	rejected := finished("intent-1", ledger.Rejected)
	rejected.AutoReloadDisabled = true
	bodies := deliver(t, rejected, rejected, finished("intent-2", ledger.Succeeded))
	expectNames(t, bodies,
		EventTopUp, EventTopUpRejected, EventTopUp, EventTopUp, EventTopUpRejectionCleared)
	expectFields(t, bodies[1], map[string]any{"cause": CauseAutoReloadDisabled, "intent_id": "intent-1"})
	expectFields(t, bodies[4], map[string]any{"intent_id": "intent-2"})
}

func TestAutoReloadDisabledOnce(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	bodies := deliver(t,
		decided(policy.ReasonBalanceOK, true),
		decided(policy.ReasonBalanceOK, false), decided(policy.ReasonAutoReloadDisabled, false),
		decided(policy.ReasonBalanceOK, true), decided(policy.ReasonBalanceOK, true))
	expectNames(t, bodies, EventAutoReloadDisabled, EventAutoReloadEnabled)
}

func TestConfirmedAndUnconfirmed(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	bodies := deliver(t,
		watchdog.TopUpConfirmed{At: t0, IntentID: "intent-1", BalanceBefore: dec("4.2"),
			BalanceAfter: dec("24.2816"), After: 90 * time.Second},
		watchdog.TopUpUnconfirmed{At: t0, IntentID: "intent-2", BalanceBefore: dec("4.2"), Outcome: ledger.Unknown})
	expectNames(t, bodies, EventTopUpConfirmed, EventTopUpUnconfirmed)
	expectFields(t, bodies[0], map[string]any{"balance_before": "4.20", "balance_after": "24.2816",
		"after_ms": 90000, "balance": "24.2816"})
	expectFields(t, bodies[1], map[string]any{"outcome": "unknown", "intent_id": "intent-2"})
}

func TestBodiesHoldNoSecret(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	rejected := finished("intent-1", ledger.Rejected)
	rejected.CredentialsRejected = true
	bodies := deliver(t, failed(3, true), rejected, decided(policy.ReasonDailyCapReached, false),
		finished("intent-2", ledger.Unknown), redisDown(), watchdog.RedisReachable{At: t0, Down: time.Minute})
	if len(bodies) == 0 {
		t.Fatal("no notification delivered")
	}
	sweep := secrettest.New(testSecret, testTRX, testHookPath)
	for _, b := range bodies {
		sweep.Add(fmt.Sprintf("%s body", b["event"]), []byte(fmt.Sprint(b)))
	}
	sweep.Check(t)
}

func TestEventsListsEveryName(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Events() {
		if seen[e] || headline(e) == e {
			t.Errorf("event %q listed twice or without a headline", e)
		}
		seen[e] = true
	}
	if len(seen) != 13 {
		t.Errorf("Events() has %d names, want 13", len(seen))
	}
	if e := Events(); !slices.Equal(e[len(e)-3:], []string{EventBalanceReadsRecovered, EventRedisUnreachable, EventRedisReachable}) {
		t.Errorf("Events() ends %q, want the redis events after balance_reads_recovered", e[len(e)-3:])
	}
}

func TestRedisUnreachableOnceAndReachableOnce(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	bodies := deliver(t,
		watchdog.RedisReachable{At: t0, Down: time.Second}, // nothing was down
		decided(policy.ReasonBalanceOK, true),
		redisDown(), redisDown(), redisDown(),
		watchdog.RedisReachable{At: t0.Add(42 * time.Second), Down: 42 * time.Second},
		watchdog.RedisReachable{At: t0.Add(43 * time.Second), Down: time.Second},
		redisDown())
	expectNames(t, bodies, EventRedisUnreachable, EventRedisReachable, EventRedisUnreachable)
	// The error arrives redacted; the body adds nothing to it but the
	// folding onto one line.
	expectFields(t, bodies[0], map[string]any{"event": "redis_unreachable", "ts": "2025-03-01T12:00:00Z",
		"account": testAccount, "balance": "12.50",
		"error": "ledger: redis: update: dial tcp redis.internal:6379: connect: connection refused (redis://:[redacted]@redis.internal:6379/0)"})
	expectFields(t, bodies[1], map[string]any{"event": "redis_reachable", "ts": "2025-03-01T12:00:42Z", "down_ms": 42000})
	if _, ok := bodies[1]["error"]; ok {
		t.Error("redis_reachable has an error field")
	}
}

func TestAmount(t *testing.T) {
	for in, want := range map[string]string{"12.5": "12.50", "10": "10.00", "10.28160000": "10.2816", "-3.1": "-3.10"} {
		if got := amount(dec(in)); got != want {
			t.Errorf("amount(%s) = %s, want %s", in, got, want)
		}
	}
}

// Issue 8, case 5: a 429 with a long Retry-After, or Vonage out of reach,
// used to send one notification per check; one covers the whole episode.
func TestOneNotificationPerEpisodeOfUnsentTopUps(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	held := finished("intent-0", ledger.NotSent)
	held.HoldUntil = t0.Add(time.Hour)
	events := []watchdog.Event{held}
	for i := range 30 {
		events = append(events, decided(policy.ReasonRateLimited, true), finished(fmt.Sprint("intent-", i+1), ledger.NotSent))
	}
	events = append(events, finished("intent-31", ledger.Succeeded), finished("intent-32", ledger.NotSent))
	bodies := deliver(t, events...)
	expectNames(t, bodies, EventTopUp, EventTopUp, EventTopUp)
	expectFields(t, bodies[0], map[string]any{"intent_id": "intent-0", "outcome": "not_sent", "hold_until": "2025-03-01T13:00:00Z"})
	expectFields(t, bodies[1], map[string]any{"intent_id": "intent-31", "outcome": "succeeded"})
	expectFields(t, bodies[2], map[string]any{"intent_id": "intent-32", "outcome": "not_sent"})
}
