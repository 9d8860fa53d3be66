package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

const (
	testSecret = "s3cr3t-api-secret"
	testTRX    = "trx-8f2c61d0c0ffee"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d", rec.Code)
	}
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return string(b)
}

// assertLines fails for each of lines, a sample as the text format writes it
// ("name{label="value",...} value"), that the scrape lacks: it must hold a
// sample of that name with exactly those labels, in any order, and exactly
// that value, however the number is written ("1.7408304e+09" or
// "1740830400"). body must parse as the Prometheus text format.
func assertLines(t *testing.T, body string, lines ...string) {
	t.Helper()
	have := samples(t, "the scrape", body)
	for _, l := range lines {
		want := samples(t, "a wanted line", l+"\n")
		if len(want) != 1 {
			t.Fatalf("wanted line %q is not one sample", l)
		}
		for k, v := range want {
			got, ok := have[k]
			switch {
			case !ok:
				t.Errorf("scrape lacks line %q", l)
			case got != v && !(math.IsNaN(got) && math.IsNaN(v)):
				t.Errorf("scrape has %s %v, want line %q", k, got, l)
			}
		}
	}
}

// families parses text in the Prometheus text format, failing t on an error.
func families(t *testing.T, what, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s does not parse as the Prometheus text format: %v\n%s", what, err, text)
	}
	return mfs
}

// samples parses text in the Prometheus text format into its samples, each
// keyed as series writes it: a histogram is its _bucket, _sum and _count
// samples, a summary its quantiles, _sum and _count. A sample that appears
// twice fails t.
func samples(t *testing.T, what, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	add := func(name string, labels []*dto.LabelPair, extra *dto.LabelPair, v float64) {
		k := seriesKey(name, labels, extra)
		if _, dup := out[k]; dup {
			t.Errorf("%s has %s twice", what, k)
		}
		out[k] = v
	}
	for name, mf := range families(t, what, text) {
		for _, m := range mf.GetMetric() {
			l := m.GetLabel()
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, l, nil, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, l, nil, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, l, nil, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					add(name+"_bucket", l, label("le", formatFloat(b.GetUpperBound())), float64(b.GetCumulativeCount()))
				}
				add(name+"_sum", l, nil, h.GetSampleSum())
				add(name+"_count", l, nil, float64(h.GetSampleCount()))
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add(name, l, label("quantile", formatFloat(q.GetQuantile())), q.GetValue())
				}
				add(name+"_sum", l, nil, s.GetSampleSum())
				add(name+"_count", l, nil, float64(s.GetSampleCount()))
			default:
				t.Errorf("%s: family %s has type %v", what, name, mf.GetType())
			}
		}
	}
	return out
}

