// Package vonage calls the two endpoints of Vonage's Account API that the
// watchdog needs, GET /account/get-balance and POST /account/top-up, as
// shared/vonage/account-api.yml describes them. It classifies every failure
// as an *Error and redacts the API secret, the trx reference and query
// strings from everything it returns.
package vonage

import (
	"net/http"
	"time"

	"github.com/shopspring/decimal"
)

// Auth is how the client sends the API key and secret.
type Auth string

// The authentication styles.
const (
	// AuthBasic sends "Authorization: Basic base64(key:secret)".
	AuthBasic Auth = "basic"
	// AuthQuery sends api_key and api_secret as query parameters.
	AuthQuery Auth = "query"
)

// Balance is the answer of GET /account/get-balance.
type Balance struct {
	// Value is the balance in EUR, exact.
	Value      decimal.Decimal
	AutoReload bool
}

// The endpoint names used by Options.Observe.
const (
	EndpointGetBalance = "get-balance"
	EndpointTopUp      = "top-up"
)

// DefaultMaxBody is the largest answer body read, in bytes.
const DefaultMaxBody = 64 << 10

// Options configure a Client.
type Options struct {
	// BaseURL is where both endpoints live, such as https://rest.nexmo.com.
	BaseURL   string
	APIKey    string
	APISecret string
	TRX       string
	Auth      Auth
	// Timeout bounds one HTTP attempt (connect to end of body).
	Timeout time.Duration
	// UserAgent is sent on every request.
	UserAgent string
	// Transport is the RoundTripper to use; nil means a clone of
	// http.DefaultTransport, which speaks HTTP/1.1 and HTTP/2 (chosen by
	// ALPN). The client never follows redirects. The top-up request has no
	// GetBody, so that *http.Transport cannot re-send it over either
	// protocol (it would, after a reset stream or a dropped connection,
	// with a body it can rewind). Error.Sent relies on the transport
	// reporting through net/http/httptrace, as *http.Transport does, and on
	// it never re-sending a request that it may have written: a wrapper
	// must not retry on its own, nor buffer the body to make it rewindable.
	Transport http.RoundTripper
	// MaxBody limits the answer body; 0 means DefaultMaxBody.
	MaxBody int64
	// Observe, if set, is called after every attempt with the endpoint name,
	// the HTTP status code as text ("200", "503") or "error" when there was
	// no answer, and the attempt's duration.
	Observe func(endpoint, code string, d time.Duration)
}
