package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// seedLedger writes the state file of env as a watchdog that had been
// running would have left it: readings 3 EUR a minute apart, one a minute,
// up to a minute ago, at 53 EUR, and one top-up confirmed 40 s after its
// intent, twenty minutes ago.
func seedLedger(t *testing.T, env map[string]string) {
	t.Helper()
	f, err := ledger.Open(env["TOPUP_STATE_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	now := time.Now()
	err = f.Update(context.Background(), func(st *ledger.State) error {
		intent := now.Add(-20 * time.Minute)
		st.TopUps = append(st.TopUps, ledger.Record{ID: "seeded", At: intent, BalanceBefore: decimal.NewFromInt(5),
			Outcome: ledger.Succeeded, Attempts: 1, FinishedAt: intent.Add(time.Second),
			ConfirmedAt: intent.Add(40 * time.Second), BalanceAfter: decimal.NewNullDecimal(decimal.NewFromInt(55))})
		for i, balance := range []int64{59, 56, 53} {
			st.AddReading(ledger.Reading{At: now.Add(time.Duration(i-3) * time.Minute), Balance: decimal.NewFromInt(balance), AutoReload: true})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkDecision runs check with env and returns its decision line.
func checkDecision(t *testing.T, env map[string]string) map[string]any {
	t.Helper()
	out, errOut := newOutput(), newOutput()
	if err := run(context.Background(), []string{"check"}, lookup(env), out, errOut); err != nil {
		t.Fatalf("check: %v; stderr:\n%s", err, errOut.String())
	}
	assertClean(t, "check's output", out.String()+errOut.String())
	for _, l := range out.lines() {
		if l["msg"] == "decision" {
			return l
		}
	}
	t.Fatalf("check printed no decision:\n%s", out.String())
	return nil
}

// The check command decides with the predictive policy and prints the burn
// rate, the projection and the lead time. The automatic lead time is the
// seeded credit delay, 40 s, plus two intervals of the schedule: 5 s each,
// not the watchdog's 30 s default.
func TestCheckPrintsTheProjectionOfThePredictivePolicy(t *testing.T) {
	acct, srv := startAccount(t, testAccount("50", time.Minute))
	env := testEnv(t, srv.URL)
	env["TOPUP_THRESHOLD"] = "48"
	env["TOPUP_SCHEDULE"] = "@every 5s"
	env["TOPUP_POLICY"] = "predictive"
	seedLedger(t, env)

	// The spans: 59 to 56 and 56 to 53 at 3 EUR a minute, and 53 to 50 over
	// a little more than a minute, a little less; the median is 3.
	d := checkDecision(t, env)
	want := map[string]any{
		"balance": "50", "action": "top_up", "reason": "projected_below_threshold", "dry_run": true,
		"burn_rate_per_min": "3", "projected_balance": "47.5", "lead_time_ms": float64(50000), "lead_time_auto": true,
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("decision %s = %v, want %v; the line: %v", k, d[k], v, d)
		}
	}

	env["TOPUP_LEAD_TIME"] = "2m"
	d = checkDecision(t, env)
	for k, v := range map[string]any{"reason": "projected_below_threshold", "projected_balance": "44",
		"lead_time_ms": float64(120000), "lead_time_auto": false} {
		if d[k] != v {
			t.Errorf("TOPUP_LEAD_TIME=2m: decision %s = %v, want %v; the line: %v", k, d[k], v, d)
		}
	}

	// The threshold policy ignores the projection, and still prints it.
	env["TOPUP_POLICY"] = "threshold"
	d = checkDecision(t, env)
	for k, v := range map[string]any{"action": "none", "reason": "balance_ok", "burn_rate_per_min": "3",
		"projected_balance": "44", "lead_time_ms": float64(120000)} {
		if d[k] != v {
			t.Errorf("TOPUP_POLICY=threshold: decision %s = %v, want %v; the line: %v", k, d[k], v, d)
		}
	}
	if n := acct.Stats().TopUpRequests; n != 0 {
		t.Errorf("check sent %d top-ups", n)
	}
}

// Without earlier readings there is no rate: the decision line carries none
// of the projection's fields.
func TestCheckWithoutReadingsPrintsNoProjection(t *testing.T) {
	_, srv := startAccount(t, testAccount("50", time.Minute))
	env := testEnv(t, srv.URL)
	env["TOPUP_POLICY"] = "predictive"
	createLedger(t, env["TOPUP_STATE_FILE"])
	d := checkDecision(t, env)
	if d["reason"] != "balance_ok" {
		t.Errorf("reason %v, want balance_ok", d["reason"])
	}
	for _, k := range []string{"burn_rate_per_min", "projected_balance", "lead_time_ms", "lead_time_auto"} {
		if v, ok := d[k]; ok {
			t.Errorf("decision carries %s = %v without a rate", k, v)
		}
	}
}

// The running watchdog tops up a draining account before it falls below the
// threshold, says so on its starting line, and shows the burn rate on
// /metrics.
func TestRunTopsUpAheadWithThePredictivePolicy(t *testing.T) {
	cfg := testAccount("50", 500*time.Millisecond)
	cfg.DrainPerSecond = decimal.NewFromInt(1)
	_, srv := startAccount(t, cfg)
	env := testEnv(t, srv.URL)
	env["TOPUP_POLICY"] = "predictive"
	env["TOPUP_LEAD_TIME"] = "1m" // 60 EUR ahead at 1 EUR/s: below the threshold of 10 from the second check
	env["TOPUP_LISTEN_ADDR"] = "127.0.0.1:0"
	r := startInProc(t, env)
	addr := serverAddr(t, r)
	r.stdout.waitFor(t, "a top-up", func(o *output) bool { return o.count("topup") > 0 })
	_, body := getUntil(t, "http://"+addr+"/metrics", func(_ int, body string) bool {
		return strings.Contains(body, `reason="projected_below_threshold"} 1`)
	})
	_ = r.stop(t)

	lines := r.stdout.lines()
	if first := lines[0]; first["msg"] != "starting" || first["policy"] != "predictive" || first["lead_time"] != "1m0s" {
		t.Errorf("starting line = %v, want policy predictive, lead_time 1m0s", first)
	}
	var topUp map[string]any
	for _, l := range lines {
		if l["msg"] == "decision" && l["action"] == "top_up" {
			topUp = l
			break
		}
	}
	if topUp == nil || topUp["reason"] != "projected_below_threshold" || topUp["lead_time_ms"] != float64(60000) ||
		topUp["lead_time_auto"] != false {
		t.Fatalf("the first top-up's decision = %v, want projected_below_threshold with a lead time of 60000 ms", topUp)
	}
	if b := decimal.RequireFromString(topUp["balance"].(string)); !b.GreaterThanOrEqual(decimal.NewFromInt(10)) {
		t.Errorf("topped up at %s, below the threshold: the projection did not start the refill", b)
	}
	for _, s := range []string{
		`topup_watchdog_decisions_total{action="top_up",reason="projected_below_threshold"} 1`,
		"topup_watchdog_burn_rate_eur_per_minute ", "topup_watchdog_runway_seconds ",
		"topup_watchdog_lead_time_seconds 60\n",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
	if strings.Contains(body, "topup_watchdog_spend_eur_total 0\n") {
		t.Error("/metrics counts no spend on a draining account")
	}
}

// A readings journal that cannot be read does not stop the watchdog (a
// ledger that refused to load would stop every top-up): run warns once,
// naming the journal and its line, and goes on with the state file's
// readings.
func TestRunWarnsOfACorruptReadingsJournal(t *testing.T) {
	_, srv := startAccount(t, testAccount("50", time.Minute))
	env := testEnv(t, srv.URL)
	seedLedger(t, env)
	journal := env["TOPUP_STATE_FILE"] + ".readings"
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(journal, append(data, "not a reading\n{}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startInProc(t, env)
	r.stdout.waitFor(t, "a decision", func(o *output) bool { return o.count("decision") > 0 })
	_ = r.stop(t)
	var warned []map[string]any
	for _, l := range r.stdout.lines() {
		if l["msg"] == "readings journal ignored" {
			warned = append(warned, l)
		}
	}
	if len(warned) != 1 || warned[0]["level"] != "warn" {
		t.Fatalf("%d readings journal warnings (%v), want one at warn", len(warned), warned)
	}
	if msg, _ := warned[0]["error"].(string); !strings.Contains(msg, journal+":") {
		t.Errorf("the warning %q does not name the journal %s and its line", msg, journal)
	}
	assertClean(t, "run's output", r.stdout.String())
}
