package sim

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// scripted returns an account on loopback with faults queued for ep.
func scripted(t *testing.T, ep Endpoint, faults ...Fault) (*Account, string) {
	t.Helper()
	acct := newAccount(t, testConfig(newClock()))
	if err := acct.Script(ep, faults...); err != nil {
		t.Fatal(err)
	}
	return acct, serve(t, acct).URL
}

// wantTopUp checks the only top-up record.
func wantTopUp(t *testing.T, acct *Account, applied bool, status int, f Fault) {
	t.Helper()
	tu := acct.TopUps()
	if len(tu) != 1 || tu[0].Applied != applied || tu[0].Status != status || tu[0].Fault != f {
		t.Fatalf("top-ups %+v, want one applied=%v status %d fault %q", tu, applied, status, f)
	}
	if got := acct.Stats().Faults[f]; got < 1 {
		t.Errorf("faults[%s] = %d, want it counted", f, got)
	}
}

func TestServerErrorsApplyNothing(t *testing.T) {
	for f, status := range map[Fault]int{FaultServerError: 500, FaultUnavailable: 503} {
		acct, base := scripted(t, EndpointTopUp, f)
		resp, _ := do(t, newClient(t, 0), topUpRequest(t, base, good, testTRX, ""))
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d", f, resp.StatusCode, status)
		}
		wantTopUp(t, acct, false, status, f)
	}
}

