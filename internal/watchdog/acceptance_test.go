package watchdog_test

// The core issue's list of what must hold, each proven against a simulated
// Vonage account on loopback with the real client and the real file ledger.

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// 1. A balance that drains across the threshold gets exactly one top-up.
func TestDrainingAcrossTheThresholdTopsUpExactlyOnce(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.DrainPerSecond = eur("12"), eur("0.01") // 10 EUR reached after 200s
	r := newRig(t, acct)
	r.every(30*time.Second, 20) // 10 minutes; the credit lands a minute after the top-up

	if n := r.topUpRequests(); n != 1 {
		t.Fatalf("%d top-up requests, want 1", n)
	}
	want := "top_up/below_threshold"
	if got := r.decisions(); !slices.Contains(got, want) || count(got, want) != 1 {
		t.Errorf("decisions = %v, want exactly one %s", got, want)
	}
	if n := len(r.lines("topup confirmed")); n != 1 {
		t.Errorf("%d confirmations, want 1", n)
	}
}

// 2. Vonage applies the top-up but the answer never comes (client timeout).
func TestAnAppliedTopUpWhoseAnswerIsLostIsNotSentAgain(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newRig(t, acct, func(o *rigOptions) { o.timeout = 300 * time.Millisecond })
	if err := r.acct.Script(sim.EndpointTopUp, sim.FaultAppliedNoAnswer); err != nil {
		t.Fatal(err)
	}
	r.every(30*time.Second, 4) // the credit lands after a minute

	if n := r.topUpRequests(); n != 1 {
		t.Fatalf("%d top-up requests, want 1", n)
	}
	top := r.lines("topup")[0]
	if top["outcome"] != "unknown" || top["attempts"] != 1.0 {
		t.Errorf("topup line = %v", top)
	}
	if n := len(r.lines("topup confirmed")); n != 1 {
		t.Errorf("%d confirmations, want 1", n)
	}
}

// 3. A 500: nothing more inside the window; a new top-up once it has passed.
func TestA500HoldsTheWindowAndThenTopsUpAgain(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newRig(t, acct)
	if err := r.acct.Script(sim.EndpointTopUp, sim.FaultServerError); err != nil {
		t.Fatal(err)
	}
	r.every(time.Minute, 15) // 0..14 minutes: inside the window
	if n := r.topUpRequests(); n != 1 {
		t.Fatalf("%d top-up requests inside the window, want 1", n)
	}
	r.check() // 15 minutes
	if n := r.topUpRequests(); n != 2 {
		t.Fatalf("%d top-up requests after the window, want 2", n)
	}
	if n := len(r.lines("topup unconfirmed")); n != 1 {
		t.Errorf("%d unconfirmed lines, want 1", n)
	}
}

// 4. Two 429s, then success: one top-up, Retry-After honoured.
func TestTwo429sThenSuccessHonoursRetryAfter(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	acct.Faults.RetryAfter = time.Second
	r := newRig(t, acct)
	if err := r.acct.Script(sim.EndpointTopUp, sim.FaultRateLimit, sim.FaultRateLimit); err != nil {
		t.Fatal(err)
	}
	r.check()

	if s := r.acct.Stats(); s.TopUpRequests != 3 || s.TopUpsApplied != 1 {
		t.Fatalf("stats = %+v, want 3 requests and 1 applied", s)
	}
	for i := 1; i < len(r.topUpTimes); i++ {
		if gap := r.topUpTimes[i].Sub(r.topUpTimes[i-1]); gap < time.Second {
			t.Errorf("attempt %d came %v after the 429, before its Retry-After of 1s", i+1, gap)
		}
	}
	if top := r.lines("topup")[0]; top["outcome"] != "succeeded" || top["attempts"] != 3.0 {
		t.Errorf("topup line = %v", top)
	}
}

// 5. Connection refused on the first top-up attempt: retried, lands once.
func TestARefusedConnectionIsRetriedWithinTheCheck(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newRig(t, acct, func(o *rigOptions) { o.transport = refuseDial(t, 2) }) // dial 1 reads the balance
	r.check()

	if s := r.acct.Stats(); s.TopUpRequests != 1 || s.TopUpsApplied != 1 {
		t.Fatalf("stats = %+v, want the one request that got through applied", s)
	}
	if top := r.lines("topup")[0]; top["outcome"] != "succeeded" || top["attempts"] != 2.0 {
		t.Errorf("topup line = %v", top)
	}
}

