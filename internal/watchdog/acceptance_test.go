package watchdog_test

// The core issue's list of what must hold, each proven against a simulated
// Vonage account on loopback with the real client and the real file ledger
// (world_test.go). Every world's output is swept for the secrets.

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// 1. A balance that drains across the threshold gets exactly one top-up.
func TestDrainingAcrossTheThresholdTopsUpExactlyOnce(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.DrainPerSecond = eur("12"), eur("0.01") // 10 EUR reached after 200s
	r := newWorld(t, acct)
	r.every(30*time.Second, 20) // 10 minutes; the credit lands a minute after the top-up

	r.wantTopUps("after 10 minutes", 1)
	// 210s: 9.90 EUR; 240s: the credit not yet shown, the window holds; 270s: credited.
	r.wantDecisions(slices.Concat(times(7, "none/balance_ok"), []string{"top_up/below_threshold", "blocked/window_open"},
		times(11, "none/balance_ok"))...)
	if n := len(r.lines("topup confirmed")); n != 1 {
		t.Errorf("%d confirmations, want 1", n)
	}
	top := r.lines("topup")
	if len(top) != 1 || top[0]["outcome"] != "succeeded" || top[0]["balance_before"] != "9.9" || top[0]["attempts"] != 1.0 {
		t.Errorf("topup lines = %v, want one succeeded from 9.9 in 1 attempt", top)
	}
	if st := r.ledger(); len(st.TopUps) != 1 || st.TopUps[0].Outcome != ledger.Succeeded || !st.TopUps[0].Confirmed() {
		t.Errorf("ledger = %+v, want one top-up, succeeded and confirmed", st.TopUps)
	}
}

// 2. Vonage applies the top-up but the answer never comes (client timeout).
func TestAnAppliedTopUpWhoseAnswerIsLostIsNotSentAgain(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	// Only the lost answer waits the timeout out; the reads, on a loaded
	// machine too, come well within it.
	r := newWorld(t, acct, func(o *worldOptions) { o.timeout = time.Second })
	r.script(sim.EndpointTopUp, sim.FaultAppliedNoAnswer)
	r.every(30*time.Second, 4) // the credit lands after a minute

	r.wantTopUps("after 2 minutes", 1)
	if tops := r.acct.TopUps(); !tops[0].Applied {
		t.Fatalf("the account did not apply the top-up: %+v", tops[0])
	}
	r.wantDecisions("top_up/below_threshold", "blocked/window_open", "none/balance_ok", "none/balance_ok")
	top := r.lines("topup")
	if len(top) != 1 || top[0]["outcome"] != "unknown" || top[0]["attempts"] != 1.0 {
		t.Errorf("topup lines = %v, want one unknown after 1 attempt", top)
	}
	conf := r.lines("topup confirmed")
	if len(conf) != 1 || conf[0]["after_ms"] != float64(time.Minute/time.Millisecond) {
		t.Errorf("confirmations = %v, want one, a minute after the intent", conf)
	}
	if st := r.ledger(); len(st.TopUps) != 1 || st.TopUps[0].Outcome != ledger.Unknown || !st.TopUps[0].Confirmed() {
		t.Errorf("ledger = %+v, want one top-up, unknown and confirmed", st.TopUps)
	}
}

// 3. A 500: nothing more inside the window; a new top-up once it has passed,
// and the credit that follows confirms that one only.
func TestA500HoldsTheWindowAndThenTopsUpAgain(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct)
	r.script(sim.EndpointTopUp, sim.FaultServerError) // before processing: not applied
	r.every(time.Minute, 15)                          // 0..14 minutes: inside the window
	r.wantTopUps("inside the window", 1)
	r.check() // 15 minutes
	r.wantTopUps("after the window", 2)
	r.clock.Advance(time.Minute)
	r.check() // the second's credit
	r.wantDecisions(slices.Concat([]string{"top_up/below_threshold"}, times(14, "blocked/window_open"),
		[]string{"top_up/below_threshold", "none/balance_ok"})...)

	if un := r.lines("topup unconfirmed"); len(un) != 1 || un[0]["intent_id"] != "intent-1" {
		t.Errorf("unconfirmed lines = %v, want intent-1's", un)
	}
	if conf := r.lines("topup confirmed"); len(conf) != 1 || conf[0]["intent_id"] != "intent-2" {
		t.Errorf("confirmations = %v, want intent-2 only", conf)
	}
	st := r.ledger()
	if len(st.TopUps) != 2 || st.TopUps[0].Outcome != ledger.Unknown || st.TopUps[0].Confirmed() || !st.TopUps[0].Expired ||
		!st.TopUps[1].Confirmed() {
		t.Errorf("ledger = %+v, want the first unknown and expired unconfirmed, the second confirmed", st.TopUps)
	}
}

