package watchdog

// The defects of issue 8, one test each: every one of them failed on the
// code before the fix (the figures are in the README's Guarantees table).

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// lastDecision is "action/reason" of the newest decision line.
func (h *harness) lastDecision() string {
	d := h.decisions()
	if len(d) == 0 {
		return ""
	}
	return d[len(d)-1]
}

// wantSent fails the test unless the account received n top-up requests.
func (h *harness) wantSent(when string, n int) {
	h.t.Helper()
	if got := h.api.sent(); got != n {
		h.t.Fatalf("%s: the account received %d top-up requests, want %d; decisions %v", when, got, n, h.decisions())
	}
}

// wantDecision fails the test unless the newest decision is want.
func (h *harness) wantDecision(when, want string) {
	h.t.Helper()
	if got := h.lastDecision(); got != want {
		h.t.Fatalf("%s: decision %s, want %s; all %v", when, got, want, h.decisions())
	}
}

// Case 2: a process paused between its claim and its request (SIGSTOP, a
// frozen VM, a slow fsync) for longer than the window used to send the
// request late, and the next check, finding the window over, sent a second.
func TestAnIntentPausedPastAQuarterOfTheWindowIsNotSent(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater = true
	paused := false
	h.opts.CrashPoint = func(p string) {
		if p == CrashAfterIntent && !paused {
			paused = true
			h.clock.Advance(20 * time.Minute) // stopped for longer than the window
		}
	}
	h.restart()

	h.check()
	h.wantSent("after the paused check", 0)
	top := h.lines(msgTopUp)
	if len(top) != 1 || top[0].ContextMap()[fieldOutcome] != string(ledger.NotSent) || top[0].ContextMap()[fieldAttempts] != int64(0) {
		t.Fatalf("topup lines %v, want one not_sent with 0 attempts", top)
	}
	if n := len(h.lines(msgIntentTooOld)); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgIntentTooOld)
	}

	h.clock.Advance(30 * time.Second)
	h.check()
	h.wantSent("at the next check", 1)
	h.clock.Advance(30 * time.Second)
	h.check()
	h.wantSent("while the credit lags", 1)
	h.wantDecision("while the credit lags", "blocked/window_open")
}

// Case 2: the window counts from the end of the request's last attempt. A
// request that was in flight for ten minutes (paused while in flight) and
// came back without an answer holds its window for fifteen minutes more,
// not five.
func TestTheWindowCountsFromTheEndOfTheLastAttempt(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater, h.api.applyOnError = true, true
	h.api.topUpErr = []error{vonageErr(vonage.KindServer, 503, true)}
	h.api.during = func() { h.clock.Advance(10 * time.Minute); h.api.during = nil }

	h.check()
	h.wantSent("after the slow request", 1)
	h.clock.Advance(6 * time.Minute) // 16 minutes after the intent, 6 after the answer
	h.check()
	h.wantSent("6 minutes after the answer", 1)
	h.wantDecision("6 minutes after the answer", "blocked/window_open")
	h.clock.Advance(9 * time.Minute)
	h.check()
	h.wantSent("15 minutes after the answer", 2)
}

// Case 3: a step of the system clock forward by more than the window, while
// a credit lags, used to end the window at once and let a second top-up
// through.
func TestAForwardClockStepDoesNotEndTheWindow(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater = true
	h.check()
	h.wantSent("first check", 1)

	h.clock.Advance(time.Minute)
	h.clock.Step(time.Hour)
	h.check()
	h.wantSent("after a step of +1h", 1)
	h.wantDecision("after a step of +1h", "blocked/window_open")
	steps := h.lines(msgClockStepped)
	if len(steps) != 1 || steps[0].ContextMap()[fieldStepMS] != int64(time.Hour/time.Millisecond) {
		t.Errorf("clock lines %v, want one with step_ms 3600000", steps)
	}

	h.clock.Advance(14 * time.Minute) // the window ends 15 minutes after the request, as without the step
	h.check()
	h.wantSent("15 minutes after the request", 2)
	if n := len(h.lines(msgClockStepped)); n != 1 {
		t.Errorf("%d clock step lines, want 1: no step since", n)
	}
}

