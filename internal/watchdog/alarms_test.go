package watchdog

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// The begin and end lines of the three states that need a person.
var alarmMessages = []string{msgAutoReloadOff, msgAutoReloadOn, msgCredentialsRejected, msgCredentialsAccepted,
	msgTopUpRejected, msgRejectionOver}

// alarmLines returns "level msg" of every alarm line so far, in order.
func (u *unit) alarmLines() []string {
	var out []string
	for _, e := range u.logs.All() {
		if slices.Contains(alarmMessages, e.Message) {
			out = append(out, e.Level.String()+" "+e.Message)
		}
	}
	return out
}

// loud returns the messages of the lines at warn and above other than the
// contract's per-check lines and the alarms: what else repeats a state.
func (u *unit) loud() []string {
	var out []string
	for _, e := range u.logs.All() {
		switch {
		case e.Level < zapcore.WarnLevel, slices.Contains(alarmMessages, e.Message):
		case e.Message == msgCheckFailed, e.Message == msgTopUp:
		default:
			out = append(out, e.Message)
		}
	}
	return out
}

func (u *unit) checks(n int, every time.Duration) {
	for range n {
		u.check()
		u.clock.Advance(every)
	}
}

func wantAlarms(t *testing.T, u *unit, want ...string) {
	t.Helper()
	if got := u.alarmLines(); !slices.Equal(got, want) {
		t.Errorf("alarm lines %q, want %q", got, want)
	}
	if loud := u.loud(); len(loud) > 0 {
		t.Errorf("other lines at warn or above: %q", loud)
	}
}

// A rejected top-up is an alarm for its window: once at its start, once at
// its end. Fakes: the simulated account answers no 400.
func TestARejectedTopUpIsLoggedOnceWhenItBeginsAndOnceWhenItsWindowEnds(t *testing.T) {
	u := newUnit(t, "5")
	rejected := vonageErr(vonage.KindClient, 400, true)
	u.api.topUpErr = []error{rejected}
	u.checks(5, time.Minute) // the rejection, then four checks inside its window
	u.clock.Advance(11 * time.Minute)
	u.checks(2, time.Minute)

	wantAlarms(t, u, "error "+msgTopUpRejected, "info "+msgRejectionOver)
	want := []string{"top_up/below_threshold", "blocked/recently_rejected", "blocked/recently_rejected",
		"blocked/recently_rejected", "blocked/recently_rejected", "top_up/below_threshold", "none/balance_ok"}
	if got := u.decisions(); !slices.Equal(got, want) {
		t.Errorf("decisions %v, want %v", got, want)
	}
	begin := u.lines(msgTopUpRejected)[0].ContextMap()
	until := u.clock.Now().Add(-7*time.Minute - 11*time.Minute + 15*time.Minute)
	if begin[fieldIntentID] != "intent-1" || begin[fieldError] != rejected.Error() || !until.Equal(begin[fieldUntil].(time.Time)) {
		t.Errorf("begin line %v, want intent-1, error %q, until %s", begin, rejected.Error(), until)
	}
}

// A restarted process in a state logs its begin line again at its first
// check: the rejection from the ledger, with the answer the ledger kept.
// Fakes: the simulated account answers no 400.
func TestARestartedProcessLogsTheRejectionItFindsInTheLedger(t *testing.T) {
	u := newUnit(t, "5")
	rejected := vonageErr(vonage.KindClient, 400, true)
	u.api.topUpErr = []error{rejected}
	u.checks(2, time.Minute)
	u.restart()
	u.checks(2, time.Minute)

	wantAlarms(t, u, "error "+msgTopUpRejected)
	if begin := u.lines(msgTopUpRejected)[0].ContextMap(); begin[fieldError] != rejected.Error() {
		t.Errorf("begin line after the restart %v, want the error %q the ledger kept", begin, rejected.Error())
	}
}

// A decision taken on this process's last view of the ledger (Redis down)
// does not know the latest outcome: it ends no rejection.
// Fakes: the ledger cannot be read.
func TestALedgerThatCannotBeReadEndsNoRejection(t *testing.T) {
	u := newUnit(t, "5")
	u.api.topUpErr = []error{vonageErr(vonage.KindClient, 400, true)}
	u.checks(1, time.Minute)
	u.w.ledger = downLedger{u.ledger.Memory}
	u.checks(2, time.Minute)

	if got := u.alarmLines(); !slices.Equal(got, []string{"error " + msgTopUpRejected}) {
		t.Errorf("alarm lines %q, want the rejection's begin only", got)
	}
}
