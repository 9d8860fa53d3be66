package sim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

func TestDirectReadsAndTopsUpThroughTheModel(t *testing.T) {
	clock := newClock()
	acct := newAccount(t, testConfig(clock))
	d := acct.Direct()
	ctx := context.Background()

	bal, err := d.GetBalance(ctx)
	if err != nil || !bal.Value.Equal(dec("10.171275")) || !bal.AutoReload {
		t.Fatalf("GetBalance = %+v, %v; want 10.171275 with auto-reload", bal, err)
	}
	clock.Advance(5 * time.Second)
	if err := d.TopUp(ctx); err != nil {
		t.Fatalf("TopUp: %v", err)
	}
	tops := acct.TopUps()
	if len(tops) != 1 || !tops[0].Applied || tops[0].Status != http.StatusOK || tops[0].Auth != AuthDirect ||
		!tops[0].CreditAt.Equal(clock.Now().Add(90*time.Second)) || !tops[0].BalanceBefore.Equal(dec("10.171275")) {
		t.Fatalf("top-ups recorded: %+v", tops)
	}
	clock.Advance(90*time.Second - time.Nanosecond)
	wantBalance(t, acct, "10.171275")
	clock.Advance(time.Nanosecond)
	if bal, _ := d.GetBalance(ctx); !bal.Value.Equal(dec("30.171275")) {
		t.Errorf("balance at the credit's instant %s, want 30.171275", bal.Value)
	}
	s := acct.Stats()
	if s.BalanceRequests != 2 || s.TopUpRequests != 1 || s.TopUpsApplied != 1 || s.AuthBasic+s.AuthQuery+s.AuthFailures != 0 {
		t.Errorf("stats %+v", s)
	}
}

// With auto-reload off, a top-up is refused as the handler refuses it, and
// the error is the one the real client returns for that answer.
func TestDirectTopUpIsRefusedWithoutAutoReload(t *testing.T) {
	clock := newClock()
	acct := newAccount(t, testConfig(clock))
	acct.SetAutoReload(false)
	err := acct.Direct().TopUp(context.Background())
	e, ok := vonage.AsError(err)
	if !ok || e.Kind != vonage.KindAutoReloadDisabled || e.Status != http.StatusUnauthorized || !e.Sent || e.Op != vonage.OpTopUp {
		t.Fatalf("TopUp with auto-reload off: %#v", err)
	}
	if want := "vonage: top up: not auto-reload enabled (HTTP 401)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	tops := acct.TopUps()
	if len(tops) != 1 || tops[0].Applied || tops[0].Result != ResultAutoReloadDisabled || tops[0].Status != http.StatusUnauthorized {
		t.Fatalf("recorded %+v", tops)
	}
	if s := acct.Stats(); s.TopUpsRejected != 1 || s.TopUpsApplied != 0 {
		t.Errorf("stats %+v", s)
	}
	clock.Advance(time.Hour)
	wantBalance(t, acct, "10.171275")

	// The handler answers the same request the same way.
	w := record(acct, topUpRequest(t, "http://sim", good, testTRX, ""))
	if w.Code != http.StatusUnauthorized || acct.TopUps()[1].Result != ResultAutoReloadDisabled {
		t.Errorf("the handler answered %d %s", w.Code, w.Body)
	}
}

// The direct client applies no fault, random or scripted: the scripted ones
// stay queued for the handler.
func TestDirectAppliesNoFaults(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Faults = Faults{ServerError: 0.5, MalformedBody: 0.5}
	acct := newAccount(t, cfg)
	if err := acct.Script(EndpointTopUp, FaultResetAfterApply); err != nil {
		t.Fatal(err)
	}
	d := acct.Direct()
	for range 50 {
		if _, err := d.GetBalance(context.Background()); err != nil {
			t.Fatalf("GetBalance: %v", err)
		}
	}
	if err := d.TopUp(context.Background()); err != nil {
		t.Fatalf("TopUp: %v", err)
	}
	if n := acct.Scripted(EndpointTopUp); n != 1 {
		t.Errorf("%d scripted faults left, want 1", n)
	}
	if f := acct.Stats().Faults; len(f) != 0 {
		t.Errorf("faults counted: %v", f)
	}
}

func TestDirectFailsUnsentOnAnEndedContext(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range map[string]error{
		"GetBalance": func() error { _, err := acct.Direct().GetBalance(ctx); return err }(),
		"TopUp":      acct.Direct().TopUp(ctx),
	} {
		if e, ok := vonage.AsError(err); !ok || e.Kind != vonage.KindTransport || e.Sent {
			t.Errorf("%s on an ended context: %#v, want an unsent transport error", name, err)
		}
	}
	if s := acct.Stats(); s.BalanceRequests+s.TopUpRequests != 0 {
		t.Errorf("calls that never left were counted: %+v", s)
	}
}