// Case 3: a step back used to hold the window (and the cap) for the length
// of the step besides: a record dated after now counted as younger than any
// window.
func TestABackwardClockStepDoesNotLengthenTheWindow(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater = true
	h.check()
	h.wantSent("first check", 1)

	h.clock.Step(-time.Hour)
	h.clock.Advance(14 * time.Minute)
	h.check()
	h.wantDecision("14 minutes after the request", "blocked/window_open")
	h.clock.Advance(time.Minute)
	h.check()
	h.wantSent("15 minutes after the request, an hour back on the wall clock", 2)
	h.wantDecision("15 minutes after the request", "top_up/below_threshold")
}

// Case 3: a record dated ahead of now (written while the clock was ahead, and
// the process restarted since) used to block top-ups until its date and was
// never confirmed or pruned.
func TestARecordDatedAheadHoldsOneWindowAtMost(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater = true
	ahead := h.clock.Now().Add(6 * time.Hour)
	h.ledger.seed(ledger.Record{ID: "ahead", At: ahead, BalanceBefore: eur("5"),
		Outcome: ledger.Succeeded, FinishedAt: ahead.Add(time.Second)})
	h.check()
	h.wantSent("first check", 0)
	h.wantDecision("first check", "blocked/window_open")
	if n := len(h.lines(msgRecordAhead)); n != 1 {
		t.Errorf("%d %q lines, want 1", n, msgRecordAhead)
	}
	h.clock.Advance(15 * time.Minute)
	h.check()
	h.wantSent("a window later", 1)
}

// Case 3: a redated record is confirmed by its credit like any other.
func TestARecordDatedAheadIsConfirmedByItsCredit(t *testing.T) {
	h := newHarness(t, "5")
	ahead := h.clock.Now().Add(6 * time.Hour)
	h.ledger.seed(ledger.Record{ID: "ahead", At: ahead, BalanceBefore: eur("5"), Outcome: ledger.Succeeded})
	h.api.set("55")
	h.check()
	if conf := h.lines(msgTopUpConfirmed); len(conf) != 1 || conf[0].ContextMap()[fieldIntentID] != "ahead" {
		t.Fatalf("confirmations %v, want the record dated ahead", conf)
	}
}

