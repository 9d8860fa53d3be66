package watchdog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// An intent a crash left pending holds its window, and only its window.
// Fakes: the pending intent is a crash's, seeded.
func TestAnIntentLeftPendingByACrashHoldsTheWindow(t *testing.T) {
	u := newUnit(t, "5")
	at := u.clock.Now()
	u.ledger.seed(ledger.Record{ID: "crashed", At: at, BalanceBefore: eur("5"), Outcome: ledger.Pending})
	u.check()
	if u.api.sent() != 0 {
		t.Fatal("sent while a pending intent was inside its window")
	}
	u.clock.Advance(15 * time.Minute)
	u.check()
	if u.api.sent() != 1 {
		t.Fatal("a need was left without a top-up after the window")
	}
}

// No top-up goes out without its intent written first; the decision is
// still logged. Fakes: the ledger write fails.
func TestNothingIsSentWhenTheIntentCannotBeWritten(t *testing.T) {
	u := newUnit(t, "5")
	u.ledger.failNext = errors.New("write ledger state.json: no space left on device")
	u.check()
	if u.api.sent() != 0 {
		t.Fatal("sent without a durable intent")
	}
	if n := len(u.lines(msgLedgerFailed)); n != 1 {
		t.Errorf("%d ledger lines, want 1", n)
	}
	if d := u.decisions(); len(d) != 1 || d[0] != "top_up/below_threshold" {
		t.Errorf("decisions = %v: the check read a balance, its decision is logged", d)
	}
	if m := u.lines(msgDecision)[0].ContextMap(); m[fieldWindowOpen] != false {
		t.Errorf("window_open = %v for an intent that was never written", m[fieldWindowOpen])
	}
	u.check()
	if u.api.sent() != 1 {
		t.Error("no top-up once the ledger could be written again")
	}
}

// A shutdown does not cancel the top-up in flight: its outcome is recorded.
// Fakes: the shutdown comes while the top-up is in the fake's hands.
func TestAShutdownLetsTheTopUpInFlightFinish(t *testing.T) {
	u := newUnit(t, "5")
	ctx, cancel := context.WithCancel(context.Background())
	u.api.topUpErr = []error{nil}
	api := &cancellingVonage{fakeVonage: u.api, cancel: cancel}
	u.w.api = api
	u.w.Check(ctx)
	if !api.sawLiveContext {
		t.Error("the attempt in flight was cancelled with the shutdown")
	}
	st, _ := u.ledger.View(context.Background())
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

// The README's table of top-up outcomes, one error kind at a time (some
// the simulated account never answers).
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