func label(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// seriesKey names a sample by its name and its labels sorted by name, "le"
// and "quantile" values written as formatFloat writes them.
func seriesKey(name string, labels []*dto.LabelPair, extra *dto.LabelPair) string {
	if extra != nil {
		labels = append(slices.Clone(labels), extra)
	}
	var kv []string
	for _, l := range labels {
		v := l.GetValue()
		if n := l.GetName(); n == "le" || n == "quantile" {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				v = formatFloat(f)
			}
		}
		kv = append(kv, l.GetName()+"="+strconv.Quote(v))
	}
	if len(kv) == 0 {
		return name
	}
	slices.Sort(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

// topUpSequence is one refill as the watchdog reports it: a check decides to
// top up, the request succeeds, a later check sees the credit.
func topUpSequence() []watchdog.Event {
	redacted := errors.New("vonage: top up: server error (HTTP 503): POST /account/top-up?[redacted]")
	return []watchdog.Event{
		watchdog.CheckStarted{At: t0},
		watchdog.Decided{
			At: t0, Balance: dec("4.20"), AutoReload: true,
			Decision:  policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold, Refilling: true},
			Threshold: dec("10"), Target: dec("20"),
		},
		watchdog.TopUpFinished{At: t0.Add(time.Second), IntentID: "01J0TESTINTENT", Outcome: ledger.Unknown,
			Attempts: 1, BalanceBefore: dec("4.20"), Err: redacted},
		watchdog.TopUpFinished{At: t0.Add(2 * time.Second), IntentID: "01J0TESTINTENT2", Outcome: ledger.Succeeded,
			Attempts: 1, BalanceBefore: dec("4.20")},
		watchdog.CheckStarted{At: t0.Add(30 * time.Second)},
		watchdog.TopUpConfirmed{At: t0.Add(30 * time.Second), IntentID: "01J0TESTINTENT2",
			BalanceBefore: dec("4.20"), BalanceAfter: dec("12.50"), After: 29 * time.Second},
	}
}

func TestScrapeAfterATopUpShowsTheRefill(t *testing.T) {
	m := New(dec("10"), dec("20"))
	for _, e := range topUpSequence() {
		m.Observe(e)
	}
	m.ObserveRequest("top-up", "200", 150*time.Millisecond)
	body := scrape(t, m.Handler())

	assertLines(t, body,
		"topup_watchdog_balance_eur 12.5",
		"topup_watchdog_threshold_eur 10",
		"topup_watchdog_target_eur 20",
		"topup_watchdog_auto_reload_enabled 1",
		`topup_watchdog_topups_total{outcome="succeeded"} 1`,
		`topup_watchdog_topups_total{outcome="unknown"} 1`,
		`topup_watchdog_topups_total{outcome="rejected"} 0`,
		`topup_watchdog_topups_total{outcome="not_sent"} 0`,
		"topup_watchdog_topups_confirmed_total 1",
		`topup_watchdog_decisions_total{action="top_up",reason="below_threshold"} 1`,
		`topup_watchdog_decisions_total{action="blocked",reason="daily_cap_reached"} 0`,
		`topup_watchdog_decisions_total{action="blocked",reason="rate_limited"} 0`,
		`topup_watchdog_decisions_total{action="blocked",reason="backing_off"} 0`,
		`topup_watchdog_checks_total{result="success"} 1`,
		`topup_watchdog_checks_total{result="failure"} 0`,
		"topup_watchdog_window_open 0",
		"topup_watchdog_last_check_success_timestamp_seconds 1.7408304e+09",
		"topup_watchdog_last_topup_timestamp_seconds 1.740830402e+09",
		`topup_watchdog_vonage_request_duration_seconds_bucket{code="200",endpoint="top-up",le="0.25"} 1`,
		`topup_watchdog_vonage_request_duration_seconds_count{code="200",endpoint="top-up"} 1`,
	)
	for _, s := range []string{"go_goroutines", "process_"} {
		if !strings.Contains(body, s) {
			t.Errorf("scrape lacks the %s metrics of the Go and process collectors", s)
		}
	}
	for _, s := range []string{testSecret, testTRX, "trx"} {
		if strings.Contains(body, s) {
			t.Errorf("scrape contains %q", s)
		}
	}
}

func TestWindowIsOpenWhileATopUpIsUnconfirmed(t *testing.T) {
	m := New(dec("10"), dec("20"))
	events := topUpSequence()
	for _, e := range events[:4] {
		m.Observe(e)
	}
	assertLines(t, scrape(t, m.Handler()), "topup_watchdog_window_open 1")
	m.Observe(watchdog.TopUpUnconfirmed{At: t0.Add(time.Hour), IntentID: "01J0TESTINTENT2", Outcome: ledger.Succeeded})
	assertLines(t, scrape(t, m.Handler()),
		"topup_watchdog_window_open 0",
		"topup_watchdog_topups_unconfirmed_total 1")
}

func TestARejectedTopUpHoldsNoWindow(t *testing.T) {
	m := New(dec("10"), dec("20"))
	events := topUpSequence()
	m.Observe(events[1])
	m.Observe(watchdog.TopUpFinished{At: t0, IntentID: "01J0TESTINTENT", Outcome: ledger.Rejected,
		Err: errors.New("vonage: top up: authentication failed (HTTP 401)"), CredentialsRejected: true})
	assertLines(t, scrape(t, m.Handler()),
		"topup_watchdog_window_open 0",
		`topup_watchdog_topups_total{outcome="rejected"} 1`)
}

func TestFailedChecksCountAndResetOnARead(t *testing.T) {
	m := New(dec("10"), dec("10"))
	for i := 1; i <= 3; i++ {
		m.Observe(watchdog.CheckFailed{At: t0, Err: errors.New("vonage: get balance: transport"), Consecutive: i})
	}
	m.Observe(watchdog.LedgerFailed{At: t0, Err: errors.New("write ledger: disk full")})
	assertLines(t, scrape(t, m.Handler()),
		`topup_watchdog_checks_total{result="failure"} 3`,
		"topup_watchdog_consecutive_failed_checks 3",
		"topup_watchdog_ledger_failures_total 1")

	m.Observe(watchdog.Decided{At: t0, Balance: dec("11"), AutoReload: false,
		Decision:  policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK, TopUps24h: 2},
		Threshold: dec("10"), Target: dec("10")})
	assertLines(t, scrape(t, m.Handler()),
		`topup_watchdog_checks_total{result="success"} 1`,
		"topup_watchdog_consecutive_failed_checks 0",
		"topup_watchdog_auto_reload_enabled 0",
		"topup_watchdog_topups_last_24h 2",
		`topup_watchdog_decisions_total{action="none",reason="balance_ok"} 1`)
}

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