// 6. Threshold 10, target 120, +50 a top-up, balance 5: exactly three.
func TestARefillToTheTargetTakesThreeTopUpsEachAfterTheLastCredit(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newRig(t, acct, func(o *rigOptions) { o.settings.Target = eur("120") })
	r.every(30*time.Second, 20)

	if n := r.topUpRequests(); n != 3 {
		t.Fatalf("%d top-up requests, want 3", n)
	}
	tops := r.acct.TopUps()
	for i := 1; i < len(tops); i++ {
		if tops[i].ReceivedAt.Before(tops[i-1].CreditAt) {
			t.Errorf("top-up %d sent at %v, before the credit of the one before at %v",
				i+1, tops[i].ReceivedAt, tops[i-1].CreditAt)
		}
	}
	if got := r.acct.Balance(); !got.Equal(eur("155")) {
		t.Errorf("balance = %s, want 155", got)
	}
}

// 7. autoReload false: no top-up request; reason auto_reload_disabled.
func TestAutoReloadDisabledSendsNoTopUp(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.AutoReload = eur("5"), false
	r := newRig(t, acct)
	r.every(time.Minute, 3)
	if n := r.topUpRequests(); n != 0 {
		t.Fatalf("%d top-up requests, want 0", n)
	}
	if got := r.decisions(); count(got, "blocked/auto_reload_disabled") != 3 {
		t.Errorf("decisions = %v", got)
	}
}

// 8. Wrong secret: never a top-up, an error line, the watchdog goes on.
func TestAWrongSecretNeverTopsUp(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newRig(t, acct, func(o *rigOptions) { o.secret = "wrong-secret" })
	r.every(time.Minute, 3)

	if n := r.topUpRequests(); n != 0 {
		t.Fatalf("%d top-up requests, want 0", n)
	}
	failed := r.lines("check failed")
	if len(failed) != 3 || failed[0]["level"] != "error" {
		t.Fatalf("check failed lines = %v", failed)
	}
	if !strings.Contains(failed[0]["error"].(string), "authentication failed") {
		t.Errorf("error = %v", failed[0]["error"])
	}
	if n := r.acct.Stats().BalanceRequests; n != 3 {
		t.Errorf("%d balance reads: a rejected secret is not retried within a check, want 3", n)
	}
}

// 9. A daily cap of 2 under a fast drain: two top-ups, then daily_cap_reached.
func TestTheDailyCapHoldsUnderAFastDrain(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.DrainPerSecond, acct.CreditDelay = eur("5"), eur("1"), 0
	r := newRig(t, acct, func(o *rigOptions) { o.settings.MaxPerDay = 2 })
	r.every(30*time.Second, 20)

	if n := r.topUpRequests(); n != 2 {
		t.Fatalf("%d top-up requests, want 2", n)
	}
	if got := r.decisions(); got[len(got)-1] != "blocked/daily_cap_reached" {
		t.Errorf("decisions = %v", got)
	}
}

// 10. A restart on the same state file after a top-up whose credit lags.
// (The end-to-end version kills the real binary: cmd/topup-watchdog.)
func TestARestartDoesNotRepeatATopUpWhoseCreditLags(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.CreditDelay = eur("5"), 10*time.Minute
	r := newRig(t, acct)
	r.check()
	r.restart()
	r.clock.Advance(30 * time.Second)
	r.check()

	if n := r.topUpRequests(); n != 1 {
		t.Fatalf("%d top-up requests, want 1", n)
	}
	if got := r.decisions(); got[len(got)-1] != "blocked/window_open" {
		t.Errorf("decisions = %v", got)
	}
}

// 11. Dry run: decisions logged, no request to the top-up endpoint.
func TestDryRunSendsNothing(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newRig(t, acct, func(o *rigOptions) { o.dryRun = true })
	r.every(time.Minute, 3)
	if n := r.topUpRequests(); n != 0 {
		t.Fatalf("%d top-up requests, want 0", n)
	}
	for _, d := range r.lines("decision") {
		if d["dry_run"] != true || d["action"] != "top_up" {
			t.Errorf("decision = %v", d)
		}
	}
}

