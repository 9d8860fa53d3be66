package sim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/shopspring/decimal"
	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// kin-openapi has no XML body decoder; its registry is package-level,
	// so the one in spec_test.go is registered once, here.
	openapi3filter.RegisterBodyDecoder("application/xml", xmlBodyDecoder)
	goleak.VerifyTestMain(m)
}

const (
	testKey    = "abcd1234"
	testSecret = "ABCDEFGH01234abc"
	testTRX    = "8ef2447e69604f642ae59363aa5f781b"
)

func newClock() *clocktest.Clock {
	return clocktest.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func testConfig(clock *clocktest.Clock) Config {
	return Config{
		APIKey: testKey, APISecret: testSecret, TRX: testTRX,
		Balance:     dec("10.171275"),
		AutoReload:  true,
		TopUpAmount: dec("20"),
		CreditDelay: 90 * time.Second,
		Now:         clock.Now,
	}
}

func newAccount(t *testing.T, cfg Config) *Account {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// serve runs acct on a loopback httptest server, closed at the end.
func serve(t *testing.T, acct *Account) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(acct.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// newClient is a client with its own transport, closed at the end.
func newClient(t *testing.T, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

// creds is how a test request authenticates.
type creds struct {
	style       AuthStyle
	key, secret string
}

var good = creds{AuthBasic, testKey, testSecret}

func (c creds) apply(r *http.Request) {
	switch c.style {
	case AuthBasic:
		r.SetBasicAuth(c.key, c.secret)
	case AuthQuery:
		q := r.URL.Query()
		q.Set("api_key", c.key)
		q.Set("api_secret", c.secret)
		r.URL.RawQuery = q.Encode()
	}
}

func balanceRequest(t *testing.T, base string, c creds, accept string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, base+PathBalance, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.apply(r)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	return r
}

func topUpRequest(t *testing.T, base string, c creds, trx, accept string) *http.Request {
	t.Helper()
	form := url.Values{"trx": {trx}}.Encode()
	r, err := http.NewRequest(http.MethodPost, base+PathTopUp, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c.apply(r)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	return r
}

// do sends r and reads the whole answer.
func do(t *testing.T, client *http.Client, r *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp, string(b)
}

// record serves r in process, without a network.
func record(acct *Account, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	acct.Handler().ServeHTTP(w, r)
	return w
}

// waitFor waits, at most a few seconds, for cond on the account's stats.
func waitFor(t *testing.T, acct *Account, what string, cond func(Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := acct.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v (stats %+v)", what, err, acct.Stats())
	}
}
