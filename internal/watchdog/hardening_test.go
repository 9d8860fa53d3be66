package watchdog

// The defects of issue 8, one test each: every one of them failed on the
// code before the fix (the figures are in the README's Guarantees table).

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// lastDecision is "action/reason" of the newest decision line.
func (u *unit) lastDecision() string {
	d := u.decisions()
	if len(d) == 0 {
		return ""
	}
	return d[len(d)-1]
}

// wantSent fails the test unless the account received n top-up requests.
func (u *unit) wantSent(when string, n int) {
	u.t.Helper()
	if got := u.api.sent(); got != n {
		u.t.Fatalf("%s: the account received %d top-up requests, want %d; decisions %v", when, got, n, u.decisions())
	}
}

// wantDecision fails the test unless the newest decision is want.
func (u *unit) wantDecision(when, want string) {
	u.t.Helper()
	if got := u.lastDecision(); got != want {
		u.t.Fatalf("%s: decision %s, want %s; all %v", when, got, want, u.decisions())
	}
}

// Case 2: a process paused between its claim and its request (SIGSTOP, a
// frozen VM, a slow fsync) for longer than the window used to send the
// request late, and the next check, finding the window over, sent a second.
// Fakes: the pause is a crash point (Options.CrashPoint).
func TestAnIntentPausedPastAQuarterOfTheWindowIsNotSent(t *testing.T) {
	u := newUnit(t, "5")
	u.api.creditLater = true
	paused := false
	u.opts.CrashPoint = func(p string) {
		if p == CrashAfterIntent && !paused {
			paused = true
			u.clock.Advance(20 * time.Minute) // stopped for longer than the window
		}
	}
	u.restart()

	u.check()
	u.wantSent("after the paused check", 0)
	top := u.lines(msgTopUp)
	if len(top) != 1 || top[0].ContextMap()[fieldOutcome] != string(ledger.NotSent) || top[0].ContextMap()[fieldAttempts] != int64(0) {
		t.Fatalf("topup lines %v, want one not_sent with 0 attempts", top)
	}
	if n := len(u.lines(msgIntentTooOld)); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgIntentTooOld)
	}

	u.clock.Advance(30 * time.Second)
	u.check()
	u.wantSent("at the next check", 1)
	u.clock.Advance(30 * time.Second)
	u.check()
	u.wantSent("while the credit lags", 1)
	u.wantDecision("while the credit lags", "blocked/window_open")
}

// Case 2: the window counts from the end of the request's last attempt. A
// request that was in flight for ten minutes (paused while in flight) and
// came back without an answer holds its window for fifteen minutes more,
// not five.
// Fakes: ten minutes pass on the test clock inside the call.
func TestTheWindowCountsFromTheEndOfTheLastAttempt(t *testing.T) {
	u := newUnit(t, "5")
	u.api.creditLater, u.api.applyOnError = true, true
	u.api.topUpErr = []error{vonageErr(vonage.KindServer, 503, true)}
	u.api.during = func() { u.clock.Advance(10 * time.Minute); u.api.during = nil }

	u.check()
	u.wantSent("after the slow request", 1)
	u.clock.Advance(6 * time.Minute) // 16 minutes after the intent, 6 after the answer
	u.check()
	u.wantSent("6 minutes after the answer", 1)
	u.wantDecision("6 minutes after the answer", "blocked/window_open")
	u.clock.Advance(9 * time.Minute)
	u.check()
	u.wantSent("15 minutes after the answer", 2)
}

// Case 3: a step of the system clock forward by more than the window, while
// a credit lags, used to end the window at once and let a second top-up
// through.
// Fakes: the simulated account runs on the stepped clock too.
func TestAForwardClockStepDoesNotEndTheWindow(t *testing.T) {
	u := newUnit(t, "5")
	u.api.creditLater = true
	u.check()
	u.wantSent("first check", 1)

	u.clock.Advance(time.Minute)
	u.clock.Step(time.Hour)
	u.check()
	u.wantSent("after a step of +1h", 1)
	u.wantDecision("after a step of +1h", "blocked/window_open")
	steps := u.lines(msgClockStepped)
	if len(steps) != 1 || steps[0].ContextMap()[fieldStepMS] != int64(time.Hour/time.Millisecond) {
		t.Errorf("clock lines %v, want one with step_ms 3600000", steps)
	}

	u.clock.Advance(14 * time.Minute) // the window ends 15 minutes after the request, as without the step
	u.check()
	u.wantSent("15 minutes after the request", 2)
	if n := len(u.lines(msgClockStepped)); n != 1 {
		t.Errorf("%d clock step lines, want 1: no step since", n)
	}
}

