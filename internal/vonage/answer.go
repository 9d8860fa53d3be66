package vonage

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// MaxRetryAfter caps the Retry-After a server can ask for: a day, the
// longest hold the watchdog keeps across checks (a 429 on a top-up holds new
// top-ups until its Retry-After has passed).
const MaxRetryAfter = 24 * time.Hour

// labelAutoReloadDisabled is the error-code-label of Vonage's "auto-reload is
// not enabled" answer.
const labelAutoReloadDisabled = "not auto-reload enabled"

// answer is an HTTP answer as read from the wire.
type answer struct {
	status      int
	contentType string
	body        []byte
	// bodyErr is set when the body could not be read whole: cut short, or
	// over the size limit.
	bodyErr error
	// retryAfter is the answer's Retry-After, 0 without one.
	retryAfter time.Duration
}

// statusError classifies an answer by its status alone, and returns nil for
// a 2xx, whose body decides.
func statusError(a answer) *Error {
	switch {
	case a.status >= 200 && a.status <= 299:
		return nil
	case a.status == http.StatusUnauthorized:
		return unauthorized(a)
	case a.status == http.StatusTooManyRequests:
		return &Error{Kind: KindRateLimited, Status: a.status}
	case a.status >= 400 && a.status <= 499:
		return &Error{Kind: KindClient, Status: a.status, said: saidIn(a)}
	case a.status >= 500 && a.status <= 599:
		return &Error{Kind: KindServer, Status: a.status}
	default:
		return &Error{Kind: KindMalformed, Status: a.status,
			Err: fmt.Errorf("unexpected status %d", a.status)}
	}
}

// unauthorized classifies a 401 by its body: "not auto-reload enabled" by
// its label; a rejected request by an error-code other than 401 (Vonage
// answers a failed top-up with 401 and error-code 420, "topup failed");
// else, unreadable body included, "authentication failed". An error-code
// 200 explains no failure, so it counts as none.
func unauthorized(a answer) *Error {
	e := &Error{Kind: KindAuthFailed, Status: a.status, said: saidIn(a)}
	switch s := e.said; {
	case s == nil:
	case isAutoReloadDisabled(s.label):
		e.Kind = KindAutoReloadDisabled
	case s.code != "" && !codeIs(s.code, 401) && !codeIs(s.code, 200):
		e.Kind = KindClient
	}
	return e
}

// saidIn is what an error answer's body says, nil when it cannot be read.
func saidIn(a answer) *said {
	if a.bodyErr != nil {
		return nil
	}
	doc, err := decodeDocument(a.contentType, a.body)
	if err != nil {
		return nil
	}
	return saidBy(doc)
}

// errorCodeError classifies a 2xx body's error-code other than 200: 401
// stands for what a 401 answer would; any other makes the answer malformed,
// its code and label kept in the message.
func errorCodeError(status int, doc document) *Error {
	s := saidBy(doc)
	e := &Error{Kind: KindMalformed, Status: status, said: s}
	switch {
	case s.code == "":
		e.Err = unreadable("answer has an empty error-code")
	case codeIs(s.code, 401) && isAutoReloadDisabled(s.label):
		e.Kind = KindAutoReloadDisabled
	case codeIs(s.code, 401):
		e.Kind = KindAuthFailed
	}
	return e
}

// codeIs reports whether an error-code, as the answer wrote it, is exactly
// the number n: "401", " 401 ", "0401", 401.0 and 4.01e2 all are 401, and
// 401.00000000000001 is not (it is compared as a decimal, never through a
// float, which would round it to 401: a code near 200 must never make a
// failed top-up read as a success). What a code stands for must not depend
// on its spelling: a real "authentication failed" classed a client error
// would leave the alarm, the readiness probe and the notification silent.
// Only a decimal number (digits, a sign, a point, an exponent of at most
// three digits) of at most 40 characters is read; anything else is no
// number at all.
func codeIs(code string, n int) bool {
	code = strings.TrimSpace(code)
	if code == strconv.Itoa(n) { // the common case, without parsing
		return true
	}
	if len(code) == 0 || len(code) > 40 || strings.Trim(code, "0123456789.eE+-") != "" {
		return false
	}
	if i := strings.IndexAny(code, "eE"); i >= 0 && len(strings.TrimLeft(code[i+1:], "+-")) > 3 {
		return false // 10^(a huge exponent) is no error-code, and costly to compare
	}
	d, err := decimal.NewFromString(code)
	return err == nil && d.Equal(decimal.NewFromInt(int64(n)))
}

func isAutoReloadDisabled(label string) bool {
	return strings.EqualFold(strings.TrimSpace(label), labelAutoReloadDisabled)
}

// parseRetryAfter reads a Retry-After header: delay-seconds, or an HTTP date
// taken relative to now. It returns 0 for an absent, unreadable or past
// value, and caps the delay at MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}

// quote quotes text taken from an answer for an error message. The message
// is cut short only once redacted (see redactError), so that a cut never
// leaves part of a secret behind.
func quote(s string) string { return strconv.Quote(s) }