// Case 3: the schedule keeps checking across a backward step of the clock.
// robfig/cron waits for the next run by comparing wall-clock times, so a
// step back of an hour stopped every check for an hour.
func TestRunKeepsCheckingAcrossAClockStep(t *testing.T) {
	h := newHarness(t, "50")
	checks := make(chan struct{}, 16)
	h.opts.After = h.clock.After
	h.opts.Observer = ObserverFunc(func(e Event) {
		if _, ok := e.(Decided); ok {
			checks <- struct{}{}
		}
	})
	w := New(h.api, h.ledger, h.opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, every(time.Second), time.Second) }()

	<-checks // the first check, at once
	for _, step := range []time.Duration{-time.Hour, 0, time.Hour, -24 * time.Hour} {
		h.waitForTimer()
		h.clock.Step(step)
		h.clock.Advance(time.Second)
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
func (h *harness) waitForTimer() {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for h.clock.Waiters() == 0 {
		if time.Now().After(deadline) {
			h.t.Fatal("the schedule never waited on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitLimit bounds every wait of these tests on real time.
const waitLimit = 20 * time.Second

// Case 4: a refund of a few cents landing while a credit lags used to
// confirm the pending top-up, and a second one went out at once.
func TestARefundDoesNotConfirmATopUp(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) { o.Amount = eur("50") })
	h.api.creditLater = true
	h.check()
	h.wantSent("first check", 1)

	h.api.set("5.05") // a refund of 0.05
	h.clock.Advance(30 * time.Second)
	h.check()
	h.wantSent("after the refund", 1)
	h.wantDecision("after the refund", "blocked/window_open")
	if n := len(h.lines(msgTopUpConfirmed)); n != 0 {
		t.Errorf("%d confirmations after a refund of 0.05, want 0", n)
	}

	h.api.credit()
	h.clock.Advance(30 * time.Second)
	h.check()
	if n := len(h.lines(msgTopUpConfirmed)); n != 1 {
		t.Errorf("%d confirmations after the credit, want 1", n)
	}
}

// Case 4: a refill to 120 by top-ups of 50 takes three, also when a refund
// lands before each credit.
func TestARefillWithRefundsTakesOneTopUpPerStep(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) {
		o.Amount = eur("50")
		o.Settings.Target = eur("120")
	})
	h.api.creditLater = true
	for range 20 {
		h.check()
		h.clock.Advance(30 * time.Second)
		h.api.mu.Lock()
		h.api.balance = h.api.balance.Add(eur("0.05")) // a refund
		h.api.mu.Unlock()
		h.check()
		h.clock.Advance(30 * time.Second)
		h.api.credit()
	}
	h.wantSent("once the refill is over", 3)
	h.wantDecision("once the refill is over", "none/balance_ok")
}

// Case 5: a 429 with Retry-After: 3600 was honoured only inside one check:
// at one check a second the next check sent again.
func TestARetryAfterHoldsTopUpsAcrossChecks(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater = true
	limited := &vonage.Error{Op: vonage.OpTopUp, Kind: vonage.KindRateLimited, Status: 429, Sent: true,
		RetryAfter: time.Hour, Err: errors.New("rate limited")}
	for range 40 { // Vonage would answer every request so
		h.api.topUpErr = append(h.api.topUpErr, limited)
	}

	h.check()
	h.wantSent("first check", 1)
	top := h.lines(msgTopUp)[0].ContextMap()
	if top[fieldOutcome] != string(ledger.NotSent) || top[fieldHoldUntil] == nil {
		t.Fatalf("topup line %v, want not_sent with hold_until", top)
	}
	for range 30 {
		h.clock.Advance(time.Second)
		h.check()
	}
	h.wantSent("30 checks later", 1)
	h.wantDecision("30 checks later", "blocked/rate_limited")

	h.api.mu.Lock()
	h.api.topUpErr = nil
	h.api.mu.Unlock()
	h.clock.Advance(time.Hour - 30*time.Second)
	h.check()
	h.wantSent("an hour later", 2)
}

// Case 5: top-ups that end not sent (Vonage out of reach) back off from
// check to check instead of going out at every one.
func TestRepeatedNotSentTopUpsBackOff(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) { o.Settings.Backoff = 30 * time.Second })
	refused := vonageErr(vonage.KindTransport, 0, false)
	for range 5000 {
		h.api.topUpErr = append(h.api.topUpErr, refused)
	}
	for range 600 { // ten minutes at one check a second
		h.check()
		h.clock.Advance(time.Second)
	}
	// Top-ups at 0s and 1s, then after holds of 30s, 60s, 120s, 240s and
	// 300s: at most 7 top-ups of 5 attempts each.
	t.Logf("ten minutes of not-sent top-ups at one check a second: %d attempts", h.api.sent())
	if got := h.api.sent(); got > 7*5 {
		t.Errorf("%d top-up attempts in ten minutes, want at most %d", got, 7*5)
	}
	if !slices.Contains(h.decisions(), "blocked/backing_off") {
		t.Errorf("no backing_off decision in %d", len(h.decisions()))
	}
}

// Case 5: the ledger stays bounded whatever the answers: two thousand
// checks answered 429 without Retry-After, no back-off.
func TestTheLedgerStaysBoundedWhateverTheAnswers(t *testing.T) {
	h := newHarness(t, "5")
	limited := vonageErr(vonage.KindRateLimited, 429, true)
	for range 2000 * 5 {
		h.api.topUpErr = append(h.api.topUpErr, limited)
	}
	for range 2000 {
		h.check()
		h.clock.Advance(time.Second)
	}
	// KeepUnsent finished ones, and the intent of the last check, pruned
	// with them before its outcome was known.
	n := len(h.ledger.state().TopUps)
	if n > ledger.KeepUnsent+1 {
		t.Errorf("the ledger holds %d records after 2000 unsent top-ups, want at most %d", n, ledger.KeepUnsent+1)
	}
	data, err := json.Marshal(h.ledger.state())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after 2000 checks answered 429: %d records, %d bytes of ledger", n, len(data))
	if got := h.api.sent(); got != 2000*5 {
		t.Fatalf("the account saw %d attempts, want %d: the test did not run what it says", got, 2000*5)
	}
}