// Case 3: a step back used to hold the window (and the cap) for the length
// of the step besides: a record dated after now counted as younger than any
// window.
// Fakes: the simulated account runs on the stepped clock too.
func TestABackwardClockStepDoesNotLengthenTheWindow(t *testing.T) {
	u := newUnit(t, "5")
	u.api.creditLater = true
	u.check()
	u.wantSent("first check", 1)

	u.clock.Step(-time.Hour)
	u.clock.Advance(14 * time.Minute)
	u.check()
	u.wantDecision("14 minutes after the request", "blocked/window_open")
	u.clock.Advance(time.Minute)
	u.check()
	u.wantSent("15 minutes after the request, an hour back on the wall clock", 2)
	u.wantDecision("15 minutes after the request", "top_up/below_threshold")
}

// Case 3: a record dated ahead of now (written while the clock was ahead, and
// the process restarted since) used to block top-ups until its date and was
// never confirmed or pruned.
// Fakes: the record is seeded, as a process on a clock ahead wrote it.
func TestARecordDatedAheadHoldsOneWindowAtMost(t *testing.T) {
	u := newUnit(t, "5")
	u.api.creditLater = true
	ahead := u.clock.Now().Add(6 * time.Hour)
	u.ledger.seed(ledger.Record{ID: "ahead", At: ahead, BalanceBefore: eur("5"),
		Outcome: ledger.Succeeded, FinishedAt: ahead.Add(time.Second)})
	u.check()
	u.wantSent("first check", 0)
	u.wantDecision("first check", "blocked/window_open")
	if n := len(u.lines(msgRecordAhead)); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgRecordAhead)
	}
	u.clock.Advance(15 * time.Minute)
	u.check()
	u.wantSent("a window later", 1)
}

// Case 3: a redated record is confirmed by its credit like any other.
// Fakes: the record is seeded, as a process on a clock ahead wrote it.
func TestARecordDatedAheadIsConfirmedByItsCredit(t *testing.T) {
	u := newUnit(t, "5")
	ahead := u.clock.Now().Add(6 * time.Hour)
	u.ledger.seed(ledger.Record{ID: "ahead", At: ahead, BalanceBefore: eur("5"), Outcome: ledger.Succeeded})
	u.api.set("55")
	u.check()
	if conf := u.lines(msgTopUpConfirmed); len(conf) != 1 || conf[0].ContextMap()[fieldIntentID] != "ahead" {
		t.Fatalf("confirmations %v, want the record dated ahead", conf)
	}
}

