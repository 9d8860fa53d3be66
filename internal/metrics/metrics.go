// Package metrics owns the Prometheus metrics of the watchdog: their names,
// the sets they live on and how the watchdog's events move them.
//
// The metrics are github.com/VictoriaMetrics/metrics ones on sets of their
// own, never the library's global default set, and the scrape adds the Go
// runtime's and the process's metrics (go_*, process_*: see Handler). They
// learn everything from watchdog events (Observe), from the Vonage client's
// per-request hook (ObserveRequest) and, in a fleet, from the Redis ledger's
// per-round-trip hook (ObserveRedis).
// The burn rate, the runway and the lead time are exposed only while the
// last balance read gave a burn rate (see Observe): an unknown rate is not
// 0, and a series that is absent fires no alert and holds no stale value.
// The fleet's metrics (ticks, lost claims, Redis) are exposed only once
// EnableFleet is called: a watchdog without Redis shows none of them, rather
// than a redis_up of 0 to alert on.
// No metric name, label or value ever holds the API secret or the trx
// reference: the events this package reads carry neither.
package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/shopspring/decimal"
)

// Namespace prefixes every metric of the watchdog.
const Namespace = "topup_watchdog"

// The values of the checks_total "result" label.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// The values of the fleet_ticks_total "result" label.
const (
	TickWon     = "won"
	TickSkipped = "skipped"
	TickFailed  = "failed"
)

// RequestBuckets are the upper bounds, in seconds, of the Vonage request
// duration histogram. One attempt is bounded by TOPUP_REQUEST_TIMEOUT (10s by
// default), so the last buckets catch slow answers and timeouts.
func RequestBuckets() []float64 {
	return []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}

// RedisBuckets are the upper bounds, in seconds, of the Redis round-trip
// histogram: from a tenth of a millisecond (a local Redis) to two seconds (a
// WAIT for replicas, a Redis failing over), above which lies +Inf.
func RedisBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2}
}

// Metrics holds the watchdog's metrics and the sets they live on. Its
// methods are safe for concurrent use.
type Metrics struct {
	set      *vm.Set // the watchdog's metrics
	rateSet  *vm.Set // the burn rate's, written while rateOn
	fleetSet *vm.Set // the fleet's, written once fleetOn
	fleetOn  atomic.Bool
	// rateOn is whether the last balance read gave a burn rate (under mu).
	rateOn bool

	// mu orders the updates of one event, and the scrape writes the sets
	// under it too: a scrape never sees the balance of one check with the
	// window state of another half-applied.
	mu sync.Mutex

	balance           *vm.Gauge
	threshold         *vm.Gauge
	target            *vm.Gauge
	autoReload        *vm.Gauge
	windowOpen        *vm.Gauge
	topUps24h         *vm.Gauge
	lastCheckSuccess  *vm.Gauge
	lastTopUp         *vm.Gauge
	consecutiveFailed *vm.Gauge
	checks            *vec[string, *vm.Counter]    // by result
	decisions         *vec[[2]string, *vm.Counter] // by action, reason
	topUps            *vec[string, *vm.Counter]    // by outcome
	confirmed         *vm.Counter
	unconfirmed       *vm.Counter
	ledgerFailures    *vm.Counter
	spend             *vm.FloatCounter
	requestDuration   *vec[[2]string, *vm.PrometheusHistogram] // by endpoint, code

	// The burn rate's metrics, exposed while rateOn.
	burnRate *vm.Gauge
	runway   *vm.Gauge
	leadTime *vm.Gauge

	// The fleet's metrics, exposed by EnableFleet.
	ticks          *vec[string, *vm.Counter] // by result
	claimsLost     *vm.Counter
	redisUp        *vm.Gauge
	redisRoundTrip *vec[string, *vm.PrometheusHistogram] // by op
	redisErrors    *vec[string, *vm.Counter]             // by op
}

// New returns Metrics on fresh sets, with the threshold and target gauges
// set and every label combination worth alerting on present at 0.
func New(threshold, target decimal.Decimal) *Metrics {
	// TYPE lines, and the HELP lines withHelp completes. The switch is the
	// library's, global; nothing else in the process uses the library.
	vm.ExposeMetadata(true)
	m := newMetrics()
	m.threshold.Set(threshold.InexactFloat64())
	m.target.Set(target.InexactFloat64())
	m.preinitialise()
	return m
}

// EnableFleet exposes the metrics of a watchdog in a fleet on Redis: the
// ticks, the lost claims, redis_up and the Redis round trips, with every
// tick result and every operation's error count present at 0. Without it
// they are absent from the scrape. redis_up is 0 until Redis has answered
// (ObserveRedis or a RedisReachable event, which may come before
// EnableFleet). A second call does nothing.
func (m *Metrics) EnableFleet() { m.fleetOn.Store(true) }

// ObserveRequest records one Vonage request attempt. Its signature matches
// vonage.Options.Observe: endpoint is "get-balance" or "top-up", code the HTTP
// status as text or "error" when no answer came back.
func (m *Metrics) ObserveRequest(endpoint, code string, d time.Duration) {
	m.requestDuration.get([2]string{endpoint, code}).Update(d.Seconds())
}

// ObserveRedis records one round trip to the fleet's Redis. Its signature
// matches ledger.RedisOptions.Observe: op is "tick", "view", "update",
// "wait" or "ping", err is nil when Redis answered. An error counts in
// redis_errors_total and sets redis_up to 0; an answer sets it to 1. Only
// op becomes a label: the error's text is never exposed.
func (m *Metrics) ObserveRedis(op string, d time.Duration, err error) {
	m.redisRoundTrip.get(op).Update(d.Seconds())
	if err != nil {
		m.redisErrors.get(op).Inc()
		m.redisUp.Set(0)
		return
	}
	m.redisUp.Set(1)
}
