// Package metrics owns the Prometheus metrics of the watchdog: their names,
// their registry and how the watchdog's events move them.
//
// Metrics lives on its own registry, never the global default one, with the Go
// and process collectors added. It learns everything from watchdog events
// (Observe) and from the Vonage client's per-request hook (ObserveRequest).
// No metric name, label or value ever holds the API secret or the trx
// reference: the events this package reads carry neither.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shopspring/decimal"
)

// Namespace prefixes every metric of the watchdog.
const Namespace = "topup_watchdog"

// The values of the checks_total "result" label.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// RequestBuckets are the upper bounds, in seconds, of the Vonage request
// duration histogram. One attempt is bounded by TOPUP_REQUEST_TIMEOUT (10s by
// default), so the last buckets catch slow answers and timeouts.
func RequestBuckets() []float64 {
	return []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}

// Metrics holds the watchdog's metrics and the registry they live on. Its
// methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	// mu orders the updates of one event, so that a scrape never sees the
	// balance of one check with the window state of another half-applied.
	mu sync.Mutex

	balance           prometheus.Gauge
	threshold         prometheus.Gauge
	target            prometheus.Gauge
	autoReload        prometheus.Gauge
	windowOpen        prometheus.Gauge
	topUps24h         prometheus.Gauge
	lastCheckSuccess  prometheus.Gauge
	lastTopUp         prometheus.Gauge
	checks            *prometheus.CounterVec
	decisions         *prometheus.CounterVec
	topUps            *prometheus.CounterVec
	confirmed         prometheus.Counter
	unconfirmed       prometheus.Counter
	ledgerFailures    prometheus.Counter
	consecutiveFailed prometheus.Gauge
	requestDuration   *prometheus.HistogramVec
}

// New returns Metrics on a fresh registry, with the threshold and target
// gauges set and every label combination worth alerting on present at 0.
func New(threshold, target decimal.Decimal) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m := newMetrics()
	reg.MustRegister(m.collectors()...)
	m.reg = reg
	m.threshold.Set(threshold.InexactFloat64())
	m.target.Set(target.InexactFloat64())
	m.preinitialise()
	return m
}

// Registry returns the registry the metrics live on, for a caller that wants
// to add its own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg,
		Timeout:             10 * time.Second,
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	})
}

// ObserveRequest records one Vonage request attempt. Its signature matches
// vonage.Options.Observe: endpoint is "get-balance" or "top-up", code the HTTP
// status as text or "error" when no answer came back.
func (m *Metrics) ObserveRequest(endpoint, code string, d time.Duration) {
	m.requestDuration.WithLabelValues(endpoint, code).Observe(d.Seconds())
}