// 12. Unreadable balance answers: check failed, no top-up, the watchdog goes on.
func TestUnreadableBalanceAnswersNeverTopUp(t *testing.T) {
	answers := map[string]func(w http.ResponseWriter){
		"garbage JSON": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"value": 5.0, "autoRel`))
		},
		"HTML error page": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(`<html><body>Bad gateway</body></html>`))
		},
		"body over the limit": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"value": 5.0, "autoReload": true, "pad": "` + strings.Repeat("x", vonage.DefaultMaxBody) + `"}`))
		},
		"401 body with status 200": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"error-code":"401","error-code-label":"authentication failed"}`))
		},
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			topUps := 0
			h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Path == "/account/top-up" {
					topUps++
				}
				answer(w)
			})
			r := newRig(t, defaultAccount(), func(o *rigOptions) { o.handler = h })
			r.every(time.Minute, 2)
			if topUps != 0 {
				t.Fatalf("%d top-up requests, want 0", topUps)
			}
			if n := len(r.lines("check failed")); n != 2 {
				t.Errorf("%d check failed lines, want 2", n)
			}
			if n := len(r.lines("decision")); n != 0 {
				t.Errorf("an unreadable answer was read as a balance")
			}
		})
	}
}

// 14. No secret in any output: the logs of every scenario above, and the
// state file. Here one busy rig goes through most of them at once, with
// query authentication and debug logging.
func TestNoSecretInLogsOrStateFile(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.DrainPerSecond, acct.CreditDelay = eur("5"), eur("2"), 0
	r := newRig(t, acct, func(o *rigOptions) {
		o.timeout = 300 * time.Millisecond
		o.settings.Window = 2 * time.Minute
		o.settings.MaxPerDay = 50
	})
	script := []sim.Fault{sim.FaultAppliedNoAnswer, sim.FaultServerError, sim.FaultMalformed,
		sim.FaultResetAfterApply, sim.FaultRateLimit, sim.FaultNone, sim.FaultRefuseAuth}
	if err := r.acct.Script(sim.EndpointTopUp, script...); err != nil {
		t.Fatal(err)
	}
	if err := r.acct.Script(sim.EndpointBalance, sim.FaultNone, sim.FaultRefuseAuth, sim.FaultMalformed, sim.FaultReset); err != nil {
		t.Fatal(err)
	}
	r.every(time.Minute, 30)
	if left := r.acct.Scripted(sim.EndpointTopUp) + r.acct.Scripted(sim.EndpointBalance); left != 0 {
		t.Fatalf("%d scripted faults never ran", left)
	}
	state, err := os.ReadFile(filepath.Join(r.stateDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "logs", r.logs.Bytes())
	assertNoSecret(t, "state file", state)
}

func assertNoSecret(t *testing.T, where string, b []byte) {
	t.Helper()
	for _, s := range []string{apiSecret, trx, "Sup3r-S3cret", "Sup3r-S3cret%2F%2B%3Dvalue"} {
		if strings.Contains(string(b), s) {
			t.Errorf("%s hold %q", where, s)
		}
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// Issue 8, case 5, through the real client and the simulated account: a
// 429 with Retry-After: 3600 on the top-up holds new top-ups for the hour at
// one check a second (31 requests in 30 s before), across checks.
func TestARetryAfterOfAnHourHoldsTopUpsForTheHour(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	acct.Faults.RetryAfter = time.Hour
	r := newRig(t, acct)
	limits := make([]sim.Fault, 40)
	for i := range limits {
		limits[i] = sim.FaultRateLimit
	}
	if err := r.acct.Script(sim.EndpointTopUp, limits...); err != nil {
		t.Fatal(err)
	}
	r.check()
	r.every(time.Second, 30)
	if n := r.topUpRequests(); n != 1 {
		t.Fatalf("%d top-up requests in 30 s after a 429 with Retry-After: 3600, want 1; decisions %v", n, r.decisions())
	}
	if d := r.decisions(); d[len(d)-1] != "blocked/rate_limited" {
		t.Errorf("last decision %s, want blocked/rate_limited", d[len(d)-1])
	}
	if top := r.lines("topup")[0]; top["outcome"] != "not_sent" || top["hold_until"] == nil {
		t.Errorf("topup line = %v, want not_sent with hold_until", top)
	}
	r.clock.Advance(59*time.Minute - 30*time.Second)
	r.check()
	if n := r.topUpRequests(); n != 1 {
		t.Fatalf("%d top-up requests 59 minutes after the 429, want 1: the hold ended early", n)
	}
	r.clock.Advance(time.Minute)
	r.check()
	if n := r.topUpRequests(); n != 2 {
		t.Errorf("%d top-up requests once the hour has passed, want 2", n)
	}
}