// 4. Two 429s, then success: one top-up, Retry-After honoured.
func TestTwo429sThenSuccessHonoursRetryAfter(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	acct.Faults.RetryAfter = 2 * time.Second // above the backoff's 1ms
	r := newWorld(t, acct, func(o *worldOptions) { o.recordWaits = true })
	r.script(sim.EndpointTopUp, sim.FaultRateLimit, sim.FaultRateLimit)
	r.check()

	if s := r.acct.Stats(); s.TopUpRequests != 3 || s.TopUpsApplied != 1 {
		t.Fatalf("stats = %+v, want 3 requests and 1 applied", s)
	}
	if w := r.recorded(); !slices.Equal(w, []time.Duration{2 * time.Second, 2 * time.Second}) {
		t.Errorf("waits %v, want the Retry-After of 2s after each 429", w)
	}
	if top := r.lines("topup"); len(top) != 1 || top[0]["outcome"] != "succeeded" || top[0]["attempts"] != 3.0 {
		t.Errorf("topup lines = %v", top)
	}
}

// 5. Attempts that never reached Vonage (a 429, a refused connection) are
// retried within the check, and a Retry-After holds only the attempt after
// its own answer: the top-up lands once.
func TestARefusedConnectionIsRetriedWithinTheCheck(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	// Dial 1 reads the balance, dial 2 is answered 429, dial 3 is refused.
	r := newWorld(t, acct, func(o *worldOptions) { o.transport, o.recordWaits = refuseDial(t, 3), true })
	r.script(sim.EndpointTopUp, sim.FaultRateLimit)
	r.check()

	if s := r.acct.Stats(); s.TopUpRequests != 2 || s.TopUpsApplied != 1 {
		t.Fatalf("stats = %+v, want the 429 and the one request applied", s)
	}
	if top := r.lines("topup"); len(top) != 1 || top[0]["outcome"] != "succeeded" || top[0]["attempts"] != 3.0 {
		t.Errorf("topup lines = %v, want one succeeded after 3 attempts", top)
	}
	if w := r.recorded(); !slices.Equal(w, []time.Duration{time.Second, time.Millisecond}) {
		t.Errorf("waits %v, want the 429's Retry-After of 1s, then the backoff's 1ms after the refusal", w)
	}
}

// Every attempt refused: the intent is closed not sent, and neither the
// window nor the cap holds the next check back.
func TestEveryAttemptNotSentClosesTheIntentAsNotSent(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct, func(o *worldOptions) { o.transport = refuseDial(t, 2, 3, 4, 5) }) // the 4 attempts
	r.check()
	st := r.ledger()
	if len(st.TopUps) != 1 || st.TopUps[0].Outcome != ledger.NotSent || st.TopUps[0].Attempts != 4 {
		t.Fatalf("ledger = %+v, want one not_sent after 4 attempts", st.TopUps)
	}
	r.wantTopUps("after the refused attempts", 0)
	r.clock.Advance(30 * time.Second)
	r.check()
	r.wantTopUps("at the next check", 1)
	r.wantDecisions("top_up/below_threshold", "top_up/below_threshold")
}

// 6. Threshold 10, target 120, +50 a top-up, balance 5: exactly three.
func TestARefillToTheTargetTakesThreeTopUpsEachAfterTheLastCredit(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct, func(o *worldOptions) { o.settings.Target = eur("120") })
	r.every(30*time.Second, 20)

	r.wantTopUps("after 10 minutes", 3)
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
	r.wantDecisions(slices.Concat([]string{"top_up/below_threshold", "blocked/window_open", "top_up/refilling",
		"blocked/window_open", "top_up/refilling", "blocked/window_open"}, times(14, "none/balance_ok"))...)
}

