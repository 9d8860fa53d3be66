package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The crash tests' timing: a window the after_intent restart has to sit out,
// and a credit that lags well behind a restart but lands inside the window.
//
// A top-up's window counts from the end of its last attempt, and while that
// end is unknown (its process died with the intent pending) from the latest
// it can be: crashFlight after the intent, a quarter of the window (no
// attempt starts later) plus one TOPUP_REQUEST_TIMEOUT (the world's 1s: an
// attempt lasts no longer). TOPUP_WINDOW must be at least four timeouts:
// 5s holds 1s.
const (
	crashWindow      = 5 * time.Second
	crashTimeout     = time.Second // the world's TOPUP_REQUEST_TIMEOUT
	crashFlight      = crashWindow/4 + crashTimeout
	crashCreditDelay = 3 * time.Second
)

// The after_send_held run's configuration, for both of its processes. Its
// first process must still be waiting for the held answer when the test
// kills it, so its request timeout must outlast the test's reaction by far
// (a second, the world's, would race with the kill on a loaded machine); and
// TOPUP_WINDOW must be at least four timeouts. The restart under test runs
// the same configuration: its window (4m) only has to outlast the credit
// (3s), as the others' (5s) does.
const (
	heldTimeout = time.Minute
	heldWindow  = 4 * heldTimeout
)

// TestCrashPoints kills the binary (SIGKILL, from inside, through
// TOPUP_TEST_CRASH_AT) at each step of a top-up on an account below the
// threshold, restarts it on the same ledger without the hook, and checks
// that the account gets exactly one top-up: never a second for the same
// need, and still one when the crash left a need open and nothing sent.
// after_send_held reaches the after_send step from outside instead: the
// account applies the request and holds its answer, and the test kills the
// process while it waits.
func TestCrashPoints(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"before_intent", "after_intent", "after_send", "after_send_held", "after_answer"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			c := startCrash(t, point)
			switch point {
			case "before_intent":
				c.restartTopsUpAtOnce()
			case "after_intent":
				c.restartWaitsOutTheWindow()
			default:
				c.restartWaitsForTheCredit()
			}
			c.finish()
		})
	}
}

// crash is one crash point's run: the first process died at the point.
type crash struct {
	t      *testing.T
	r      *world
	point  string
	diedAt time.Time
	after  ledger.State // the ledger the crash left
	p      *proc        // the restarted process
}

func startCrash(t *testing.T, point string) *crash {
	held := point == "after_send_held"
	env := map[string]string{"TOPUP_WINDOW": crashWindow.String(), "TOPUP_REQUEST_TIMEOUT": crashTimeout.String()}
	if held {
		env = map[string]string{"TOPUP_WINDOW": heldWindow.String(), "TOPUP_REQUEST_TIMEOUT": heldTimeout.String()}
	}
	r := newWorld(t, worldOptions{
		account: sim.Config{
			Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: crashCreditDelay,
		},
		env: env,
		// A held answer ends when its client goes away; a detached one never
		// would.
		processEveryTopUp: !held,
	})
	var first *proc
	if held {
		// The same step from outside: the account applies the top-up and
		// holds its answer; the test kills the process while it waits.
		if err := r.acct.Script(sim.EndpointTopUp, sim.FaultAppliedNoAnswer); err != nil {
			t.Fatal(err)
		}
		first = r.start(nil)
		r.waitAccount(waitLimit, "the top-up held", func(s sim.Stats) bool { return s.Hanging == 1 })
		_ = first.cmd.Process.Signal(syscall.SIGKILL)
	} else {
		first = r.start(map[string]string{"TOPUP_TEST_CRASH_AT": point})
	}
	st := first.wait(t, waitLimit)
	c := &crash{t: t, r: r, point: point, diedAt: time.Now()}
	if sig, ok := signalOf(st); !ok || sig != syscall.SIGKILL {
		t.Fatalf("the process crashing at %s ended with %v, want signal: killed; output:\n%s", point, st, r.book.tail(20))
	}
	if n := len(r.book.logs(1, "topup")); n != 0 {
		t.Errorf("the crashed process logged %d topup lines, want none: it died before the outcome", n)
	}

	c.after = r.ledger()
	switch {
	case point == "before_intent" && len(c.after.TopUps) != 0:
		t.Fatalf("ledger after a crash before the intent holds %+v, want no record", c.after.TopUps)
	case point != "before_intent" && (len(c.after.TopUps) != 1 || c.after.TopUps[0].Outcome != ledger.Pending):
		t.Fatalf("ledger after a crash at %s holds %+v, want one pending intent", point, c.after.TopUps)
	}
	if point == "before_intent" || point == "after_intent" {
		if n := r.acct.Stats().TopUpRequests; n != 0 {
			t.Fatalf("%d top-up requests before the restart, want none: the crash came before the request", n)
		}
	} else {
		c.requestReachedTheAccount()
	}
	c.p = r.start(nil)
	return c
}

