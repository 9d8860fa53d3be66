package metrics

import (
	vm "github.com/VictoriaMetrics/metrics"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The help texts of the watchdog's metrics, by name without the Namespace.
// The scrape writes them on the families' # HELP lines (see withHelp).
var helps = map[string]string{
	"balance_eur":                          "Balance of the Vonage account in EUR, as last read.",
	"threshold_eur":                        "A refill starts when the balance is below this (EUR).",
	"target_eur":                           "A refill goes on until the balance reaches this (EUR).",
	"auto_reload_enabled":                  "1 when Vonage reported auto-reload enabled at the last read, else 0.",
	"window_open":                          "1 while a top-up that may have reached Vonage is unconfirmed inside its window, else 0.",
	"topups_last_24h":                      "Top-up requests that may have reached Vonage in the last 24 hours, as of the last check.",
	"last_check_success_timestamp_seconds": "Unix time of the last check that read a balance.",
	"last_topup_timestamp_seconds":         "Unix time of the last top-up request that succeeded.",
	"consecutive_failed_checks":            "Checks failed in a row since the last balance read; 0 after a success.",
	"checks_total":                         "Checks by result: success (a balance was read) or failure.",
	"decisions_total":                      "Decisions of checks that read a balance, by action and reason.",
	"topups_total":                         "Top-up requests by outcome: succeeded, rejected, not_sent, unknown.",
	"topups_confirmed_total":               "Top-ups whose credit showed up in a later balance read.",
	"topups_unconfirmed_total":             "Top-ups whose window ended with their credit never seen.",
	"ledger_failures_total":                "Times the ledger could not be written; no top-up was sent those times.",
	"vonage_request_duration_seconds":      "Duration of Vonage request attempts, by endpoint and HTTP status (\"error\" when no answer).",
	"spend_eur_total":                      "EUR spent, from the falls of the balance since the ledger's previous reading (a rise counts nothing); in a fleet the replicas' sums add up to the account's.",

	"burn_rate_eur_per_minute": "EUR spent per minute at the last balance read (the policy's estimate); absent while the readings give no rate, and after a tick another replica read.",
	"runway_seconds":           "Seconds the last balance read lasts at the burn rate; +Inf when the rate is 0, 0 when the balance is not above 0; absent while the readings give no rate.",
	"lead_time_seconds":        "How far ahead the policy projected the balance at the last read (TOPUP_LEAD_TIME, or the automatic one); absent while the readings give no rate.",

	"fleet_ticks_total":        "Schedule ticks by result: won (this replica read), skipped (another replica had the tick) or failed (Redis not asked).",
	"fleet_claims_lost_total":  "Top-ups this replica decided for whose claim another replica wrote first; this one sent nothing.",
	"redis_up":                 "1 when the fleet's Redis answered the last command, 0 when it failed (no top-up is sent) or has not answered yet.",
	"redis_round_trip_seconds": "Duration of round trips to the fleet's Redis, by operation: tick, view, update, wait, ping.",
	"redis_errors_total":       "Round trips to the fleet's Redis that failed (unreachable or a failed command), by operation.",
}

// newMetrics creates the metrics, each on the set that exposes it: the
// watchdog's on m.set; the burn rate's on m.rateSet, which the scrape writes
// only while the last balance read gave a rate; the fleet's on m.fleetSet,
// which the scrape writes only once EnableFleet has been called. Label
// combinations are created on first use; preinitialise creates those that
// must show 0 before it.
func newMetrics() *Metrics {
	m := &Metrics{set: vm.NewSet(), rateSet: vm.NewSet(), fleetSet: vm.NewSet()}
	s, r, f := m.set, m.rateSet, m.fleetSet
	m.balance = gauge(s, "balance_eur")
	m.threshold = gauge(s, "threshold_eur")
	m.target = gauge(s, "target_eur")
	m.autoReload = gauge(s, "auto_reload_enabled")
	m.windowOpen = gauge(s, "window_open")
	m.topUps24h = gauge(s, "topups_last_24h")
	m.lastCheckSuccess = gauge(s, "last_check_success_timestamp_seconds")
	m.lastTopUp = gauge(s, "last_topup_timestamp_seconds")
	m.consecutiveFailed = gauge(s, "consecutive_failed_checks")
	m.checks = newVec(func(result string) *vm.Counter {
		return s.NewCounter(series("checks_total", "result", result))
	})
	m.decisions = newVec(func(l [2]string) *vm.Counter {
		return s.NewCounter(series("decisions_total", "action", l[0], "reason", l[1]))
	})
	m.topUps = newVec(func(outcome string) *vm.Counter {
		return s.NewCounter(series("topups_total", "outcome", outcome))
	})
	m.confirmed = s.NewCounter(series("topups_confirmed_total"))
	m.unconfirmed = s.NewCounter(series("topups_unconfirmed_total"))
	m.ledgerFailures = s.NewCounter(series("ledger_failures_total"))
	m.spend = s.NewFloatCounter(series("spend_eur_total"))
	// The labels in the order the Prometheus client wrote them: by name.
	m.requestDuration = newVec(func(l [2]string) *vm.PrometheusHistogram {
		return s.NewPrometheusHistogramExt(
			series("vonage_request_duration_seconds", "code", l[1], "endpoint", l[0]), RequestBuckets())
	})

	m.burnRate = gauge(r, "burn_rate_eur_per_minute")
	m.runway = gauge(r, "runway_seconds")
	m.leadTime = gauge(r, "lead_time_seconds")

	m.ticks = newVec(func(result string) *vm.Counter {
		return f.NewCounter(series("fleet_ticks_total", "result", result))
	})
	m.claimsLost = f.NewCounter(series("fleet_claims_lost_total"))
	m.redisUp = gauge(f, "redis_up")
	m.redisRoundTrip = newVec(func(op string) *vm.PrometheusHistogram {
		return f.NewPrometheusHistogramExt(series("redis_round_trip_seconds", "op", op), RedisBuckets())
	})
	m.redisErrors = newVec(func(op string) *vm.Counter {
		return f.NewCounter(series("redis_errors_total", "op", op))
	})
	return m
}

// gauge returns a new settable gauge, at 0.
func gauge(s *vm.Set, name string) *vm.Gauge { return s.NewGauge(series(name), nil) }

// decisionLabels are the (action, reason) pairs the policy can produce.
func decisionLabels() [][2]string {
	return [][2]string{
		{string(policy.ActionNone), string(policy.ReasonBalanceOK)},
		{string(policy.ActionTopUp), string(policy.ReasonBelowThreshold)},
		{string(policy.ActionTopUp), string(policy.ReasonRefilling)},
		{string(policy.ActionTopUp), string(policy.ReasonProjectedBelowThreshold)},
		{string(policy.ActionBlocked), string(policy.ReasonAutoReloadDisabled)},
		{string(policy.ActionBlocked), string(policy.ReasonWindowOpen)},
		{string(policy.ActionBlocked), string(policy.ReasonRecentlyRejected)},
		{string(policy.ActionBlocked), string(policy.ReasonRateLimited)},
		{string(policy.ActionBlocked), string(policy.ReasonBackingOff)},
		{string(policy.ActionBlocked), string(policy.ReasonDailyCapReached)},
	}
}

// topUpOutcomes are the outcomes a finished top-up request can have.
func topUpOutcomes() []ledger.Outcome {
	return []ledger.Outcome{ledger.Succeeded, ledger.Rejected, ledger.NotSent, ledger.Unknown}
}

// tickResults are the results a fleet's tick can have.
func tickResults() []string { return []string{TickWon, TickSkipped, TickFailed} }

// redisOps are the operations ledger.RedisOptions.Observe names.
func redisOps() []string { return []string{"tick", "view", "update", "wait", "ping"} }

// preinitialise makes the label combinations worth alerting on show 0
// before their first increment, so that rate() and absent() behave. The
// fleet's are created here too: their set is not written before
// EnableFleet, so they show from then on.
func (m *Metrics) preinitialise() {
	m.checks.get(ResultSuccess)
	m.checks.get(ResultFailure)
	for _, l := range decisionLabels() {
		m.decisions.get(l)
	}
	for _, o := range topUpOutcomes() {
		m.topUps.get(string(o))
	}
	for _, r := range tickResults() {
		m.ticks.get(r)
	}
	for _, op := range redisOps() {
		m.redisErrors.get(op)
	}
}