// Case 3: the schedule keeps checking across a backward step of the clock.
// robfig/cron waits for the next run by comparing wall-clock times, so a
// step back of an hour stopped every check for an hour.
// Fakes: the simulated account runs on the stepped clock too.
func TestRunKeepsCheckingAcrossAClockStep(t *testing.T) {
	u := newUnit(t, "50")
	checks := make(chan struct{}, 16)
	u.opts.After = u.clock.After
	u.opts.Observer = ObserverFunc(func(e Event) {
		if _, ok := e.(Decided); ok {
			checks <- struct{}{}
		}
	})
	w := New(u.api, u.ledger, u.opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, every(time.Second), time.Second) }()

	<-checks // the first check, at once
	for _, step := range []time.Duration{-time.Hour, 0, time.Hour, -24 * time.Hour} {
		u.waitForTimer()
		u.clock.Step(step)
		u.clock.Advance(time.Second)
		select {
		case <-checks:
		case <-time.After(waitLimit):
			t.Fatalf("no check a second after a step of %s", step)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

// waitForTimer waits until something waits on the manual clock.
func (u *unit) waitForTimer() {
	u.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for u.clock.Waiters() == 0 {
		if time.Now().After(deadline) {
			u.t.Fatal("the schedule never waited on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitLimit bounds every wait of these tests on real time.
const waitLimit = 20 * time.Second

// Case 5: top-ups that end not sent (Vonage out of reach) back off from
// check to check instead of going out at every one.
// Fakes: 600 checks of 5 attempts, far slower over HTTP.
func TestRepeatedNotSentTopUpsBackOff(t *testing.T) {
	u := newUnit(t, "5", func(o *Options) { o.Settings.Backoff = 30 * time.Second })
	refused := vonageErr(vonage.KindTransport, 0, false)
	for range 5000 {
		u.api.topUpErr = append(u.api.topUpErr, refused)
	}
	for range 600 { // ten minutes at one check a second
		u.check()
		u.clock.Advance(time.Second)
	}
	// Top-ups at 0s and 1s, then after holds of 30s, 60s, 120s, 240s and
	// 300s: at most 7 top-ups of 5 attempts each.
	t.Logf("ten minutes of not-sent top-ups at one check a second: %d attempts", u.api.sent())
	if got := u.api.sent(); got > 7*5 {
		t.Errorf("%d top-up attempts in ten minutes, want at most %d", got, 7*5)
	}
	if !slices.Contains(u.decisions(), "blocked/backing_off") {
		t.Errorf("no backing_off decision in %d", len(u.decisions()))
	}
}

// Case 5: the ledger stays bounded whatever the answers: two thousand
// checks answered 429 without Retry-After, no back-off.
// Fakes: 2000 checks of 5 attempts, far slower over HTTP.
func TestTheLedgerStaysBoundedWhateverTheAnswers(t *testing.T) {
	u := newUnit(t, "5")
	limited := vonageErr(vonage.KindRateLimited, 429, true)
	for range 2000 * 5 {
		u.api.topUpErr = append(u.api.topUpErr, limited)
	}
	for range 2000 {
		u.check()
		u.clock.Advance(time.Second)
	}
	// KeepUnsent finished ones, and the intent of the last check, pruned
	// with them before its outcome was known.
	n := len(u.ledger.state().TopUps)
	if n > ledger.KeepUnsent+1 {
		t.Errorf("the ledger holds %d records after 2000 unsent top-ups, want at most %d", n, ledger.KeepUnsent+1)
	}
	data, err := json.Marshal(u.ledger.state())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after 2000 checks answered 429: %d records, %d bytes of ledger", n, len(data))
	if got := u.api.sent(); got != 2000*5 {
		t.Fatalf("the account saw %d attempts, want %d: the test did not run what it says", got, 2000*5)
	}
}

// The window of a top-up whose end is not known counts from the latest its
// request can have ended.
// Fakes: the pending intent is a crash's, seeded.
func TestAnUnfinishedTopUpHoldsItsWindowFromItsLatestEnd(t *testing.T) {
	u := newUnit(t, "5", func(o *Options) { o.Settings.Flight = 5 * time.Minute })
	at := u.clock.Now()
	u.ledger.seed(ledger.Record{ID: "crashed", At: at, BalanceBefore: eur("5"), Outcome: ledger.Pending})
	u.clock.Advance(19 * time.Minute)
	u.check()
	u.wantDecision("19 minutes after the intent", "blocked/window_open")
	u.clock.Advance(time.Minute)
	u.check()
	u.wantSent("20 minutes after the intent", 1)
}

// stepDuringRead steps the wall clock inside the first balance read: an NTP
// step landing while a check runs (a slow read, its retries, a top-up).
type stepDuringRead struct {
	*fakeVonage
	clock interface {
		Advance(time.Duration)
		Step(time.Duration)
	}
	step  time.Duration
	calls chan struct{}
	n     int
}

func (s *stepDuringRead) GetBalance(ctx context.Context) (vonage.Balance, error) {
	s.n++
	if s.n == 1 {
		s.clock.Advance(2 * time.Second) // the read takes a while
		s.clock.Step(s.step)
	}
	s.calls <- struct{}{}
	return s.fakeVonage.GetBalance(ctx)
}

// Case 3, found by review: a step back inside a check used to delay the
// next check by the step, since the loop took the check's length from the
// wall clock.
// Fakes: the clock steps inside the read.
func TestRunKeepsCheckingAcrossAStepDuringACheck(t *testing.T) {
	for _, step := range []time.Duration{-time.Hour, time.Hour} {
		u := newUnit(t, "50")
		api := &stepDuringRead{fakeVonage: u.api, clock: u.clock, step: step, calls: make(chan struct{}, 64)}
		u.opts.After = u.clock.After
		w := New(api, u.ledger, u.opts)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, every(30*time.Second), time.Second) }()
		<-api.calls // the first check, with the step inside
		for i := range 10 {
			u.waitForTimer()
			u.clock.Advance(28 * time.Second) // 30s after the first check began
			if i > 0 {
				u.clock.Advance(2 * time.Second)
			}
			select {
			case <-api.calls:
			case <-time.After(waitLimit):
				t.Fatalf("step %s: no check %d at its run time", step, i+2)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() = %v", err)
		}
	}
}

// Found by review: a process frozen for 49 hours while its request was in
// flight (CLOCK_BOOTTIME counts a suspend) ends it unknown; its window counts
// from that end, but Prune went by the intent's age and dropped the record at
// the next check, and a second top-up went out a minute later.
// Fakes: 49 hours pass on the test clock inside the call.
func TestARequestFrozenForTwoDaysKeepsItsWindow(t *testing.T) {
	u := newUnit(t, "5")
	u.api.creditLater, u.api.applyOnError = true, true
	u.api.topUpErr = []error{vonageErr(vonage.KindTransport, 0, true)}
	u.api.during = func() { u.clock.Advance(49 * time.Hour); u.api.during = nil }
	u.check()
	u.wantSent("after the frozen request", 1)
	for range 2 {
		u.clock.Advance(30 * time.Second)
		u.check()
	}
	u.wantSent("a minute after the frozen request ended", 1)
	u.wantDecision("a minute after the frozen request ended", "blocked/window_open")
}

// Case 3, found by review: a step of the wall clock made while no watchdog
// ran (down, or killed before it wrote the step it saw) went unseen, and a
// forward one ended a lagging credit's window at once. The ledger's clock
// mark ties its times to the monotonic clock of the boot, so the next
// process finds the step and moves the times by it.
// Fakes: a step of the wall clock apart from the monotonic one.
func TestAStepWhileNoWatchdogRanIsFoundByTheClockMark(t *testing.T) {
	u := newUnit(t, "5", func(o *Options) { o.BootID = "boot-1" })
	u.api.creditLater = true
	u.check()
	u.wantSent("first check", 1)
	mark := u.ledger.state().Clock
	if mark == nil || mark.BootID != "boot-1" {
		t.Fatalf("clock mark %+v after the first check, want one of boot-1", mark)
	}
	for range 3 { // checks that change nothing leave the mark as it was: no write
		u.clock.Advance(10 * time.Second)
		u.check()
	}
	if *u.ledger.state().Clock != *mark {
		t.Errorf("clock mark moved from %+v to %+v without a step", mark, u.ledger.state().Clock)
	}

	u.clock.Step(time.Hour) // while the watchdog is down
	u.clock.Advance(30 * time.Second)
	u.restart()
	u.check()
	u.wantSent("after a restart an hour ahead", 1)
	u.wantDecision("after a restart an hour ahead", "blocked/window_open")
	unseen := u.lines(msgClockSteppedUnseen)
	if len(unseen) != 1 || unseen[0].ContextMap()[fieldStepMS] != int64(time.Hour/time.Millisecond) {
		t.Fatalf("lines %v, want one %q with step_ms 3600000", unseen, msgClockSteppedUnseen)
	}
	u.clock.Advance(14 * time.Minute) // 15 minutes after the request, as without the step
	u.check()
	u.wantSent("15 minutes after the request", 2)
}

// Without a boot id, or with a mark of another boot, a step made while no
// watchdog ran cannot be told from time that passed: nothing moves.
// Fakes: a step of the wall clock apart from the monotonic one.
func TestAClockMarkOfAnotherBootMovesNothing(t *testing.T) {
	u := newUnit(t, "5", func(o *Options) { o.BootID = "boot-1" })
	u.api.creditLater = true
	u.check()
	u.clock.Step(-time.Hour)
	u.opts.BootID = "boot-2"
	u.restart()
	u.check()
	if n := len(u.lines(msgClockSteppedUnseen)); n != 0 {
		t.Errorf("%d unseen steps found across boots, want 0", n)
	}
	if m := u.ledger.state().Clock; m == nil || m.BootID != "boot-2" {
		t.Errorf("clock mark %+v, want it rewritten for boot-2", m)
	}
}
