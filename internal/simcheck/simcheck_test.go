package simcheck

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const window = 15 * time.Minute

func at(d time.Duration) time.Time { return t0.Add(d) }

// applied is a top-up the account applied and credits after two minutes.
func applied(seq int, d time.Duration) sim.TopUp {
	return sim.TopUp{Seq: seq, ReceivedAt: at(d), Applied: true, Result: sim.ResultApplied, Status: http.StatusOK,
		CreditAt: at(d + 2*time.Minute)}
}

func answered(seq int, d time.Duration, status int, f sim.Fault) sim.TopUp {
	return sim.TopUp{Seq: seq, ReceivedAt: at(d), Result: sim.ResultAuthFailed, Status: status, Fault: f}
}

func intent(id string, d time.Duration, o ledger.Outcome) Intent {
	return Intent{ID: id, At: at(d), Outcome: o, WindowEnd: at(d + window)}
}

// check runs every check on a run, the way the month does (every answer
// whole, a cap of 2) or the storm does.
func check(tops []sim.TopUp, intents []Intent, whole bool) []Violation {
	r, vs := New(tops, intents)
	vs = append(vs, r.NoResend()...)
	vs = append(vs, r.Outcomes(whole)...)
	vs = append(vs, r.NoDouble()...)
	_, _, capped := r.Cap(2)
	vs = append(vs, capped...)
	_, led := r.LedgerCap(2)
	return append(vs, led...)
}

// Each invariant bites on a run that breaks it, and only there: the clean
// runs, one with a 429 retried and a window ended before a second top-up,
// break none.
func TestEachInvariantBitesOnARunThatBreaksIt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tops    []sim.TopUp
		intents []Intent
		whole   bool
		want    []string // the violations' starts, in order; none for a clean run
	}{
		{"clean", []sim.TopUp{answered(1, 0, 429, sim.FaultRateLimit), applied(2, time.Second), applied(3, 16*time.Minute)},
			[]Intent{intent("a", 0, ledger.Succeeded), intent("b", 16*time.Minute, ledger.Succeeded)}, true, nil},
		{"clean, answers lost", []sim.TopUp{applied(1, 0)}, []Intent{intent("a", 0, ledger.Unknown), intent("b", 20*time.Minute, ledger.Unknown)}, false, nil},
		{"request before its intent", []sim.TopUp{applied(1, 0)}, []Intent{intent("a", time.Second, ledger.Pending)}, true,
			[]string{"intent first: top-up #1 reached the account at 2026-03-01 12:00:00.000 with no intent"}},
		{"re-sent after a 500", []sim.TopUp{answered(1, 0, 500, sim.FaultServerError), applied(2, time.Second)},
			[]Intent{intent("a", 0, ledger.Succeeded)}, true, []string{"re-sent: intent a sent again (#2"}},
		{"re-sent after a rejection", []sim.TopUp{answered(1, 0, 401, sim.FaultRefuseAuth), answered(2, time.Second, 401, sim.FaultNone)},
			[]Intent{intent("a", 0, ledger.Rejected)}, true, []string{"re-sent: intent a sent again (#2"}},
		{"not_sent, but it reached", []sim.TopUp{answered(1, 0, 500, sim.FaultServerError)}, []Intent{intent("a", 0, ledger.NotSent)}, false,
			[]string{"outcome: intent a was recorded not_sent, but its top-up #1"}},
		{"succeeded on a 500", []sim.TopUp{answered(1, 0, 500, sim.FaultAppliedServerError)}, []Intent{intent("a", 0, ledger.Succeeded)}, false,
			[]string{"outcome: intent a was recorded succeeded; the account answered its top-up #1 at 2026-03-01 12:00:00.000 with 500 (fault \"applied_server_error\"), which is unknown"}},
		{"unknown on a 401, every answer whole", []sim.TopUp{answered(1, 0, 401, sim.FaultRefuseAuth)}, []Intent{intent("a", 0, ledger.Unknown)}, true,
			[]string{"outcome: intent a was recorded unknown; the account answered its top-up #1 at 2026-03-01 12:00:00.000 with 401 (fault \"refuse_auth\"), which is rejected"}},
		{"succeeded with no request", nil, []Intent{intent("a", 0, ledger.Succeeded)}, false,
			[]string{"outcome: intent a was recorded succeeded, and no request of it reached the account"}},
		{"a second top-up inside the window", []sim.TopUp{applied(1, 0), applied(2, time.Minute)},
			[]Intent{intent("a", 0, ledger.Succeeded), intent("b", time.Minute, ledger.Succeeded)}, true,
			[]string{"window: top-up #2 reached the account at 2026-03-01 12:01:00.000 while #1 (received 2026-03-01 12:00:00.000) was applied, uncredited until 2026-03-01 12:02:00.000"}},
		{"over the cap at the account", []sim.TopUp{applied(1, 0), answered(2, time.Hour, 500, sim.FaultServerError), applied(3, 23*time.Hour)},
			[]Intent{intent("a", 0, ledger.Succeeded), intent("b", time.Hour, ledger.Unknown), intent("c", 23*time.Hour, ledger.Succeeded)}, true,
			[]string{"daily cap: 3 top-up requests that may have reached Vonage within the 24 hours to 2026-03-02 11:00:00.000, over the cap of 2",
				"daily cap: the watchdog recorded 3 top-ups that may have reached Vonage within the 24 hours to 2026-03-02 11:00:00.000"}},
		{"over the cap in the ledger", []sim.TopUp{applied(1, 0)},
			[]Intent{intent("a", 0, ledger.Succeeded), intent("b", time.Hour, ledger.Unknown), intent("c", 2*time.Hour, ledger.Pending)}, false,
			[]string{"daily cap: the watchdog recorded 3 top-ups that may have reached Vonage within the 24 hours to 2026-03-01 14:00:00.000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := check(tc.tops, tc.intents, tc.whole)
			ok := len(vs) == len(tc.want)
			for i := 0; ok && i < len(vs); i++ {
				ok = strings.HasPrefix(vs[i].String(), tc.want[i])
			}
			if !ok {
				t.Errorf("violations %q, want %d starting %q", vs, len(tc.want), tc.want)
			}
		})
	}
}