// requestReachedTheAccount checks that the request the crashed process
// wrote was applied by the account before the restart.
func (c *crash) requestReachedTheAccount() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.r.acct.Wait(ctx, func(s sim.Stats) bool { return s.TopUpsApplied == 1 })
	if err != nil && c.point == "after_send" {
		// net/http calls httptrace's WroteRequest from Request.write, before
		// persistConn.writeLoop flushes its bufio.Writer to the connection;
		// a process that dies in WroteRequest has sent nothing.
		c.t.Fatalf("the process died at %s=after_send, yet no top-up request reached the account "+
			"(stats %+v): the hook in cmd/topup-watchdog/crash.go fires in httptrace's WroteRequest, "+
			"which net/http calls before it flushes the request to the connection, so after_send "+
			"is after_intent in disguise", "TOPUP_TEST_CRASH_AT", c.r.acct.Stats())
	}
	if err != nil {
		c.t.Fatalf("no top-up applied at the account after a crash at %s: %v", c.point, err)
	}
	if tu := c.r.acct.TopUps()[0]; tu.ReceivedAt.Before(c.after.TopUps[0].At) {
		c.t.Errorf("the top-up reached the account at %s, before its intent at %s", tu.ReceivedAt, c.after.TopUps[0].At)
	}
}

// restartTopsUpAtOnce: nothing was durable and nothing was sent, so the
// restart tops up at its first check.
func (c *crash) restartTopsUpAtOnce() {
	top := c.r.book.waitLines(c.t, waitLimit, c.p.n, "topup", 1)[0]
	if top.str("outcome") != "succeeded" {
		c.t.Errorf("restart's topup line: %s, want outcome succeeded", top.text)
	}
	first := c.r.book.logs(c.p.n, "decision")[0]
	if first.str("action") != "top_up" || first.str("reason") != "below_threshold" {
		c.t.Errorf("restart's first decision: %s, want top_up/below_threshold", first.text)
	}
	c.confirmedThenQuiet(top.str("intent_id"))
}

// restartWaitsOutTheWindow: the intent is durable and nothing was sent, but
// the restart cannot know that: it must not send inside the window, and
// must top up once the window has passed without a credit. The intent has
// no outcome, so its window runs from the latest its request could have
// ended, crashFlight after it.
func (c *crash) restartWaitsOutTheWindow() {
	intent := c.after.TopUps[0]
	windowEnd := intent.At.Add(crashFlight + crashWindow)
	c.r.waitAccount(crashFlight+crashWindow+waitLimit, "the top-up after the window",
		func(s sim.Stats) bool { return s.TopUpRequests >= 1 })
	tu := c.r.acct.TopUps()[0]
	if tu.ReceivedAt.Before(windowEnd) {
		c.t.Errorf("the restart sent a top-up at %s, inside the window of the crashed intent (%s to %s)",
			tu.ReceivedAt.Format(time.StampMilli), intent.At.Format(time.StampMilli), windowEnd.Format(time.StampMilli))
	}
	c.heldUntil(windowEnd, "the end of the crashed intent's window")
	un := c.r.book.waitLines(c.t, waitLimit, c.p.n, "topup unconfirmed", 1)[0]
	if un.str("intent_id") != intent.ID {
		c.t.Errorf("topup unconfirmed line %s, want intent %s", un.text, intent.ID)
	}
	top := c.r.book.waitLines(c.t, waitLimit, c.p.n, "topup", 1)[0]
	if top.str("outcome") != "succeeded" || top.str("intent_id") == intent.ID {
		c.t.Errorf("restart's topup line: %s, want a new intent that succeeded", top.text)
	}
	c.confirmedThenQuiet(top.str("intent_id"))
	for _, l := range c.r.book.logs(c.p.n, "topup confirmed") {
		if l.str("intent_id") == intent.ID {
			c.t.Errorf("the new top-up's credit confirmed the crashed intent %s, whose window had ended: %s",
				intent.ID, l.text)
		}
	}
}