func TestEachMetricsHasItsOwnSets(t *testing.T) {
	a, b := New(dec("1"), dec("1")), New(dec("1"), dec("1"))
	if a.set == b.set || a.fleetSet == b.fleetSet {
		t.Fatal("two Metrics share a set")
	}
	a.Observe(watchdog.CheckFailed{At: t0, Err: errors.New("vonage: get balance: transport"), Consecutive: 1})
	a.EnableFleet()
	body := scrape(t, b.Handler())
	assertLines(t, body, `topup_watchdog_checks_total{result="failure"} 0`)
	if strings.Contains(body, "topup_watchdog_fleet_") {
		t.Error("enabling the fleet on one Metrics shows the fleet's metrics on another")
	}
	var global bytes.Buffer
	vm.WritePrometheus(&global, false)
	if strings.Contains(global.String(), Namespace) {
		t.Errorf("the library's global set holds the watchdog's metrics:\n%s", global.String())
	}
}

// families' types, as the README's Observability section and the Prometheus
// client had them.
var wantTypes = map[string]dto.MetricType{
	"balance_eur":                          dto.MetricType_GAUGE,
	"threshold_eur":                        dto.MetricType_GAUGE,
	"target_eur":                           dto.MetricType_GAUGE,
	"auto_reload_enabled":                  dto.MetricType_GAUGE,
	"window_open":                          dto.MetricType_GAUGE,
	"topups_last_24h":                      dto.MetricType_GAUGE,
	"last_check_success_timestamp_seconds": dto.MetricType_GAUGE,
	"last_topup_timestamp_seconds":         dto.MetricType_GAUGE,
	"consecutive_failed_checks":            dto.MetricType_GAUGE,
	"checks_total":                         dto.MetricType_COUNTER,
	"decisions_total":                      dto.MetricType_COUNTER,
	"topups_total":                         dto.MetricType_COUNTER,
	"topups_confirmed_total":               dto.MetricType_COUNTER,
	"topups_unconfirmed_total":             dto.MetricType_COUNTER,
	"ledger_failures_total":                dto.MetricType_COUNTER,
	"vonage_request_duration_seconds":      dto.MetricType_HISTOGRAM,
	"spend_eur_total":                      dto.MetricType_COUNTER,
	"burn_rate_eur_per_minute":             dto.MetricType_GAUGE,
	"runway_seconds":                       dto.MetricType_GAUGE,
	"lead_time_seconds":                    dto.MetricType_GAUGE,
	"fleet_ticks_total":                    dto.MetricType_COUNTER,
	"fleet_claims_lost_total":              dto.MetricType_COUNTER,
	"redis_up":                             dto.MetricType_GAUGE,
	"redis_round_trip_seconds":             dto.MetricType_HISTOGRAM,
	"redis_errors_total":                   dto.MetricType_COUNTER,
}

