package sim

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestTopUpsRecordEveryRequest(t *testing.T) {
	clock := newClock()
	start := clock.Now()
	cfg := testConfig(clock)
	cfg.DrainPerSecond = dec("0.001")
	acct := newAccount(t, cfg)
	if err := acct.Script(EndpointTopUp, FaultNone, FaultServerError); err != nil {
		t.Fatal(err)
	}

	clock.Advance(10 * time.Second)
	topUp(t, acct)
	clock.Advance(5 * time.Second)
	r := topUpRequest(t, "http://sim", creds{AuthQuery, testKey, testSecret}, testTRX, "")
	r.Header.Set("Idempotency-Key", "k-1")
	record(acct, r)
	acct.SetAutoReload(false)
	record(acct, topUpRequest(t, "http://sim", good, testTRX, ""))

	want := []TopUp{
		{Seq: 1, ReceivedAt: start.Add(10 * time.Second), Applied: true, Result: ResultApplied, Status: 200,
			BalanceBefore: dec("10.161275"), Amount: dec("20"), CreditAt: start.Add(100 * time.Second), Auth: AuthBasic},
		{Seq: 2, ReceivedAt: start.Add(15 * time.Second), Result: ResultNotProcessed, Status: 500, Fault: FaultServerError,
			BalanceBefore: dec("10.156275"), Auth: AuthQuery, IdempotencyKey: "k-1"},
		{Seq: 3, ReceivedAt: start.Add(15 * time.Second), Result: ResultAutoReloadDisabled, Status: 401,
			BalanceBefore: dec("10.156275"), Auth: AuthBasic},
	}
	got := acct.TopUps()
	if len(got) != len(want) {
		t.Fatalf("%d top-ups, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !sameTopUp(got[i], want[i]) {
			t.Errorf("top-up %d:\n got %+v\nwant %+v", i+1, got[i], want[i])
		}
	}
	s := acct.Stats()
	if s.TopUpRequests != 3 || s.TopUpsApplied != 1 || s.TopUpsRejected != 1 || s.IdempotencyKeys != 1 ||
		s.AuthBasic != 2 || s.AuthQuery != 1 || s.Faults[FaultServerError] != 1 || len(s.Faults) != 1 {
		t.Errorf("stats %+v", s)
	}
}

func sameTopUp(a, b TopUp) bool {
	return a.Seq == b.Seq && a.ReceivedAt.Equal(b.ReceivedAt) && a.Applied == b.Applied &&
		a.Result == b.Result && a.Status == b.Status && a.Fault == b.Fault &&
		a.BalanceBefore.Equal(b.BalanceBefore) && a.Amount.Equal(b.Amount) &&
		a.CreditAt.Equal(b.CreditAt) && a.Auth == b.Auth && a.IdempotencyKey == b.IdempotencyKey &&
		a.TRXInQuery == b.TRXInQuery
}

func TestRecordsAreCopies(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	topUp(t, acct)
	acct.TopUps()[0].Applied = false
	s := acct.Stats()
	s.Faults[FaultReset] = 9
	if !acct.TopUps()[0].Applied || acct.Stats().Faults[FaultReset] != 0 {
		t.Fatal("changing a returned record changed the account")
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := acct.Wait(ctx, func(s Stats) bool { return s.TopUpRequests > 0 })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v, want context canceled", err)
	}
}

func TestWaitWakesOnARequest(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	done := make(chan error, 1)
	go func() {
		done <- acct.Wait(context.Background(), func(s Stats) bool { return s.BalanceRequests == 1 })
	}()
	record(acct, balanceRequest(t, "http://sim", good, ""))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentUseIsSafe(t *testing.T) {
	clock := newClock()
	acct := newAccount(t, testConfig(clock))
	h := acct.Handler()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 25 {
				r, _ := http.NewRequest(http.MethodGet, "http://sim"+PathBalance, nil)
				if i%2 == 0 {
					r, _ = http.NewRequest(http.MethodPost, "http://sim"+PathTopUp, nil)
				}
				good.apply(r)
				h.ServeHTTP(discard{}, r)
				clock.Advance(time.Second)
				acct.SetAutoReload(i%3 != 0)
				acct.Drain(dec("0.01"))
				_, _ = acct.Lowest()
				_ = acct.TimeBelow(dec("5"))
			}
		})
	}
	wg.Wait()
	if s := acct.Stats(); s.BalanceRequests+s.TopUpRequests != 200 {
		t.Fatalf("stats %+v, want 200 requests", s)
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
