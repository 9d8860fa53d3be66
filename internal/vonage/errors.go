package vonage

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a failed call.
type Kind int

// The kinds of Error.
const (
	// KindTransport: no HTTP answer (refused, DNS, TLS, reset, timeout).
	KindTransport Kind = iota + 1
	// KindAuthFailed: Vonage answered "authentication failed": a 401 with no
	// other error-code (none, unreadable, 401 or 200), or error-code 401 in
	// a 2xx.
	KindAuthFailed
	// KindAutoReloadDisabled: Vonage answered "not auto-reload enabled".
	KindAutoReloadDisabled
	// KindRateLimited: 429 Too Many Requests.
	KindRateLimited
	// KindServer: a 5xx answer.
	KindServer
	// KindClient: another 4xx answer, or a 401 whose error-code is
	// neither 401 nor 200 (Vonage's "420 topup failed"): a rejected request.
	KindClient
	// KindMalformed: an answer that cannot be read as the endpoint's answer
	// (garbage, HTML, over the size limit, a 2xx with an unexpected
	// error-code, an unexpected status such as 3xx).
	KindMalformed
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindTransport:
		return "transport"
	case KindAuthFailed:
		return "authentication failed"
	case KindAutoReloadDisabled:
		return "not auto-reload enabled"
	case KindRateLimited:
		return "rate limited"
	case KindServer:
		return "server error"
	case KindClient:
		return "client error"
	case KindMalformed:
		return "malformed answer"
	default:
		return "unknown"
	}
}

// Error is every error the client returns. Its text never holds the API
// secret, the trx reference or a URL's query.
type Error struct {
	// Op is "get balance" or "top up".
	Op   string
	Kind Kind
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Sent reports whether the request may have reached Vonage: true once
	// any byte of it was written to a connection, or an answer came back.
	Sent bool
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Code and Label are the answer's error-code and error-code-label,
	// empty when it has none; like Err, redacted, printable and cut short.
	Code, Label string
	// Hint suggests a fix for the configuration, empty when there is none.
	Hint string
	// Err is the redacted cause, if any. For an error answer, it is what the
	// answer said, when that says more than Kind.
	Err error

	// said is what the answer said, as written, until Client.explain
	// redacts it into the fields above.
	said *said
}

func (e *Error) Error() string {
	msg := "vonage: " + e.Op + ": " + e.Kind.String()
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		msg += "; hint: " + e.Hint
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