func TestScrapeHasEveryFamilyWithItsTypeAndHelp(t *testing.T) {
	m := New(dec("10"), dec("20"))
	m.EnableFleet()
	m.ObserveRequest("get-balance", "200", 80*time.Millisecond)
	m.ObserveRedis("tick", time.Millisecond, nil)
	m.Observe(rateDecided(t0, "30", "0.5", 10*time.Minute)) // the burn rate's families show only while a rate is known
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" {
		t.Errorf("Content-Type %q", ct)
	}
	if enc := rec.Header().Get("Content-Encoding"); enc != "" {
		t.Errorf("Content-Encoding %q", enc)
	}
	body := rec.Body.String()
	mfs := families(t, "the scrape", body)
	for name, typ := range wantTypes {
		mf := mfs[Namespace+"_"+name]
		switch {
		case mf == nil:
			t.Errorf("scrape lacks the family %s_%s", Namespace, name)
		case mf.GetType() != typ:
			t.Errorf("family %s is a %v, want a %v", mf.GetName(), mf.GetType(), typ)
		case mf.GetHelp() != helps[name] || mf.GetHelp() == "":
			t.Errorf("family %s has the help %q, want %q", mf.GetName(), mf.GetHelp(), helps[name])
		}
	}
	for name := range mfs {
		if n, ok := strings.CutPrefix(name, Namespace+"_"); ok {
			if _, known := wantTypes[n]; !known {
				t.Errorf("scrape has the family %s, not in wantTypes", name)
			}
		}
	}
	// The histograms keep the Prometheus client's buckets, +Inf included.
	for _, h := range []struct {
		line     string // with the le and the count to fill in
		buckets  []float64
		observed float64
	}{
		{`topup_watchdog_vonage_request_duration_seconds_bucket{code="200",endpoint="get-balance",le="%s"} %d`,
			RequestBuckets(), 0.08},
		{`topup_watchdog_redis_round_trip_seconds_bucket{op="tick",le="%s"} %d`, RedisBuckets(), 0.001},
	} {
		for _, le := range h.buckets {
			n := 0
			if h.observed <= le {
				n = 1
			}
			assertLines(t, body, fmt.Sprintf(h.line, formatFloat(le), n))
		}
		assertLines(t, body, fmt.Sprintf(h.line, "+Inf", 1))
	}
	// The Go runtime's and the process's metrics, under the library's names.
	for _, name := range []string{
		"go_goroutines", "go_threads", "go_gomaxprocs", "go_memlimit_bytes", "go_info", "go_gc_duration_seconds",
		"go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
		"process_start_time_seconds", "process_open_fds", "process_max_fds",
	} {
		if mfs[name] == nil {
			t.Errorf("scrape lacks %s", name)
		}
	}
}

// blockingWriter is a ResponseWriter whose Write waits for release.
type blockingWriter struct {
	httptest.ResponseRecorder
	writing chan<- struct{}
	release <-chan struct{}
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	w.writing <- struct{}{}
	<-w.release
	return w.ResponseRecorder.Write(b)
}

func TestHandlerServesFourScrapesAtOnce(t *testing.T) {
	h := New(dec("10"), dec("20")).Handler()
	writing, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &blockingWriter{ResponseRecorder: *httptest.NewRecorder(), writing: writing, release: release}
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		}()
	}
	for range 4 {
		<-writing
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "Limit of concurrent requests reached (4)") {
		t.Errorf("a fifth scrape at once = %d %q", rec.Code, rec.Body.String())
	}
	close(release)
	wg.Wait()
	scrape(t, h) // the slots are free again
}

func BenchmarkObserve(b *testing.B) {
	m := New(dec("10"), dec("20"))
	events := topUpSequence()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.Observe(events[i%len(events)])
	}
}

func BenchmarkObserveRedis(b *testing.B) {
	m := New(dec("10"), dec("20"))
	m.EnableFleet()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRedis("tick", 400*time.Microsecond, nil)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := New(dec("10"), dec("20"))
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("get-balance", "200", 120*time.Millisecond)
	}
}