func TestRateLimitSendsRetryAfter(t *testing.T) {
	acct, base := scripted(t, EndpointBalance, FaultRateLimit)
	if err := acct.SetFaults(Faults{RetryAfter: 2500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	resp, _ := do(t, newClient(t, 0), balanceRequest(t, base, good, ""))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("answer %d Retry-After %q, want 429 and 3", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestAppliedNoAnswerTimesTheClientOut(t *testing.T) {
	acct, base := scripted(t, EndpointTopUp, FaultAppliedNoAnswer)
	_, err := newClient(t, 100*time.Millisecond).Do(topUpRequest(t, base, good, testTRX, ""))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("client error %v, want a timeout", err)
	}
	waitFor(t, acct, "the held answer to be dropped", func(s Stats) bool { return s.TopUpsApplied == 1 && s.Hanging == 0 })
	wantTopUp(t, acct, true, 0, FaultAppliedNoAnswer)
}

func TestNoAnswerAppliesNothing(t *testing.T) {
	acct, base := scripted(t, EndpointTopUp, FaultNoAnswer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, r := newClient(t, 0), topUpRequest(t, base, good, testTRX, "").WithContext(ctx)
	done := make(chan error, 1)
	go func() {
		resp, err := client.Do(r)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, acct, "the request to be held", func(s Stats) bool { return s.Hanging == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want context canceled", err)
	}
	waitFor(t, acct, "the held answer to be dropped", func(s Stats) bool { return s.Hanging == 0 })
	wantTopUp(t, acct, false, 0, FaultNoAnswer)
	if !acct.Balance().Equal(dec("10.171275")) {
		t.Errorf("balance %s changed", acct.Balance())
	}
}

func TestResetAfterApplyBreaksTheConnection(t *testing.T) {
	acct, base := scripted(t, EndpointTopUp, FaultResetAfterApply)
	resp, err := newClient(t, 0).Do(topUpRequest(t, base, good, testTRX, ""))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answer %d, want a connection error", resp.StatusCode)
	}
	wantTopUp(t, acct, true, 0, FaultResetAfterApply)
}

func TestResetBeforeApplyAppliesNothing(t *testing.T) {
	acct, base := scripted(t, EndpointTopUp, FaultReset)
	resp, err := newClient(t, 0).Do(topUpRequest(t, base, good, testTRX, ""))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answer %d, want a connection error", resp.StatusCode)
	}
	wantTopUp(t, acct, false, 0, FaultReset)
}

func TestMalformedBodyIsUnreadable(t *testing.T) {
	acct, base := scripted(t, EndpointTopUp, FaultMalformed)
	if err := acct.Script(EndpointBalance, FaultMalformed); err != nil {
		t.Fatal(err)
	}
	client := newClient(t, 0)
	for _, r := range []*http.Request{topUpRequest(t, base, good, testTRX, ""), balanceRequest(t, base, good, "")} {
		resp, body := do(t, client, r)
		var v map[string]any
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &v) == nil {
			t.Errorf("%s: answer %d %q, want 200 and unreadable JSON", r.URL.Path, resp.StatusCode, body)
		}
	}
	wantTopUp(t, acct, true, 200, FaultMalformed)
}

func TestAppliedServerErrorApplies(t *testing.T) {
	acct, base := scripted(t, EndpointTopUp, FaultAppliedServerError)
	resp, _ := do(t, newClient(t, 0), topUpRequest(t, base, good, testTRX, ""))
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	wantTopUp(t, acct, true, 500, FaultAppliedServerError)
}

func TestRefuseAuthRefusesGoodCredentials(t *testing.T) {
	acct, base := scripted(t, EndpointTopUp, FaultRefuseAuth)
	resp, body := do(t, newClient(t, 0), topUpRequest(t, base, good, testTRX, ""))
	if resp.StatusCode != 401 || body != `{"error-code":"401","error-code-label":"authentication failed"}` {
		t.Fatalf("answer %d %s, want 401 authentication failed", resp.StatusCode, body)
	}
	wantTopUp(t, acct, false, 401, FaultRefuseAuth)
	if s := acct.Stats(); s.AuthFailures != 0 || s.TopUpsRejected != 1 {
		t.Errorf("stats %+v, want no credential failure, 1 rejected", s)
	}
}

func TestLatencyDelaysTheAnswer(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	if err := acct.SetFaults(Faults{Latency: 20 * time.Millisecond, LatencyJitter: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	base := serve(t, acct).URL
	began := time.Now()
	resp, _ := do(t, newClient(t, 0), balanceRequest(t, base, good, ""))
	if took := time.Since(began); resp.StatusCode != 200 || took < 20*time.Millisecond {
		t.Fatalf("answer %d after %s, want 200 after at least 20ms", resp.StatusCode, took)
	}
}

func TestScriptGoesInOrderAndNoneAnswersNormally(t *testing.T) {
	acct, base := scripted(t, EndpointTopUp, FaultNone, FaultServerError)
	client := newClient(t, 0)
	var got []int
	for range 3 {
		resp, _ := do(t, client, topUpRequest(t, base, good, testTRX, ""))
		got = append(got, resp.StatusCode)
	}
	if got[0] != 200 || got[1] != 500 || got[2] != 200 {
		t.Fatalf("statuses %v, want [200 500 200]", got)
	}
	if s := acct.Stats(); s.TopUpsApplied != 2 || acct.Scripted(EndpointTopUp) != 0 {
		t.Errorf("stats %+v, want 2 applied and the script used up", s)
	}
}

func TestScriptRejectsUnknownNames(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	if err := acct.Script("balance", FaultReset); err == nil {
		t.Error("Script accepted an unknown endpoint")
	}
	if err := acct.Script(EndpointTopUp, "explode"); err == nil {
		t.Error("Script accepted an unknown fault")
	}
}

// statuses sends n requests to ep in process and returns the answers.
func statuses(t *testing.T, f Faults, seed int64, ep Endpoint, n int) []int {
	t.Helper()
	cfg := testConfig(newClock())
	cfg.Faults, cfg.Seed = f, seed
	acct := newAccount(t, cfg)
	out := make([]int, n)
	for i := range out {
		r := balanceRequest(t, "http://sim", good, "")
		if ep == EndpointTopUp {
			r = topUpRequest(t, "http://sim", good, testTRX, "")
		}
		out[i] = record(acct, r).Code
	}
	return out
}

func TestRandomFaultsFollowTheSeedAndTheRates(t *testing.T) {
	f := Faults{ServerError: 0.25, RateLimit: 0.25, RefuseAuth: 0.25}
	a, b := statuses(t, f, 7, EndpointBalance, 400), statuses(t, f, 7, EndpointBalance, 400)
	counts := map[int]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: %d and %d with the same seed", i, a[i], b[i])
		}
		counts[a[i]]++
	}
	for status, want := range map[int]int{200: 100, 401: 100, 429: 100, 500 + 503: 100} {
		got := counts[status]
		if status == 500+503 {
			got = counts[500] + counts[503]
		}
		if got < want/2 || got > want*2 {
			t.Errorf("status %d: %d of 400, want about %d (counts %v)", status, got, want, counts)
		}
	}
}

func TestRandomFaultsCanSpareAnEndpoint(t *testing.T) {
	f := Faults{ServerError: 1, Only: EndpointTopUp}
	for _, code := range statuses(t, f, 1, EndpointBalance, 20) {
		if code != http.StatusOK {
			t.Fatalf("get-balance answered %d with faults only on top-up", code)
		}
	}
	for _, code := range statuses(t, f, 1, EndpointTopUp, 20) {
		if code < 500 {
			t.Fatalf("top-up answered %d with a server error rate of 1", code)
		}
	}
}