// The daily cap counts neither a 429 nor a rejection, and a day is 24
// hours: the cap of 2 holds for requests a day apart, and the cap is
// reached at the second of two within 24 hours.
func TestCapsCountWhatMayHaveReachedVonageInAnyDay(t *testing.T) {
	tops := []sim.TopUp{applied(1, 0), answered(2, time.Minute, 429, sim.FaultRateLimit), answered(3, 2*time.Minute, 401, sim.FaultRefuseAuth),
		applied(4, 24*time.Hour), applied(5, 25*time.Hour)}
	intents := []Intent{intent("a", 0, ledger.Succeeded), intent("b", time.Minute, ledger.NotSent), intent("c", 2*time.Minute, ledger.Rejected),
		intent("d", 24*time.Hour, ledger.Succeeded), intent("e", 25*time.Hour, ledger.Succeeded)}
	r, vs := New(tops, intents)
	most, mostApplied, capped := r.Cap(2)
	reached, led := r.LedgerCap(2)
	if vs = append(append(vs, capped...), led...); len(vs) > 0 {
		t.Errorf("violations: %v", vs)
	}
	if most != 2 || mostApplied != 2 || !reached.Equal(at(25*time.Hour)) {
		t.Errorf("most %d, applied %d, cap reached at %s; want 2, 2, %s", most, mostApplied, reached, at(25*time.Hour))
	}
}

// FromLedger counts a window from the end of the last attempt, or from the
// latest it can be when it was never written; Requests makes each request
// its own intent.
func TestWindowsStartAtTheLatestARequestCanEnd(t *testing.T) {
	got := FromLedger([]ledger.Record{
		{ID: "ended", At: at(0), FinishedAt: at(3 * time.Second), Outcome: ledger.Unknown},
		{ID: "died", At: at(time.Minute), Outcome: ledger.Pending},
	}, window, 5*time.Second)
	if !got[0].WindowEnd.Equal(at(3*time.Second+window)) || !got[1].WindowEnd.Equal(at(time.Minute+5*time.Second+window)) {
		t.Errorf("window ends %s and %s", got[0].WindowEnd, got[1].WindowEnd)
	}
	r := Requests([]sim.TopUp{applied(1, 0), applied(2, 0)}, window)
	if vs := r.NoDouble(); len(vs) != 1 || r.Owner[1] != 1 {
		t.Errorf("two requests at one instant, each its own intent: owners %v, violations %v", r.Owner, vs)
	}
}
