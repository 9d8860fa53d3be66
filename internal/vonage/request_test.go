package vonage

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// answerFor answers each endpoint with its success body.
func answerFor(endpoint string) http.HandlerFunc {
	if endpoint == EndpointTopUp {
		return answerWith(http.StatusOK, "application/json", successJSON)
	}
	return answerWith(http.StatusOK, "application/json", balanceJSON)
}

func TestRequestsAreTheOnesTheSpecDescribes(t *testing.T) {
	for _, auth := range []Auth{AuthBasic, AuthQuery} {
		for _, endpoint := range allEndpoints() {
			t.Run(string(auth)+"/"+endpoint, func(t *testing.T) {
				seen := make(chan seenRequest, 1)
				f := newFake(t, recordTo(seen, answerFor(endpoint)))
				o := testOptions(f.URL)
				o.Auth = auth
				c := newTestClient(t, o)

				if err := callEndpoint(t.Context(), t, c, endpoint); err != nil {
					t.Fatalf("call: %v", err)
				}
				got := <-seen
				checkCommonHeaders(t, got)
				checkAuth(t, auth, got)
				if endpoint == EndpointTopUp {
					checkTopUpRequest(t, got)
				} else {
					checkBalanceRequest(t, got)
				}
				if n := f.calls.Load(); n != 1 {
					t.Errorf("server saw %d calls, want 1", n)
				}
			})
		}
	}
}

func checkCommonHeaders(t *testing.T, got seenRequest) {
	t.Helper()
	if a := got.header.Get("Accept"); a != "application/json" {
		t.Errorf("Accept = %q, want application/json", a)
	}
	if ua := got.header.Get("User-Agent"); ua != testUA {
		t.Errorf("User-Agent = %q, want %q", ua, testUA)
	}
	for _, h := range []string{"Idempotency-Key", "X-Idempotency-Key"} {
		if v, ok := got.header[h]; ok {
			t.Errorf("request has %s: %q; net/http would replay a written POST", h, v)
		}
	}
}

func checkAuth(t *testing.T, auth Auth, got seenRequest) {
	t.Helper()
	q, err := url.ParseQuery(got.rawQuery)
	if err != nil {
		t.Fatalf("parse query: %v", err)
	}
	switch auth {
	case AuthBasic:
		if a := got.header.Get("Authorization"); a != testBasic {
			t.Errorf("Authorization = %q, want %q", a, testBasic)
		}
		if got.rawQuery != "" {
			t.Errorf("query = %q, want none with basic auth", got.rawQuery)
		}
	case AuthQuery:
		if a, ok := got.header["Authorization"]; ok {
			t.Errorf("Authorization = %q, want none with query auth", a)
		}
		want := url.Values{"api_key": {testKey}, "api_secret": {testSecret}}
		if !reflect.DeepEqual(q, want) {
			t.Errorf("query = %v, want exactly %v", q, want)
		}
	}
}

func checkTopUpRequest(t *testing.T, got seenRequest) {
	t.Helper()
	if got.method != http.MethodPost || got.path != "/account/top-up" {
		t.Errorf("request = %s %s, want POST /account/top-up", got.method, got.path)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q, want application/x-www-form-urlencoded", ct)
	}
	if got.body != "trx="+testTRX {
		t.Errorf("body = %q, want %q", got.body, "trx="+testTRX)
	}
	if strings.Contains(got.rawQuery, "trx") {
		t.Errorf("query %q holds the trx; it belongs in the body", got.rawQuery)
	}
}

func checkBalanceRequest(t *testing.T, got seenRequest) {
	t.Helper()
	if got.method != http.MethodGet || got.path != "/account/get-balance" {
		t.Errorf("request = %s %s, want GET /account/get-balance", got.method, got.path)
	}
	if got.body != "" {
		t.Errorf("body = %q, want none", got.body)
	}
	if ct, ok := got.header["Content-Type"]; ok {
		t.Errorf("Content-Type = %q, want none", ct)
	}
}

func TestBasicAuthMatchesTheSpecExample(t *testing.T) {
	seen := make(chan seenRequest, 1)
	f := newFake(t, recordTo(seen, answerFor(EndpointGetBalance)))
	o := testOptions(f.URL)
	o.APIKey, o.APISecret = "aaa012", "abc123456789"
	if _, err := newTestClient(t, o).GetBalance(t.Context()); err != nil {
		t.Fatal(err)
	}
	const want = "Basic YWFhMDEyOmFiYzEyMzQ1Njc4OQ=="
	if got := (<-seen).header.Get("Authorization"); got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
}