// 7. autoReload false: no top-up request; reason auto_reload_disabled.
func TestAutoReloadDisabledSendsNoTopUp(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.AutoReload = eur("5"), false
	r := newWorld(t, acct)
	r.every(time.Minute, 3)
	r.wantTopUps("after 3 checks", 0)
	r.wantDecisions(times(3, "blocked/auto_reload_disabled")...)
}

// 8. Wrong secret: never a top-up, an error line, the watchdog goes on.
func TestAWrongSecretNeverTopsUp(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct, func(o *worldOptions) { o.secret = "wrong-secret" })
	r.every(time.Minute, 3)

	r.wantTopUps("after 3 checks", 0)
	failed := r.lines("check failed")
	if len(failed) != 3 || failed[0]["level"] != "error" || failed[0]["attempts"] != 1.0 {
		t.Fatalf("check failed lines = %v, want 3, the first an error after 1 attempt", failed)
	}
	if failed[1]["level"] != "debug" {
		t.Errorf("a repeated identical failure should drop to debug: %v", failed[1])
	}
	if !strings.Contains(failed[0]["error"].(string), "authentication failed") {
		t.Errorf("error = %v", failed[0]["error"])
	}
	if n := r.acct.Stats().BalanceRequests; n != 3 {
		t.Errorf("%d balance reads: a rejected secret is not retried within a check, want 3", n)
	}
	if ev := eventsOf[watchdog.CheckFailed](r.allEvents()); len(ev) != 3 || !ev[2].CredentialsRejected || ev[2].Consecutive != 3 {
		t.Errorf("CheckFailed events = %+v, want the third with credentials rejected, 3 in a row", ev)
	}

	// A process cannot change its secret: the watchdog goes on when Vonage
	// accepts the credentials again.
	acct.Balance = eur("50")
	r = newWorld(t, acct)
	r.script(sim.EndpointBalance, slices.Repeat([]sim.Fault{sim.FaultRefuseAuth}, 3)...)
	r.every(time.Minute, 4)
	if n, rec := len(r.lines("check failed")), len(r.lines("check recovered")); n != 3 || rec != 1 {
		t.Errorf("%d failed checks and %d recovery lines, want 3 and 1", n, rec)
	}
}

// 9. A daily cap of 2 under a fast drain: two top-ups, then daily_cap_reached.
func TestTheDailyCapHoldsUnderAFastDrain(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.DrainPerSecond, acct.CreditDelay = eur("5"), eur("1"), 0
	r := newWorld(t, acct, func(o *worldOptions) { o.settings.MaxPerDay = 2 })
	r.every(30*time.Second, 20)

	r.wantTopUps("after 10 minutes", 2)
	// Each credit shows at once, and the drain spends it within the minute.
	r.wantDecisions(slices.Concat([]string{"top_up/below_threshold", "none/balance_ok", "top_up/below_threshold",
		"none/balance_ok"}, times(16, "blocked/daily_cap_reached"))...)
	if n := len(r.ledger().TopUps); n != 2 {
		t.Errorf("the ledger holds %d top-ups, want 2", n)
	}
}

// 10. A restart on the same state file after a top-up whose credit lags.
// (The end-to-end version kills the real binary: cmd/topup-watchdog.)
func TestARestartDoesNotRepeatATopUpWhoseCreditLags(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.CreditDelay = eur("5"), 10*time.Minute
	r := newWorld(t, acct)
	r.check()
	r.restart()
	r.clock.Advance(30 * time.Second)
	r.check()

	r.wantTopUps("after the restart", 1)
	r.wantDecisions("top_up/below_threshold", "blocked/window_open")
}

