package watchdog

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

func TestDrainAcrossTheThresholdGetsExactlyOneTopUp(t *testing.T) {
	h := newHarness(t, "12")
	h.api.creditLater = true
	h.check()
	h.api.set("9.5")
	h.check()
	h.clock.Advance(30 * time.Second)
	h.check() // credit not yet visible: the window holds
	h.api.credit()
	h.clock.Advance(30 * time.Second)
	h.check()

	if got := h.api.sent(); got != 1 {
		t.Fatalf("sent %d top-ups, want 1", got)
	}
	want := []string{"none/balance_ok", "top_up/below_threshold", "blocked/window_open", "none/balance_ok"}
	if got := h.decisions(); !slices.Equal(got, want) {
		t.Errorf("decisions = %v, want %v", got, want)
	}
	if n := len(h.lines(msgTopUpConfirmed)); n != 1 {
		t.Errorf("%d confirmation lines, want 1", n)
	}
	top := h.lines(msgTopUp)[0].ContextMap()
	if top[fieldOutcome] != "succeeded" || top[fieldBalanceBefore] != "9.5" || top[fieldAttempts] != int64(1) {
		t.Errorf("topup line = %v", top)
	}
}

func TestAnAnswerLostAfterVonageAppliedItIsNeverResent(t *testing.T) {
	h := newHarness(t, "5")
	h.api.applyOnError, h.api.creditLater = true, true
	h.api.topUpErr = []error{vonageErr(vonage.KindTransport, 0, true)} // timeout after the write
	h.check()
	h.clock.Advance(time.Minute)
	h.check()
	h.api.credit()
	h.clock.Advance(time.Minute)
	h.check()

	if got := h.api.sent(); got != 1 {
		t.Fatalf("sent %d, want 1", got)
	}
	if top := h.lines(msgTopUp)[0].ContextMap(); top[fieldOutcome] != "unknown" {
		t.Errorf("outcome = %v, want unknown", top[fieldOutcome])
	}
	conf := h.lines(msgTopUpConfirmed)
	if len(conf) != 1 || conf[0].ContextMap()[fieldAfterMS] != int64(2*time.Minute/time.Millisecond) {
		t.Errorf("confirmations = %v", conf)
	}
}

func TestA500HoldsTheWindowThenTopsUpAgain(t *testing.T) {
	h := newHarness(t, "5")
	h.api.topUpErr = []error{vonageErr(vonage.KindServer, 500, true)}
	h.check()
	h.clock.Advance(14 * time.Minute)
	h.check()
	if got := h.api.sent(); got != 1 {
		t.Fatalf("sent %d inside the window, want 1", got)
	}
	h.clock.Advance(time.Minute)
	h.check()
	if got := h.api.sent(); got != 2 {
		t.Fatalf("sent %d after the window, want 2", got)
	}
	if n := len(h.lines(msgTopUpUnconfirmed)); n != 1 {
		t.Errorf("%d unconfirmed lines, want 1", n)
	}
}

func TestAttemptsThatNeverReachedVonageAreRetriedWithinTheCheck(t *testing.T) {
	h := newHarness(t, "5")
	h.api.topUpErr = []error{
		vonageErr(vonage.KindTransport, 0, false), // connection refused
		vonageErr(vonage.KindRateLimited, 429, true),
	}
	h.check()
	if got := h.api.sent(); got != 3 {
		t.Fatalf("%d attempts, want 3", got)
	}
	top := h.lines(msgTopUp)
	if len(top) != 1 || top[0].ContextMap()[fieldOutcome] != "succeeded" || top[0].ContextMap()[fieldAttempts] != int64(3) {
		t.Errorf("topup lines = %v", top)
	}
}

func TestEveryAttemptNotSentClosesTheIntentAsNotSent(t *testing.T) {
	h := newHarness(t, "5")
	refused := vonageErr(vonage.KindTransport, 0, false)
	h.api.topUpErr = []error{refused, refused, refused, refused, refused}
	h.check()
	st, _ := h.ledger.View(context.Background())
	if len(st.TopUps) != 1 || st.TopUps[0].Outcome != ledger.NotSent || st.TopUps[0].Attempts != 5 {
		t.Fatalf("ledger = %+v", st.TopUps)
	}
	h.clock.Advance(30 * time.Second)
	h.check() // not sent: neither the window nor the cap holds it back
	if got := h.api.sent(); got != 6 {
		t.Errorf("%d attempts, want 6", got)
	}
}