func TestTRXIsFormEncoded(t *testing.T) {
	seen := make(chan seenRequest, 1)
	f := newFake(t, recordTo(seen, answerFor(EndpointTopUp)))
	o := testOptions(f.URL)
	o.TRX = "a&b=c d+é"
	if err := newTestClient(t, o).TopUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := <-seen
	if want := "trx=a%26b%3Dc+d%2B%C3%A9"; got.body != want {
		t.Errorf("body = %q, want %q", got.body, want)
	}
	if form, _ := url.ParseQuery(got.body); form.Get("trx") != o.TRX {
		t.Errorf("trx read back as %q, want %q", form.Get("trx"), o.TRX)
	}
}

func TestBaseURLPathPrefixIsKept(t *testing.T) {
	seen := make(chan seenRequest, 1)
	f := newFake(t, recordTo(seen, answerFor(EndpointGetBalance)))
	if _, err := newTestClient(t, testOptions(f.URL+"/vonage/")).GetBalance(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := (<-seen).path; got != "/vonage/account/get-balance" {
		t.Errorf("path = %q, want /vonage/account/get-balance", got)
	}
}

func TestEmptyUserAgentSendsTheDefault(t *testing.T) {
	seen := make(chan seenRequest, 1)
	f := newFake(t, recordTo(seen, answerFor(EndpointGetBalance)))
	o := testOptions(f.URL)
	o.UserAgent = ""
	if _, err := newTestClient(t, o).GetBalance(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := (<-seen).header.Get("User-Agent"); got != DefaultUserAgent {
		t.Errorf("User-Agent = %q, want %q", got, DefaultUserAgent)
	}
}

func TestEachCallIsOneAttempt(t *testing.T) {
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			f := newFake(t, answerWith(http.StatusServiceUnavailable, "text/html", "<h1>down</h1>"))
			c := newTestClient(t, testOptions(f.URL))
			e := asError(t, callEndpoint(t.Context(), t, c, endpoint))
			if e.Kind != KindServer || e.Status != http.StatusServiceUnavailable || !e.Sent {
				t.Errorf("error = %+v, want a sent server error 503", *e)
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("server saw %d calls, want 1: retries are the caller's", n)
			}
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			target := newFake(t, answerFor(endpoint))
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
			})
			c := newTestClient(t, testOptions(f.URL))
			e := asError(t, callEndpoint(t.Context(), t, c, endpoint))
			if e.Kind != KindMalformed || e.Status != http.StatusTemporaryRedirect || !e.Sent {
				t.Errorf("error = %+v, want a sent malformed answer 307", *e)
			}
			if n := target.calls.Load(); n != 0 {
				t.Errorf("redirect target saw %d calls, want 0", n)
			}
		})
	}
}

func TestObserveSeesEveryAttempt(t *testing.T) {
	type observed struct{ endpoint, code string }
	var got []observed
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathTopUp {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		answerFor(EndpointGetBalance)(w, r)
	})
	o := testOptions(f.URL)
	o.Observe = func(endpoint, code string, d time.Duration) {
		if d < 0 {
			t.Errorf("negative duration %s", d)
		}
		got = append(got, observed{endpoint, code})
	}
	c := newTestClient(t, o)
	_, _ = c.GetBalance(t.Context())
	_ = c.TopUp(t.Context())
	f.Close()
	_ = c.TopUp(t.Context())

	want := []observed{{"get-balance", "200"}, {"top-up", "502"}, {"top-up", "error"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestAnswerBodyIsLimited(t *testing.T) {
	body := `{"value": 1.5, "autoReload": true}`
	for _, tc := range []struct {
		name    string
		maxBody int64
		wantErr string
	}{
		{name: "exactly the limit", maxBody: int64(len(body))},
		{name: "one byte over", maxBody: int64(len(body)) - 1,
			wantErr: fmt.Sprintf("answer over %d bytes", len(body)-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerWith(http.StatusOK, "application/json", body))
			o := testOptions(f.URL)
			o.MaxBody = tc.maxBody
			_, err := newTestClient(t, o).GetBalance(t.Context())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("GetBalance: %v", err)
				}
				return
			}
			e := asError(t, err)
			if e.Kind != KindMalformed || !strings.Contains(e.Error(), tc.wantErr) {
				t.Errorf("error = %v (%s), want malformed %q", e, e.Kind, tc.wantErr)
			}
		})
	}
}

func TestRateLimitCarriesRetryAfter(t *testing.T) {
	now := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{header: "120", want: 2 * time.Minute},
		{header: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second},
		{header: "soon", want: 0},
	} {
		t.Run(tc.header, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.header)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			c := newTestClient(t, testOptions(f.URL))
			c.now = func() time.Time { return now }
			e := asError(t, c.TopUp(t.Context()))
			if e.Kind != KindRateLimited || e.Status != 429 || e.RetryAfter != tc.want || !e.Sent {
				t.Errorf("error = %+v, want rate limited, sent, RetryAfter %s", *e, tc.want)
			}
		})
	}
}