// 11. Dry run: decisions logged, no request to the top-up endpoint.
func TestDryRunSendsNothing(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct, func(o *worldOptions) { o.dryRun = true })
	r.every(time.Minute, 3)
	r.wantTopUps("after 3 checks", 0)
	ds := r.lines("decision")
	if len(ds) != 3 {
		t.Fatalf("%d decision lines, want 3", len(ds))
	}
	for _, d := range ds {
		if d["dry_run"] != true || d["action"] != "top_up" {
			t.Errorf("decision = %v", d)
		}
	}
	if n := len(r.ledger().TopUps); n != 0 {
		t.Errorf("the ledger holds %d top-ups after a dry run, want 0", n)
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
			r := newWorld(t, defaultAccount(), func(o *worldOptions) { o.handler = h })
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

// 13. A read answered 503, then 429, then refused is retried within the
// check, waiting the backoff, the Retry-After, the backoff: the check reads.
func TestRetryableReadFailuresAreRetried(t *testing.T) {
	r := newWorld(t, defaultAccount(), func(o *worldOptions) { o.transport, o.recordWaits = refuseDial(t, 3), true })
	r.script(sim.EndpointBalance, sim.FaultUnavailable, sim.FaultRateLimit)
	r.check()
	if n := r.acct.Stats().BalanceRequests; n != 3 {
		t.Fatalf("%d balance requests, want 3: the 503, the 429 and the read after the refusal", n)
	}
	if n := len(r.lines("check failed")); n != 0 {
		t.Errorf("%d check failed lines, want 0", n)
	}
	r.wantDecisions("none/balance_ok")
	if w := r.recorded(); !slices.Equal(w, []time.Duration{time.Millisecond, time.Second, time.Millisecond}) {
		t.Errorf("waits %v, want 1ms, the Retry-After of 1s, 1ms", w)
	}
}

// 14. No secret in any output: every world sweeps its logs, its state file
// and its events when its test ends (world_test.go). Here one busy world
// goes through most of the scenarios above at once, with query
// authentication and debug logging.
func TestNoSecretInLogsOrStateFile(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.DrainPerSecond, acct.CreditDelay = eur("5"), eur("2"), 0
	r := newWorld(t, acct, func(o *worldOptions) {
		o.timeout = 300 * time.Millisecond
		o.settings.Window = 2 * time.Minute
		o.settings.MaxPerDay = 50
		o.recordWaits = true
	})
	r.script(sim.EndpointTopUp, sim.FaultAppliedNoAnswer, sim.FaultServerError, sim.FaultMalformed,
		sim.FaultResetAfterApply, sim.FaultRateLimit, sim.FaultNone, sim.FaultRefuseAuth)
	r.script(sim.EndpointBalance, sim.FaultNone, sim.FaultRefuseAuth, sim.FaultMalformed, sim.FaultReset)
	r.every(time.Minute, 30)
	if left := r.acct.Scripted(sim.EndpointTopUp) + r.acct.Scripted(sim.EndpointBalance); left != 0 {
		t.Fatalf("%d scripted faults never ran", left)
	}
	r.checkSweep()
	if r.sweep.Seen("logs") != 1 || r.sweep.Seen("state file") != 1 || r.sweep.Seen("event") == 0 {
		t.Errorf("the sweep saw %d logs, %d state files and %d events, want the logs, the state file and events",
			r.sweep.Seen("logs"), r.sweep.Seen("state file"), r.sweep.Seen("event"))
	}
}

// 15. Issue 8, case 5: a 429 with Retry-After: 3600 on the top-up holds new
// top-ups for the hour at one check a second (31 requests in 30 s before),
// across checks; within its check it ends the retries at once, being
// longer than the longest Retry-After honoured.
func TestARetryAfterHoldsTopUpsAcrossChecks(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	acct.Faults.RetryAfter = time.Hour
	r := newWorld(t, acct, func(o *worldOptions) { o.recordWaits = true })
	r.script(sim.EndpointTopUp, slices.Repeat([]sim.Fault{sim.FaultRateLimit}, 40)...)
	r.check()
	if w := r.recorded(); len(w) != 0 {
		t.Errorf("waits %v after a Retry-After of an hour, want none: it ends the retries", w)
	}
	r.every(time.Second, 30)
	r.wantTopUps("30 checks after a 429 with Retry-After: 3600", 1)
	if d := r.lastDecision(); d != "blocked/rate_limited" {
		t.Errorf("last decision %s, want blocked/rate_limited", d)
	}
	if top := r.lines("topup"); len(top) != 1 || top[0]["outcome"] != "not_sent" || top[0]["hold_until"] == nil {
		t.Errorf("topup lines = %v, want one not_sent with hold_until", top)
	}
	r.clock.Advance(59*time.Minute - 30*time.Second)
	r.check()
	r.wantTopUps("59 minutes after the 429: the hold ended early", 1)
	r.clock.Advance(time.Minute)
	r.check()
	r.wantTopUps("once the hour has passed", 2)
}