// The window of a top-up whose end is not known counts from the latest its
// request can have ended.
func TestAnUnfinishedTopUpHoldsItsWindowFromItsLatestEnd(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) { o.Settings.Flight = 5 * time.Minute })
	at := h.clock.Now()
	h.ledger.seed(ledger.Record{ID: "crashed", At: at, BalanceBefore: eur("5"), Outcome: ledger.Pending})
	h.clock.Advance(19 * time.Minute)
	h.check()
	h.wantDecision("19 minutes after the intent", "blocked/window_open")
	h.clock.Advance(time.Minute)
	h.check()
	h.wantSent("20 minutes after the intent", 1)
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
func TestRunKeepsCheckingAcrossAStepDuringACheck(t *testing.T) {
	for _, step := range []time.Duration{-time.Hour, time.Hour} {
		h := newHarness(t, "50")
		api := &stepDuringRead{fakeVonage: h.api, clock: h.clock, step: step, calls: make(chan struct{}, 64)}
		h.opts.After = h.clock.After
		w := New(api, h.ledger, h.opts)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, every(30*time.Second), time.Second) }()
		<-api.calls // the first check, with the step inside
		for i := range 10 {
			h.waitForTimer()
			h.clock.Advance(28 * time.Second) // 30s after the first check began
			if i > 0 {
				h.clock.Advance(2 * time.Second)
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
func TestARequestFrozenForTwoDaysKeepsItsWindow(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater, h.api.applyOnError = true, true
	h.api.topUpErr = []error{vonageErr(vonage.KindTransport, 0, true)}
	h.api.during = func() { h.clock.Advance(49 * time.Hour); h.api.during = nil }
	h.check()
	h.wantSent("after the frozen request", 1)
	for range 2 {
		h.clock.Advance(30 * time.Second)
		h.check()
	}
	h.wantSent("a minute after the frozen request ended", 1)
	h.wantDecision("a minute after the frozen request ended", "blocked/window_open")
}

// Case 3, found by review: a step of the wall clock made while no watchdog
// ran (down, or killed before it wrote the step it saw) went unseen, and a
// forward one ended a lagging credit's window at once. The ledger's clock
// mark ties its times to the monotonic clock of the boot, so the next
// process finds the step and moves the times by it.
func TestAStepWhileNoWatchdogRanIsFoundByTheClockMark(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) { o.BootID = "boot-1" })
	h.api.creditLater = true
	h.check()
	h.wantSent("first check", 1)
	mark := h.ledger.state().Clock
	if mark == nil || mark.BootID != "boot-1" {
		t.Fatalf("clock mark %+v after the first check, want one of boot-1", mark)
	}
	for range 3 { // checks that change nothing leave the mark as it was: no write
		h.clock.Advance(10 * time.Second)
		h.check()
	}
	if *h.ledger.state().Clock != *mark {
		t.Errorf("clock mark moved from %+v to %+v without a step", mark, h.ledger.state().Clock)
	}

	h.clock.Step(time.Hour) // while the watchdog is down
	h.clock.Advance(30 * time.Second)
	h.restart()
	h.check()
	h.wantSent("after a restart an hour ahead", 1)
	h.wantDecision("after a restart an hour ahead", "blocked/window_open")
	unseen := h.lines(msgClockSteppedUnseen)
	if len(unseen) != 1 || unseen[0].ContextMap()[fieldStepMS] != int64(time.Hour/time.Millisecond) {
		t.Fatalf("lines %v, want one %q with step_ms 3600000", unseen, msgClockSteppedUnseen)
	}
	h.clock.Advance(14 * time.Minute) // 15 minutes after the request, as without the step
	h.check()
	h.wantSent("15 minutes after the request", 2)
}

// Without a boot id, or with a mark of another boot, a step made while no
// watchdog ran cannot be told from time that passed: nothing moves.
func TestAClockMarkOfAnotherBootMovesNothing(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) { o.BootID = "boot-1" })
	h.api.creditLater = true
	h.check()
	h.clock.Step(-time.Hour)
	h.opts.BootID = "boot-2"
	h.restart()
	h.check()
	if n := len(h.lines(msgClockSteppedUnseen)); n != 0 {
		t.Errorf("%d unseen steps found across boots, want 0", n)
	}
	if m := h.ledger.state().Clock; m == nil || m.BootID != "boot-2" {
		t.Errorf("clock mark %+v, want it rewritten for boot-2", m)
	}
}
