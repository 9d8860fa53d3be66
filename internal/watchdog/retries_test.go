package watchdog_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// retryLines returns "op attempt wait_ms" of each retry line so far, and
// their errors.
func (r *world) retryLines() (lines, errs []string) {
	for _, m := range r.lines("attempt failed, retrying") {
		lines = append(lines, fmt.Sprintf("%v %v %v", m["op"], m["attempt"], m["wait_ms"]))
		errs = append(errs, fmt.Sprint(m["error"]))
		if m["level"] != "debug" {
			r.t.Errorf("retry line at %v, want debug", m["level"])
		}
	}
	return lines, errs
}

// retriedEvents returns the same of each AttemptRetried event.
func (r *world) retriedEvents() (events, errs []string) {
	for _, e := range eventsOf[watchdog.AttemptRetried](r.allEvents()) {
		events = append(events, fmt.Sprintf("%s %d %d", e.Op, e.Attempt, e.Wait.Milliseconds()))
		errs = append(errs, e.Err.Error())
	}
	return events, errs
}

func TestEachRetriedAttemptIsLoggedAtDebugAndReported(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	acct.Faults.RetryAfter = 3 * time.Second
	// Dials 1 to 3 read the balance; dial 4, the first top-up attempt, is refused.
	r := newWorld(t, acct, func(o *worldOptions) { o.transport, o.recordWaits = refuseDial(t, 4), true })
	r.script(sim.EndpointBalance, sim.FaultUnavailable, sim.FaultRateLimit)
	r.script(sim.EndpointTopUp, sim.FaultRateLimit)
	r.check()

	want := []string{"get balance 1 1", "get balance 2 3000", "top up 1 1", "top up 2 3000"} // the backoff's 1ms, the Retry-After
	lines, lineErrs := r.retryLines()
	events, eventErrs := r.retriedEvents()
	if !slices.Equal(lines, want) || !slices.Equal(events, want) {
		t.Errorf("retry lines\n%q\nAttemptRetried events\n%q\nwant\n%q", lines, events, want)
	}
	if !slices.Equal(lineErrs, eventErrs) {
		t.Errorf("the lines' errors %q are not the events' %q", lineErrs, eventErrs)
	}
	for i, cause := range []string{"503", "429", "refused", "429"} {
		if i >= len(lineErrs) || !strings.Contains(lineErrs[i], cause) {
			t.Errorf("retry line %d: error %q, want the cause %q", i+1, lineErrs, cause)
		}
	}
	if w := r.recorded(); !slices.Equal(w, []time.Duration{time.Millisecond, 3 * time.Second, time.Millisecond, 3 * time.Second}) {
		t.Errorf("waits %v: the lines should say the waits slept", w)
	}
	if top := r.lines("topup"); len(top) != 1 || top[0]["attempts"] != 3.0 {
		t.Errorf("topup lines %v, want one of 3 attempts", top)
	}
}

// The last attempt is not retried: "check failed" says how the read ended,
// and a Retry-After longer than the maximum ends the retries at once.
func TestTheLastFailedAttemptIsNotLoggedAsRetried(t *testing.T) {
	acct := defaultAccount()
	acct.Faults.RetryAfter = time.Hour
	r := newWorld(t, acct, func(o *worldOptions) { o.recordWaits = true })
	r.script(sim.EndpointBalance, slices.Repeat([]sim.Fault{sim.FaultUnavailable}, 4)...) // every attempt of fastBackoff
	r.check()
	if lines, _ := r.retryLines(); len(lines) != 3 {
		t.Errorf("%d retry lines for 4 attempts, want 3", len(lines))
	}
	if f := r.lines("check failed"); len(f) != 1 || f[0]["attempts"] != 4.0 {
		t.Errorf("check failed lines %v, want one of 4 attempts", f)
	}

	r.script(sim.EndpointBalance, sim.FaultRateLimit)
	r.check()
	if lines, _ := r.retryLines(); len(lines) != 3 {
		t.Errorf("%d retry lines after a Retry-After of an hour, want still 3", len(lines))
	}
	if f := r.lines("check failed"); len(f) != 2 || f[1]["attempts"] != 1.0 {
		t.Errorf("check failed lines %v, want the second after 1 attempt", f)
	}
}

// At info, the retries are still reported to the observer, and no line is
// written.
func TestRetriesAtInfoWriteNoLine(t *testing.T) {
	r := newWorld(t, defaultAccount(), func(o *worldOptions) { o.infoLogs, o.recordWaits = true, true })
	r.script(sim.EndpointBalance, sim.FaultUnavailable)
	r.check()
	if lines, _ := r.retryLines(); len(lines) != 0 {
		t.Errorf("%d retry lines at info level, want none", len(lines))
	}
	if n := len(eventsOf[watchdog.AttemptRetried](r.allEvents())); n != 1 {
		t.Errorf("%d AttemptRetried events, want 1", n)
	}
	if n := len(r.lines("decision")); n != 1 {
		t.Errorf("%d decision lines at info level, want 1: the retried read read", n)
	}
}