func TestRefillTowardTheTargetOneCreditAtATime(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) { o.Settings.Target = eur("120") })
	h.api.creditLater = true
	for range 8 {
		h.check()
		h.clock.Advance(30 * time.Second)
		h.check() // the window holds until the credit shows
		h.api.credit()
		h.clock.Advance(30 * time.Second)
	}
	if got := h.api.sent(); got != 3 {
		t.Fatalf("sent %d, want 3 (5 -> 55 -> 105 -> 155)", got)
	}
	want := []string{"top_up/below_threshold", "blocked/window_open", "top_up/refilling", "blocked/window_open",
		"top_up/refilling", "blocked/window_open", "none/balance_ok"}
	if got := h.decisions(); !slices.Equal(got[:7], want) {
		t.Errorf("decisions = %v, want %v", got[:7], want)
	}
}

func TestAutoReloadDisabledSendsNothing(t *testing.T) {
	h := newHarness(t, "5")
	h.api.autoReload = false
	h.check()
	if h.api.sent() != 0 || !slices.Equal(h.decisions(), []string{"blocked/auto_reload_disabled"}) {
		t.Errorf("sent %d, decisions %v", h.api.sent(), h.decisions())
	}
}

func TestWrongSecretNeverTopsUp(t *testing.T) {
	h := newHarness(t, "5")
	authErr := &vonage.Error{Op: "get balance", Kind: vonage.KindAuthFailed, Status: 401, Sent: true}
	h.api.balanceErr = []error{authErr, authErr, authErr}
	for range 3 {
		h.check()
	}
	if h.api.sent() != 0 {
		t.Fatal("a top-up was sent")
	}
	failed := h.lines(msgCheckFailed)
	if len(failed) != 3 || failed[0].ContextMap()[fieldAttempts] != int64(1) {
		t.Fatalf("check failed lines = %v", failed)
	}
	if failed[0].Level.String() != "error" || failed[1].Level.String() != "debug" {
		t.Errorf("a repeated identical failure should drop to debug: %v, %v", failed[0].Level, failed[1].Level)
	}
	ev := h.events[len(h.events)-1].(CheckFailed)
	if !ev.CredentialsRejected || ev.Consecutive != 3 {
		t.Errorf("last event = %+v", ev)
	}
	h.check()
	if n := len(h.lines(msgCheckRecovered)); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
}

func TestRetryableReadFailuresAreRetried(t *testing.T) {
	h := newHarness(t, "50")
	h.api.balanceErr = []error{
		&vonage.Error{Kind: vonage.KindServer, Status: 503, Sent: true},
		&vonage.Error{Kind: vonage.KindRateLimited, Status: 429, Sent: true},
		&vonage.Error{Kind: vonage.KindTransport},
	}
	h.check()
	if len(h.lines(msgCheckFailed)) != 0 || len(h.decisions()) != 1 {
		t.Errorf("failed %d, decided %d", len(h.lines(msgCheckFailed)), len(h.decisions()))
	}
}

func TestDailyCapUnderAFastDrain(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) { o.Settings.MaxPerDay = 2 })
	// Each credit shows, but the drain spends most of it before the next check.
	for _, bal := range []string{"5", "7", "9", "9", "9", "9"} {
		h.api.set(bal)
		h.check()
		h.clock.Advance(time.Minute)
	}
	if got := h.api.sent(); got != 2 {
		t.Fatalf("sent %d, want 2", got)
	}
	if d := h.decisions(); d[len(d)-1] != "blocked/daily_cap_reached" {
		t.Errorf("decisions = %v", d)
	}
}

func TestARestartHonoursTheWindowOfTheRunBefore(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater = true
	h.check()
	h.restart()
	h.clock.Advance(10 * time.Second)
	h.check()
	if got := h.api.sent(); got != 1 {
		t.Fatalf("sent %d, want 1", got)
	}
	if d := h.decisions(); !slices.Equal(d, []string{"blocked/window_open"}) {
		t.Errorf("decisions after restart = %v", d)
	}
}

func TestAnIntentLeftPendingByACrashHoldsTheWindow(t *testing.T) {
	h := newHarness(t, "5")
	at := h.clock.Now()
	h.ledger.seed(ledger.Record{ID: "crashed", At: at, BalanceBefore: eur("5"), Outcome: ledger.Pending})
	h.check()
	if h.api.sent() != 0 {
		t.Fatal("sent while a pending intent was inside its window")
	}
	h.clock.Advance(15 * time.Minute)
	h.check()
	if h.api.sent() != 1 {
		t.Fatal("a need was left without a top-up after the window")
	}
}

func TestDryRunDecidesAndSendsNothing(t *testing.T) {
	h := newHarness(t, "5", func(o *Options) { o.DryRun = true })
	h.check()
	h.check()
	if h.api.sent() != 0 {
		t.Fatal("dry run sent a top-up")
	}
	for _, e := range h.lines(msgDecision) {
		if m := e.ContextMap(); m[fieldDryRun] != true || m[fieldAction] != "top_up" {
			t.Errorf("decision = %v", m)
		}
	}
}