// heldUntil asserts that the restart decided at least once before until,
// and that every such decision was blocked by the open window.
func (c *crash) heldUntil(until time.Time, what string) {
	held := 0
	for _, d := range c.r.book.logs(c.p.n, "decision") {
		at, _ := time.Parse(time.RFC3339Nano, d.str("ts"))
		if !at.Before(until) {
			break
		}
		held++
		if d.str("action") != "blocked" || d.str("reason") != "window_open" {
			c.t.Errorf("decision before %s: %s, want blocked/window_open", what, d.text)
		}
	}
	if held == 0 {
		c.t.Errorf("no decision of the restart before %s at %s; decisions %v",
			what, until.Format(time.StampMilli), decisions(c.r.book.logs(c.p.n, "decision")))
	}
}

// restartWaitsForTheCredit: the request reached the account and its answer
// was lost (or never recorded): the restart holds the window, sends
// nothing, and confirms the top-up once its credit shows.
func (c *crash) restartWaitsForTheCredit() {
	intent := c.after.TopUps[0]
	creditAt := c.r.acct.TopUps()[0].CreditAt
	c.confirmedThenQuiet(intent.ID)
	c.heldUntil(creditAt, "the credit (it must lag)")
	if n := len(c.r.book.logs(c.p.n, "topup")); n != 0 {
		c.t.Errorf("the restart logged %d topup lines, want none", n)
	}
}

// confirmedThenQuiet waits for the confirmation of intent id, lets the
// restart run two more checks, and checks that the account got exactly one
// top-up request, applied.
func (c *crash) confirmedThenQuiet(id string) {
	c.r.book.waitFor(c.t, crashCreditDelay+waitLimit, "the confirmation of "+id, func() bool {
		for _, l := range c.r.book.logs(c.p.n, "topup confirmed") {
			if l.str("intent_id") == id {
				return true
			}
		}
		return false
	})
	n := len(c.r.book.logs(c.p.n, "decision"))
	after := c.r.book.waitLines(c.t, waitLimit, c.p.n, "decision", n+2)[n:]
	for _, d := range after {
		if d.str("action") != "none" || d.str("reason") != "balance_ok" {
			c.t.Errorf("decision after the credit: %s, want none/balance_ok", d.text)
		}
	}
	s := c.r.acct.Stats()
	if s.TopUpRequests != 1 || s.TopUpsApplied != 1 {
		c.t.Errorf("account saw %d top-up requests, %d applied; want exactly 1, applied", s.TopUpRequests, s.TopUpsApplied)
	}
	st := c.r.ledger()
	if r := st.Find(id); r == nil || !r.Confirmed() {
		c.t.Errorf("ledger record of %s: %+v, want it confirmed", id, r)
	}
}

// finish scrapes the restart's metrics for the sweep and stops it cleanly.
func (c *crash) finish() {
	c.r.waitScrape(c.p)
	c.p.stop(c.t)
	if c.r.sweep.Seen("notification") == 0 {
		c.t.Errorf("no notification reached the receiver: the sweep of notifications saw nothing")
	}
	c.t.Logf("crash at %s: died %s after start, %d top-up request(s), decisions of the restart %v",
		c.point, c.diedAt.Sub(c.r.procs[0].started).Round(time.Millisecond), c.r.acct.Stats().TopUpRequests,
		decisions(c.r.book.logs(c.p.n, "decision")))
}
