package watchdog_test

import (
	"slices"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The begin and end lines of the three states that need a person, as
// operators find them in the log (log.go).
const (
	msgAutoReloadOff       = "auto-reload is off on the account: no top-up will be sent until it is switched on in the Vonage dashboard"
	msgAutoReloadOn        = "auto-reload is on again: top-ups can be sent"
	msgCredentialsRejected = "vonage rejected the credentials: fix VONAGE_API_KEY/VONAGE_API_SECRET"
	msgCredentialsAccepted = "credentials accepted again"
	msgTopUpRejected       = "vonage rejected the top-up: no top-up will be sent until the rejection is older than TOPUP_WINDOW; see error for the cause"
	msgRejectionOver       = "top-ups allowed again: the rejection is older than the window"
)

var alarmMessages = []string{msgAutoReloadOff, msgAutoReloadOn, msgCredentialsRejected, msgCredentialsAccepted,
	msgTopUpRejected, msgRejectionOver}

// alarmLines returns "level msg" of every alarm line so far, in order, and
// loud the messages of the lines at warn and above other than the
// contract's per-check lines and the alarms: what else repeats a state.
func (r *world) alarmLines() (alarms, loud []string) {
	for _, m := range r.allLines() {
		msg, level := m["msg"].(string), m["level"].(string)
		switch {
		case slices.Contains(alarmMessages, msg):
			alarms = append(alarms, level+" "+msg)
		case level == "debug", level == "info", msg == "check failed", msg == "topup":
		default:
			loud = append(loud, msg)
		}
	}
	return alarms, loud
}

func wantAlarms(t *testing.T, r *world, want ...string) {
	t.Helper()
	alarms, loud := r.alarmLines()
	if !slices.Equal(alarms, want) {
		t.Errorf("alarm lines %q, want %q", alarms, want)
	}
	if len(loud) > 0 {
		t.Errorf("other lines at warn or above: %q", loud)
	}
}

func TestRejectedCredentialsAreLoggedOnceWhenTheyBeginAndOnceWhenTheyEnd(t *testing.T) {
	r := newWorld(t, defaultAccount())
	r.script(sim.EndpointBalance, slices.Repeat([]sim.Fault{sim.FaultRefuseAuth}, 5)...)
	r.every(time.Minute, 7)

	wantAlarms(t, r, "error "+msgCredentialsRejected, "info "+msgCredentialsAccepted)
	failed := r.lines("check failed")
	if len(failed) != 5 {
		t.Fatalf("%d check failed lines, want one a failed check", len(failed))
	}
	if begin := r.lines(msgCredentialsRejected)[0]; begin["op"] != "get balance" || begin["error"] != failed[0]["error"] {
		t.Errorf("begin line %v, want op %q and the error %q", begin, "get balance", failed[0]["error"])
	}
	// The end comes with the first good read, before its decision.
	all := r.allLines()
	end := slices.IndexFunc(all, func(m map[string]any) bool { return m["msg"] == msgCredentialsAccepted })
	first := slices.IndexFunc(all, func(m map[string]any) bool { return m["msg"] == "decision" })
	if end > first {
		t.Errorf("credentials accepted logged at line %d, after the first decision (%d)", end, first)
	}
}

func TestAutoReloadOffIsLoggedOnceWhenItBeginsAndOnceWhenItEnds(t *testing.T) {
	acct := defaultAccount()
	acct.Balance, acct.AutoReload = eur("5"), false
	r := newWorld(t, acct)
	r.every(time.Minute, 5)
	r.acct.SetAutoReload(true)
	r.every(time.Minute, 2) // a top-up, and its credit a minute later

	wantAlarms(t, r, "warn "+msgAutoReloadOff, "info "+msgAutoReloadOn)
	r.wantDecisions(append(times(5, "blocked/auto_reload_disabled"), "top_up/below_threshold", "none/balance_ok")...)
}

// A top-up answered "authentication failed" is both states: the credentials
// (until a read is accepted) and a rejection (for its window).
func TestATopUpWithRejectedCredentialsBeginsBothStates(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct)
	r.script(sim.EndpointTopUp, sim.FaultRefuseAuth)
	r.every(time.Minute, 3)

	wantAlarms(t, r, "error "+msgCredentialsRejected, "error "+msgTopUpRejected, "info "+msgCredentialsAccepted)
	if op := r.lines(msgCredentialsRejected)[0]["op"]; op != "top up" {
		t.Errorf("credentials rejected by %v, want %q", op, "top up")
	}
}

func TestNoAlarmWhenNoStateBegins(t *testing.T) {
	r := newWorld(t, defaultAccount())
	// A 503 on the first read of the first and of the seventh check.
	r.script(sim.EndpointBalance, slices.Concat([]sim.Fault{sim.FaultUnavailable},
		slices.Repeat([]sim.Fault{sim.FaultNone}, 6), []sim.Fault{sim.FaultUnavailable})...)
	r.every(time.Minute, 3)
	r.acct.SetBalance(eur("5")) // a top-up, its credit, and checks after it
	r.every(time.Minute, 4)
	r.script(sim.EndpointTopUp, sim.FaultServerError)
	r.acct.SetBalance(eur("5"))
	r.clock.Advance(15 * time.Minute)
	r.every(time.Minute, 2)

	wantAlarms(t, r)
	if s := r.acct.Stats(); s.TopUpRequests != 2 || s.BalanceRequests != 11 {
		t.Errorf("stats %+v, want 2 top-ups and 11 reads: the test should have covered two retried reads, a success and an unknown", s)
	}
}
