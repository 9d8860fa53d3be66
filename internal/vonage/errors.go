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
	// KindAuthFailed: Vonage answered "authentication failed" (401, or its
	// body with another status).
	KindAuthFailed
	// KindAutoReloadDisabled: Vonage answered "not auto-reload enabled".
	KindAutoReloadDisabled
	// KindRateLimited: 429 Too Many Requests.
	KindRateLimited
	// KindServer: a 5xx answer.
	KindServer
	// KindClient: another 4xx answer.
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
	// Err is the redacted cause, if any.
	Err error
}

func (e *Error) Error() string {
	msg := "vonage: " + e.Op + ": " + e.Kind.String()
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
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
