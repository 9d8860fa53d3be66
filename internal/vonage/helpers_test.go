package vonage

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testKey    = "key-1234"
	testSecret = "s3cr3t-Value/+="
	testTRX    = "trx-8ef2447e69"
	testUA     = "topup-watchdog-test/1.0"
	// testBasic is "Basic " + base64("key-1234:s3cr3t-Value/+="), computed
	// outside Go.
	testBasic = "Basic a2V5LTEyMzQ6czNjcjN0LVZhbHVlLys9"

	balanceJSON = `{"value": 10.17127500, "autoReload": true}`
	successJSON = `{"error-code":"200","error-code-label":"success"}`
)

// testOptions are valid options pointing at baseURL.
func testOptions(baseURL string) Options {
	return Options{
		BaseURL:   baseURL,
		APIKey:    testKey,
		APISecret: testSecret,
		TRX:       testTRX,
		Auth:      AuthBasic,
		Timeout:   5 * time.Second,
		UserAgent: testUA,
	}
}

// newTestClient builds a Client that closes its idle connections when the
// test ends.
func newTestClient(t testing.TB, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// fakeVonage is a loopback stand-in for Vonage that counts its calls.
type fakeVonage struct {
	*httptest.Server
	calls atomic.Int64
}

func newFake(t testing.TB, h http.HandlerFunc) *fakeVonage {
	t.Helper()
	f := &fakeVonage{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// answerWith answers every request with status, content type and body.
func answerWith(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// seenRequest is what a fake saw of a request.
type seenRequest struct {
	method, path, rawQuery string
	header                 http.Header
	body                   string
}

// recordTo sends each request's record to seen, then lets next answer.
func recordTo(seen chan<- seenRequest, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- seenRequest{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery,
			header: r.Header.Clone(), body: string(body)}
		next(w, r)
	}
}

// callEndpoint calls one endpoint and returns its error.
func callEndpoint(ctx context.Context, t testing.TB, c *Client, endpoint string) error {
	t.Helper()
	switch endpoint {
	case EndpointGetBalance:
		b, err := c.GetBalance(ctx)
		if err != nil && b != (Balance{}) {
			t.Errorf("GetBalance returned %+v with error %v", b, err)
		}
		return err
	case EndpointTopUp:
		return c.TopUp(ctx)
	}
	t.Fatalf("unknown endpoint %q", endpoint)
	return nil
}

// asError asserts that err is an *Error itself, not only wrapping one.
func asError(t testing.TB, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	e, ok := err.(*Error)
	if !ok {
		var target *Error
		t.Fatalf("error %v is a %T, not an *Error (errors.As: %v)", err, err, errors.As(err, &target))
	}
	return e
}

// allEndpoints lists the endpoint names, for tests that cover both.
func allEndpoints() []string { return []string{EndpointGetBalance, EndpointTopUp} }
