package metrics

// The fleet's metrics: the Redis ledger, its ticks and its claims.

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

func TestFleetMetricsOnlyOnceEnabled(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.Observe(watchdog.TickWon{At: t0})
	m.ObserveRedis("view", time.Millisecond, nil)
	body := scrape(t, m.Handler())
	for _, s := range []string{"topup_watchdog_fleet_", "topup_watchdog_redis_"} {
		if strings.Contains(body, s) {
			t.Errorf("a watchdog without a fleet shows %s metrics", s)
		}
	}

	m.EnableFleet()
	m.EnableFleet() // a second call registers nothing twice
	assertLines(t, scrape(t, m.Handler()),
		`topup_watchdog_fleet_ticks_total{result="won"} 1`,
		`topup_watchdog_fleet_ticks_total{result="skipped"} 0`,
		`topup_watchdog_fleet_ticks_total{result="failed"} 0`,
		"topup_watchdog_fleet_claims_lost_total 0",
		"topup_watchdog_redis_up 1",
		`topup_watchdog_redis_errors_total{op="tick"} 0`,
		`topup_watchdog_redis_errors_total{op="view"} 0`,
		`topup_watchdog_redis_errors_total{op="update"} 0`,
		`topup_watchdog_redis_errors_total{op="wait"} 0`,
		`topup_watchdog_redis_errors_total{op="ping"} 0`,
		`topup_watchdog_redis_round_trip_seconds_count{op="view"} 1`)
}

func TestRedisIsDownUntilItAnswers(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.EnableFleet()
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_redis_up 0")
}

func TestFleetTicksAndLostClaimsCount(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.EnableFleet()
	for _, e := range []watchdog.Event{
		watchdog.TickWon{At: t0},
		watchdog.TickSkipped{At: t0, Holder: "pod-b"},
		watchdog.TickSkipped{At: t0, Holder: "pod-b"},
		watchdog.TickFailed{At: t0, Err: errors.New("ledger: redis: tick: i/o timeout")},
		watchdog.ClaimLost{At: t0},
	} {
		m.Observe(e)
	}
	assertLines(t, scrape(t, m.Handler()),
		`topup_watchdog_fleet_ticks_total{result="won"} 1`,
		`topup_watchdog_fleet_ticks_total{result="skipped"} 2`,
		`topup_watchdog_fleet_ticks_total{result="failed"} 1`,
		"topup_watchdog_fleet_claims_lost_total 1",
		`topup_watchdog_checks_total{result="success"} 0`,
		`topup_watchdog_checks_total{result="failure"} 0`)
}

func TestASkippedTickServesTheFleetsLastReading(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.EnableFleet()
	m.Observe(watchdog.Decided{At: t0, Balance: dec("11"), AutoReload: false,
		Decision:  policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK},
		Threshold: dec("10"), Target: dec("20")})
	m.Observe(watchdog.TickSkipped{At: t0.Add(30 * time.Second), Holder: "pod-b"}) // no reading: nothing moves
	assertLines(t, scrape(t, m.Handler()),
		"topup_watchdog_balance_eur 11",
		"topup_watchdog_auto_reload_enabled 0",
		"topup_watchdog_last_check_success_timestamp_seconds 1.7408304e+09")

	m.Observe(watchdog.TickSkipped{At: t0.Add(time.Minute), Holder: "pod-b", Last: &ledger.Reading{
		At: t0.Add(50 * time.Second), Balance: dec("8.75"), AutoReload: true, Replica: "pod-b"}})
	assertLines(t, scrape(t, m.Handler()),
		"topup_watchdog_balance_eur 8.75",
		"topup_watchdog_auto_reload_enabled 1",
		"topup_watchdog_last_check_success_timestamp_seconds 1.74083045e+09",
		`topup_watchdog_checks_total{result="success"} 1`,
		`topup_watchdog_decisions_total{action="none",reason="balance_ok"} 1`,
		`topup_watchdog_fleet_ticks_total{result="skipped"} 2`)
}

func TestRedisUpFollowsRoundTripsAndEvents(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.EnableFleet()
	redacted := errors.New("ledger: redis: update: dial tcp redis.internal:6379: connect: connection refused")
	m.ObserveRedis("view", 300*time.Microsecond, nil)
	m.ObserveRedis("update", 2*time.Second, redacted)
	body := scrape(t, m.Handler())
	assertLines(t, body,
		"topup_watchdog_redis_up 0",
		`topup_watchdog_redis_errors_total{op="update"} 1`,
		`topup_watchdog_redis_errors_total{op="view"} 0`,
		`topup_watchdog_redis_round_trip_seconds_bucket{op="view",le="0.00025"} 0`,
		`topup_watchdog_redis_round_trip_seconds_bucket{op="view",le="0.0005"} 1`,
		`topup_watchdog_redis_round_trip_seconds_bucket{op="update",le="1"} 0`,
		`topup_watchdog_redis_round_trip_seconds_bucket{op="update",le="2"} 1`)
	for _, s := range []string{"redis.internal", "connection refused"} {
		if strings.Contains(body, s) {
			t.Errorf("scrape contains the error's text %q", s)
		}
	}
	m.ObserveRedis("ping", time.Millisecond, nil)
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_redis_up 1")

	m.Observe(watchdog.RedisUnreachable{At: t0, Err: redacted})
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_redis_up 0")
	m.Observe(watchdog.RedisReachable{At: t0.Add(time.Minute), Down: time.Minute})
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_redis_up 1")
}