func TestNothingIsSentWhenTheIntentCannotBeWritten(t *testing.T) {
	h := newHarness(t, "5")
	h.ledger.failNext = errors.New("write ledger state.json: no space left on device")
	h.check()
	if h.api.sent() != 0 {
		t.Fatal("sent without a durable intent")
	}
	if n := len(h.lines(msgLedgerFailed)); n != 1 {
		t.Errorf("%d ledger lines, want 1", n)
	}
	if d := h.decisions(); len(d) != 1 || d[0] != "top_up/below_threshold" {
		t.Errorf("decisions = %v: the check read a balance, its decision is logged", d)
	}
	if m := h.lines(msgDecision)[0].ContextMap(); m[fieldWindowOpen] != false {
		t.Errorf("window_open = %v for an intent that was never written", m[fieldWindowOpen])
	}
	h.check()
	if h.api.sent() != 1 {
		t.Error("no top-up once the ledger could be written again")
	}
}

func TestAShutdownLetsTheTopUpInFlightFinish(t *testing.T) {
	h := newHarness(t, "5")
	ctx, cancel := context.WithCancel(context.Background())
	h.api.topUpErr = []error{nil}
	api := &cancellingVonage{fakeVonage: h.api, cancel: cancel}
	h.w.api = api
	h.w.Check(ctx)
	if !api.sawLiveContext {
		t.Error("the attempt in flight was cancelled with the shutdown")
	}
	st, _ := h.ledger.View(context.Background())
	if st.TopUps[0].Outcome != ledger.Succeeded {
		t.Errorf("outcome = %s, want succeeded recorded after the shutdown", st.TopUps[0].Outcome)
	}
}

// cancellingVonage cancels the run's context while a top-up is in flight.
type cancellingVonage struct {
	*fakeVonage
	cancel         context.CancelFunc
	sawLiveContext bool
}

func (c *cancellingVonage) TopUp(ctx context.Context) error {
	c.cancel()
	c.sawLiveContext = ctx.Err() == nil
	return c.fakeVonage.TopUp(ctx)
}

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		err  error
		want ledger.Outcome
	}{
		{nil, ledger.Succeeded},
		{vonageErr(vonage.KindAuthFailed, 401, true), ledger.Rejected},
		{vonageErr(vonage.KindAutoReloadDisabled, 401, true), ledger.Rejected},
		{vonageErr(vonage.KindClient, 400, true), ledger.Rejected},
		{vonageErr(vonage.KindRateLimited, 429, true), ledger.NotSent},
		{vonageErr(vonage.KindTransport, 0, false), ledger.NotSent},
		{vonageErr(vonage.KindTransport, 0, true), ledger.Unknown},
		{vonageErr(vonage.KindServer, 502, true), ledger.Unknown},
		{vonageErr(vonage.KindMalformed, 200, true), ledger.Unknown},
		{errors.New("not a vonage error"), ledger.Unknown},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.err); got != tt.want {
			t.Errorf("outcomeOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

func TestRetryAfterIsHonouredAndBounded(t *testing.T) {
	b := &honourRetryAfter{next: noWait(), max: time.Minute}
	b.wait = 2 * time.Second
	if d, stop := b.Next(); stop || d != 2*time.Second {
		t.Errorf("Next() = %v, %v; want 2s", d, stop)
	}
	if d, _ := b.Next(); d != time.Nanosecond {
		t.Errorf("Retry-After applied twice: %v", d)
	}
	b.wait = 2 * time.Minute
	if _, stop := b.Next(); !stop {
		t.Error("a Retry-After beyond the maximum should end the retries")
	}
}

func TestACreditAfterTheWindowConfirmsOnlyTheTopUpItLetThrough(t *testing.T) {
	h := newHarness(t, "5")
	h.api.creditLater = true
	h.api.topUpErr = []error{vonageErr(vonage.KindServer, 500, true)} // not applied
	h.check()
	h.clock.Advance(15 * time.Minute)
	h.check() // the first is marked unconfirmed, the second goes out
	h.api.credit()
	h.clock.Advance(time.Minute)
	h.check()

	conf := h.lines(msgTopUpConfirmed)
	if len(conf) != 1 || conf[0].ContextMap()[fieldIntentID] != "intent-2" {
		t.Fatalf("confirmations = %v, want intent-2 only", conf)
	}
	st, _ := h.ledger.View(context.Background())
	if st.TopUps[0].Confirmed() || !st.TopUps[0].Expired || !st.TopUps[1].Confirmed() {
		t.Errorf("ledger = %+v", st.TopUps)
	}
}
