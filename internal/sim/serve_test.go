package sim

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// start runs Serve on a loopback port until the returned stop is called;
// stop returns what Serve returned.
func start(t *testing.T, acct *Account) (base string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, acct) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-served
	})
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func TestServeAnswersUntilItsContextEnds(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	base, stop := start(t, acct)
	client := newClient(t, 0)
	if resp, body := do(t, client, balanceRequest(t, base, good, "")); resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %d %s", resp.StatusCode, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v after its context ended, want nil", err)
	}
	if resp, err := client.Do(balanceRequest(t, base, good, "")); err == nil {
		resp.Body.Close()
		t.Fatal("the server still answers after it stopped")
	}
}

func TestServeDropsHeldAnswersWhenItStops(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	if err := acct.Script(EndpointTopUp, FaultAppliedNoAnswer); err != nil {
		t.Fatal(err)
	}
	base, stop := start(t, acct)
	client, r := newClient(t, 0), topUpRequest(t, base, good, testTRX, "")
	answered := make(chan error, 1)
	go func() {
		resp, err := client.Do(r)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	waitFor(t, acct, "the request to be held", func(s Stats) bool { return s.Hanging == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := <-answered; err == nil {
		t.Fatal("the held request got an answer when the server stopped, want a dropped connection")
	}
	if s := acct.Stats(); s.Hanging != 0 || s.TopUpsApplied != 1 {
		t.Fatalf("stats %+v, want nothing held and the top-up applied", s)
	}
}

func TestListenAndServeReportsABadAddress(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	err := ListenAndServe(context.Background(), "127.0.0.1:-1", acct)
	if err == nil || !strings.HasPrefix(err.Error(), "listen on 127.0.0.1:-1: ") {
		t.Fatalf("error %v, want listen on 127.0.0.1:-1: ...", err)
	}
}

func TestListenAndServeStops(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ListenAndServe(ctx, "127.0.0.1:0", acct); err != nil {
		t.Fatalf("ListenAndServe with an ended context: %v, want nil", err)
	}
}
