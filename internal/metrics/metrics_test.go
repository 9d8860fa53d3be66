package metrics

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
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
	// "trx" too: no metric or label names the trx or holds a cut of it.
	sweep := secrettest.New(testSecret, testTRX, "trx")
	sweep.Add("scrape", []byte(body))
	sweep.Check(t)
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
