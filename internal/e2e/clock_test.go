package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The clock test's timing: a credit that lags long enough for both steps
// and the checks after them to happen while the top-up is pending, and a
// window that outlasts it.
const (
	clockWindow      = 30 * time.Second
	clockCreditDelay = 15 * time.Second
	clockInterval    = time.Second // the world's TOPUP_SCHEDULE
	// clockTick bounds the gap between two checks: an interval, and the
	// jitter of a loaded machine.
	clockTick = clockInterval + 600*time.Millisecond
)

// TestClockSteps steps the binary's wall clock (TOPUP_TEST_CLOCK_FILE; the
// monotonic clock runs on) an hour forward and then an hour back while a
// top-up is pending and its credit lags. The watchdog must log "system
// clock stepped" with the step each time; must send no second top-up: the
// pending top-up's window keeps its length (measured before the forward
// step, it would look an hour old; measured after the backward one, an hour
// ahead); must check at every tick after the backward step (a scheduler
// that waits for a wall-clock time would wait an hour); and must confirm
// the top-up when its credit shows. between_checks steps the clock just
// after a check; during_a_check steps it while a check waits for a balance
// answer that the account holds until the watchdog gives up and asks again.
func TestClockSteps(t *testing.T) {
	t.Parallel()
	for _, during := range []bool{false, true} {
		name := "between_checks"
		if during {
			name = "during_a_check"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testClockSteps(t, during)
		})
	}
}

func testClockSteps(t *testing.T, during bool) {
	clockFile := filepath.Join(t.TempDir(), "clock")
	r := newWorld(t, worldOptions{
		account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: clockCreditDelay},
		env:     map[string]string{"TOPUP_WINDOW": clockWindow.String(), "TOPUP_TEST_CLOCK_FILE": clockFile},
	})
	p := r.start(nil)
	top := r.book.waitLines(t, waitLimit, p.n, "topup", 1)[0]
	if top.str("outcome") != "succeeded" {
		t.Fatalf("topup line %s, want succeeded", top.text)
	}
	id := top.str("intent_id")
	creditAt := r.acct.TopUps()[0].CreditAt

	// step writes the offset at the chosen moment and returns the line that
	// logged it, checking the step it logged.
	step := func(offset, want time.Duration) line {
		t.Helper()
		n := len(r.book.logs(p.n, "system clock stepped"))
		if during {
			if err := r.acct.Script(sim.EndpointBalance, sim.FaultNoAnswer); err != nil {
				t.Fatal(err)
			}
			r.waitAccount(waitLimit, "a balance read held", func(s sim.Stats) bool { return s.Hanging == 1 })
		} else {
			// Half an interval after a check's decision, when the schedule
			// waits for the next check. Nothing marks that wait; the
			// decision is the check's last line, but the check returns to
			// the schedule a moment after it, and a step in that moment
			// lands inside the check (during_a_check's case).
			k := len(r.book.logs(p.n, "decision"))
			r.book.waitLines(t, waitLimit, p.n, "decision", k+1)
			time.Sleep(clockInterval / 2)
		}
		writeClock(t, clockFile, offset)
		l := r.book.waitLines(t, waitLimit, p.n, "system clock stepped", n+1)[n]
		ms, _ := l.fields["step_ms"].(float64)
		if got := time.Duration(ms) * time.Millisecond; (got - want).Abs() > 5*time.Millisecond {
			t.Errorf("logged %s, want a step of %s", l.text, want)
		}
		if l.str("level") != "warn" {
			t.Errorf("the step was logged at level %q, want warn: %s", l.str("level"), l.text)
		}
		return l
	}
	// checksAfter waits for n checks after the line from, each within a
	// tick of the one before, and returns their decisions.
	checksAfter := func(from line, n int, what string) []line {
		t.Helper()
		var got []line
		last := from.at
		for len(got) < n {
			limit := time.Until(last.Add(clockTick))
			if len(got) == 0 && during {
				limit += 3 * clockInterval // the held read: a timeout, a backoff and the next attempt
			}
			var next *line
			r.book.waitFor(t, max(limit, 0)+time.Millisecond, fmt.Sprintf("check %d after %s (at most %s after the one before; "+
				"a schedule that waits for a wall-clock time computed before a backward step waits the step out)", len(got)+1, what, clockTick),
				func() bool {
					for _, d := range r.book.logs(p.n, "decision") {
						if d.at.After(last) {
							next = &d
							return true
						}
					}
					return false
				})
			got = append(got, *next)
			last = next.at
		}
		return got
	}
	holds := func(ds []line, when string) {
		t.Helper()
		for _, d := range ds {
			if d.str("action") != "blocked" || d.str("reason") != "window_open" {
				t.Errorf("decision %s: %s, want blocked/window_open: the pending top-up's window must keep its length", when, d.text)
			}
		}
	}

	fwd := step(time.Hour, time.Hour)
	holds(checksAfter(fwd, 2, "the forward step"), "after the forward step")
	back := step(0, -time.Hour)
	holds(checksAfter(back, 4, "the backward step"), "after the backward step")
	if time.Now().After(creditAt) {
		t.Fatalf("the steps took until after the credit at %s: the test proves nothing about the window", stamp(creditAt))
	}

	r.book.waitFor(t, clockCreditDelay+waitLimit, "the confirmation of "+id, func() bool {
		for _, l := range r.book.logs(p.n, "topup confirmed") {
			if l.str("intent_id") == id {
				return true
			}
		}
		return false
	})
	n := len(r.book.logs(p.n, "decision"))
	for _, d := range r.book.waitLines(t, waitLimit, p.n, "decision", n+2)[n:] {
		if d.str("action") != "none" {
			t.Errorf("decision after the credit: %s, want none/balance_ok", d.text)
		}
	}
	p.stop(t)
	if s := r.acct.Stats(); s.TopUpRequests != 1 || s.TopUpsApplied != 1 {
		t.Errorf("account saw %d top-up requests, %d applied; want exactly 1, applied", s.TopUpRequests, s.TopUpsApplied)
	}
	if n := len(r.book.logs(p.n, "system clock stepped")); n != 2 {
		t.Errorf("%d \"system clock stepped\" lines, want 2", n)
	}
	if n := len(r.book.logs(p.n, "ledger record dated ahead of the clock: counted as written now")); n != 0 {
		t.Errorf("%d records redated: the backward step left a record ahead of the clock, which moving the times by the step prevents", n)
	}
	// The two steps add up to none: the intent's time must be back on the
	// real clock, not an hour off either way.
	st := r.ledger()
	if rec := st.Find(id); rec == nil {
		t.Errorf("the ledger has no record %s", id)
	} else if off := time.Since(rec.At); off < 0 || off > time.Minute {
		t.Errorf("the intent %s is dated %s, %s from now: the steps were not undone in the ledger", id, stamp(rec.At), off)
	}
	t.Logf("decisions %v; skipped-check warnings %d", decisions(r.book.logs(p.n, "decision")),
		len(r.book.find(func(l line) bool { return l.proc == p.n && strings.HasPrefix(l.msg(), "check skipped") })))
}
