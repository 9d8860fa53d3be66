package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

// newMetrics creates the metrics, unregistered.
func newMetrics() *Metrics {
	return &Metrics{
		balance:    gauge("balance_eur", "Balance of the Vonage account in EUR, as last read."),
		threshold:  gauge("threshold_eur", "A refill starts when the balance is below this (EUR)."),
		target:     gauge("target_eur", "A refill goes on until the balance reaches this (EUR)."),
		autoReload: gauge("auto_reload_enabled", "1 when Vonage reported auto-reload enabled at the last read, else 0."),
		windowOpen: gauge("window_open", "1 while a top-up that may have reached Vonage is unconfirmed inside its window, else 0."),
		topUps24h:  gauge("topups_last_24h", "Top-up requests that may have reached Vonage in the last 24 hours, as of the last check."),
		lastCheckSuccess: gauge("last_check_success_timestamp_seconds",
			"Unix time of the last check that read a balance."),
		lastTopUp: gauge("last_topup_timestamp_seconds",
			"Unix time of the last top-up request that succeeded."),
		consecutiveFailed: gauge("consecutive_failed_checks",
			"Checks failed in a row since the last balance read; 0 after a success."),
		checks: counterVec("checks_total",
			"Checks by result: success (a balance was read) or failure.", "result"),
		decisions: counterVec("decisions_total",
			"Decisions of checks that read a balance, by action and reason.", "action", "reason"),
		topUps: counterVec("topups_total",
			"Top-up requests by outcome: succeeded, rejected, not_sent, unknown.", "outcome"),
		confirmed: counter("topups_confirmed_total",
			"Top-ups whose credit showed up in a later balance read."),
		unconfirmed: counter("topups_unconfirmed_total",
			"Top-ups whose window ended with their credit never seen."),
		ledgerFailures: counter("ledger_failures_total",
			"Times the ledger could not be written; no top-up was sent those times."),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "vonage_request_duration_seconds",
			Help:      "Duration of Vonage request attempts, by endpoint and HTTP status (\"error\" when no answer).",
			Buckets:   RequestBuckets(),
		}, []string{"endpoint", "code"}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.balance, m.threshold, m.target, m.autoReload, m.windowOpen, m.topUps24h,
		m.lastCheckSuccess, m.lastTopUp, m.consecutiveFailed,
		m.checks, m.decisions, m.topUps, m.confirmed, m.unconfirmed, m.ledgerFailures,
		m.requestDuration,
	}
}

// decisionLabels are the (action, reason) pairs the policy can produce.
func decisionLabels() [][2]string {
	return [][2]string{
		{string(policy.ActionNone), string(policy.ReasonBalanceOK)},
		{string(policy.ActionTopUp), string(policy.ReasonBelowThreshold)},
		{string(policy.ActionTopUp), string(policy.ReasonRefilling)},
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

// preinitialise makes the label combinations worth alerting on show 0
// before their first increment, so that rate() and absent() behave.
func (m *Metrics) preinitialise() {
	m.checks.WithLabelValues(ResultSuccess)
	m.checks.WithLabelValues(ResultFailure)
	for _, l := range decisionLabels() {
		m.decisions.WithLabelValues(l[0], l[1])
	}
	for _, o := range topUpOutcomes() {
		m.topUps.WithLabelValues(string(o))
	}
}
