package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// serverAddr waits for the HTTP server's line and returns its address.
func serverAddr(t *testing.T, r *inProc) string {
	t.Helper()
	var addr string
	r.stdout.waitFor(t, "the http server", func(o *output) bool {
		for _, l := range o.lines() {
			if l["msg"] == "http server listening" {
				addr, _ = l["addr"].(string)
				return true
			}
		}
		return false
	})
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// getUntil polls url until ok holds for its answer, for up to waitLimit,
// and returns the last answer. The probes and metrics are observers, told of
// a check after its log line is written (watchdog.Observer), so a line seen
// on stdout can come a moment before the probe's answer changes.
func getUntil(t *testing.T, url string, ok func(code int, body string) bool) (int, string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		code, body := get(t, url)
		if ok(code, body) || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetricsAfterATopUp(t *testing.T) {
	acct, srv := startAccount(t, testAccount("5", 500*time.Millisecond))
	env := testEnv(t, srv.URL)
	env["TOPUP_LISTEN_ADDR"] = "127.0.0.1:0"
	r := startInProc(t, env)
	addr := serverAddr(t, r)
	r.stdout.waitFor(t, "a confirmed top-up and a decision after it", func(o *output) bool {
		return o.count("topup confirmed") == 1 && o.count("decision") >= 3
	})
	_, metrics := get(t, "http://"+addr+"/metrics")
	_ = r.stop(t)

	want := []string{
		`topup_watchdog_topups_total{outcome="succeeded"} 1`,
		`topup_watchdog_topups_confirmed_total 1`,
		`topup_watchdog_decisions_total{action="top_up",reason="below_threshold"} 1`,
		`topup_watchdog_threshold_eur 10`,
		`topup_watchdog_auto_reload_enabled 1`,
		`topup_watchdog_vonage_request_duration_seconds_count{code="200",endpoint="top-up"} 1`,
		`go_goroutines`, `process_resident_memory_bytes`,
	}
	for _, w := range want {
		if !strings.Contains(metrics, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	// The whole scrape, the Go runtime's and the process's metrics with it,
	// parses as Prometheus parses the text format.
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics does not parse as the Prometheus text format: %v\n%s", err, metrics)
	}
	// The balance gauge shows the last balance read.
	lines := r.stdout.lines()
	var last string
	for _, l := range lines {
		if l["msg"] == "decision" {
			last = l["balance"].(string)
		}
	}
	balance, err := strconv.ParseFloat(last, 64)
	if err != nil {
		t.Fatalf("the last decision's balance %q: %v", last, err)
	}
	if g := mfs["topup_watchdog_balance_eur"].GetMetric(); len(g) != 1 || g[0].GetGauge().GetValue() != balance {
		t.Errorf("balance gauge is not the last balance read, %s: %v", last, g)
	}
	if acct.Stats().TopUpsApplied != 1 {
		t.Errorf("applied = %d", acct.Stats().TopUpsApplied)
	}
	assertClean(t, "/metrics", metrics)
}

func TestReadinessFollowsTheBalanceReads(t *testing.T) {
	cfg := testAccount("50", time.Minute)
	cfg.Faults.Latency = 1500 * time.Millisecond // the first read is slow
	_, srv := startAccount(t, cfg)
	env := testEnv(t, srv.URL)
	env["TOPUP_LISTEN_ADDR"] = "127.0.0.1:0"
	env["TOPUP_REQUEST_TIMEOUT"] = "5s"
	r := startInProc(t, env)
	addr := serverAddr(t, r) // the server listens at once; the first read takes 1.5 s
	if code, body := get(t, "http://"+addr+"/readyz"); code != 503 || !strings.Contains(body, "no balance read yet") {
		t.Errorf("/readyz before the first read = %d %q", code, body)
	}
	r.stdout.waitFor(t, "a decision", func(o *output) bool { return o.count("decision") > 0 })
	if code, body := getUntil(t, "http://"+addr+"/readyz", func(code int, _ string) bool { return code == 200 }); code != 200 {
		t.Errorf("/readyz after a read = %d %q", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	_ = r.stop(t)

	env["VONAGE_API_SECRET"] = "wrong-secret"
	r = startInProc(t, env)
	addr = serverAddr(t, r)
	r.stdout.waitFor(t, "a failed check", func(o *output) bool { return o.count("check failed") > 0 })
	rejected := func(code int, body string) bool {
		return code == 503 && strings.Contains(body, "rejected the credentials")
	}
	if code, body := getUntil(t, "http://"+addr+"/readyz", rejected); !rejected(code, body) {
		t.Errorf("/readyz with a wrong secret = %d %q", code, body)
	}
}

// receiver is a webhook that counts notifications by event.
type receiver struct {
	mu     sync.Mutex
	events map[string]int
	bodies []string
	block  chan struct{} // when not nil, every request waits on it
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.block != nil {
		select {
		case <-rc.block:
		case <-r.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ev, _ := m["event"].(string)
	rc.events[ev]++
	rc.bodies = append(rc.bodies, string(body))
}

func (rc *receiver) count(ev string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.events[ev]
}

func TestWebhookGetsOneNotificationPerTopUpAndOneForTheCap(t *testing.T) {
	// Each credit shows at the next check, then the drain takes it within
	// a few seconds: a need every four checks or so.
	cfg := testAccount("5", 0)
	cfg.DrainPerSecond = decimal.NewFromInt(15)
	acct, srv := startAccount(t, cfg)
	rc := &receiver{events: map[string]int{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	env := testEnv(t, srv.URL)
	env["TOPUP_MAX_PER_DAY"] = "2"
	env["TOPUP_WINDOW"] = "10s"
	env["TOPUP_NOTIFY_URL"] = hook.URL + "/hooks/" + testSecret
	r := startInProc(t, env)
	r.stdout.waitFor(t, "three decisions blocked by the cap", func(o *output) bool {
		n := 0
		for _, l := range o.lines() {
			if l["reason"] == "daily_cap_reached" {
				n++
			}
		}
		return n >= 3
	})
	_ = r.stop(t) // delivers what is queued before it returns

	if n := acct.Stats().TopUpRequests; n != 2 {
		t.Fatalf("%d top-up requests, want 2", n)
	}
	if n := rc.count("topup"); n != 2 {
		t.Errorf("%d topup notifications, want 2", n)
	}
	if n := rc.count("daily_cap_reached"); n != 1 {
		t.Errorf("%d daily_cap_reached notifications, want 1", n)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	assertClean(t, "notifications", strings.Join(rc.bodies, "\n"))
	assertClean(t, "stdout", r.stdout.String())
}

func TestASlowWebhookDelaysNoCheck(t *testing.T) {
	cfg := testAccount("5", 0)
	acct, srv := startAccount(t, cfg)
	rc := &receiver{events: map[string]int{}, block: make(chan struct{})}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	defer close(rc.block)
	env := testEnv(t, srv.URL)
	env["TOPUP_NOTIFY_URL"] = hook.URL
	r := startInProc(t, env)
	// The receiver answers nothing; the checks go on, one a second.
	err := acct.Wait(ctxWithTimeout(t), func(s sim.Stats) bool { return s.BalanceRequests >= 4 })
	if err != nil {
		t.Fatalf("checks stalled behind a stuck webhook: %v", err)
	}
	if acct.Stats().TopUpsApplied != 1 {
		t.Errorf("applied %d", acct.Stats().TopUpsApplied)
	}
	_ = r
}

func ctxWithTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}
