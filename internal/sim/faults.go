package sim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Endpoint names one of the two simulated endpoints.
type Endpoint string

// The endpoints.
const (
	EndpointBalance Endpoint = "get-balance"
	EndpointTopUp   Endpoint = "top-up"
)

func (e Endpoint) valid() bool { return e == EndpointBalance || e == EndpointTopUp }

// ParseEndpoint reads an endpoint name.
func ParseEndpoint(s string) (Endpoint, error) {
	if e := Endpoint(s); e.valid() {
		return e, nil
	}
	return "", fmt.Errorf("unknown endpoint %q", s)
}

// Fault is what goes wrong with one request. "Before processing" faults
// answer (or not) without touching the account: no top-up is applied. "After
// processing" faults let the account do its work (a top-up that passes the
// checks is applied, a rejected one stays rejected), then spoil the answer.
// For get-balance, processing is reading the balance.
type Fault string

// The faults.
const (
	// FaultNone answers normally; it lets a script skip a request.
	FaultNone Fault = ""
	// FaultServerError answers 500 before processing.
	FaultServerError Fault = "server_error"
	// FaultUnavailable answers 503 before processing.
	FaultUnavailable Fault = "unavailable"
	// FaultRateLimit answers 429 with Retry-After before processing.
	FaultRateLimit Fault = "rate_limit"
	// FaultNoAnswer holds the request before processing until the client
	// gives up or the server stops, then drops the connection.
	FaultNoAnswer Fault = "no_answer"
	// FaultReset resets the TCP connection before processing.
	FaultReset Fault = "reset"
	// FaultAppliedNoAnswer processes the request, then holds it like
	// FaultNoAnswer.
	FaultAppliedNoAnswer Fault = "applied_no_answer"
	// FaultResetAfterApply processes the request, then resets the TCP
	// connection (hijack, SO_LINGER 0, close).
	FaultResetAfterApply Fault = "reset_after_apply"
	// FaultAppliedServerError processes the request, then answers 500.
	FaultAppliedServerError Fault = "applied_server_error"
	// FaultMalformed processes the request, then answers 200 with the first
	// half of the real body (in the negotiated content type): unreadable.
	FaultMalformed Fault = "malformed"
	// FaultRefuseAuth answers 401 "authentication failed" whatever the
	// credentials; nothing is applied.
	FaultRefuseAuth Fault = "refuse_auth"
)

var allFaults = []Fault{
	FaultServerError, FaultUnavailable, FaultRateLimit, FaultNoAnswer, FaultReset,
	FaultAppliedNoAnswer, FaultResetAfterApply, FaultAppliedServerError,
	FaultMalformed, FaultRefuseAuth,
}

func (f Fault) valid() bool { return f == FaultNone || f.known() }

func (f Fault) known() bool {
	for _, k := range allFaults {
		if f == k {
			return true
		}
	}
	return false
}

// beforeProcessing reports whether f answers without touching the account.
func (f Fault) beforeProcessing() bool {
	switch f {
	case FaultServerError, FaultUnavailable, FaultRateLimit, FaultNoAnswer, FaultReset:
		return true
	}
	return false
}

// ParseFault reads a fault name; "none" and "" are FaultNone.
func ParseFault(s string) (Fault, error) {
	if s == "none" {
		return FaultNone, nil
	}
	if f := Fault(s); f.valid() {
		return f, nil
	}
	return "", fmt.Errorf("unknown fault %q", s)
}

// Faults are random faults: each rate is the probability, 0 to 1, that a
// request gets that fault. At most one fault hits a request, so the rates
// must add up to 1 or less. Scripted faults (Account.Script) go first.
type Faults struct {
	// Latency, plus a uniform random part below LatencyJitter, is waited
	// (wall time) before every request is processed, scripted or not.
	Latency, LatencyJitter time.Duration

	// ServerError: 500 or 503 (even odds) before processing.
	ServerError float64
	// RateLimit: 429 before processing, with Retry-After.
	RateLimit float64
	// RetryAfter is sent with 429, in whole seconds rounded up; 0 means 1s.
	RetryAfter time.Duration
	// NoAnswer: FaultNoAnswer.
	NoAnswer float64
	// ResetBeforeApply: FaultReset.
	ResetBeforeApply float64
	// AppliedNoAnswer: FaultAppliedNoAnswer.
	AppliedNoAnswer float64
	// ResetAfterApply: FaultResetAfterApply.
	ResetAfterApply float64
	// AppliedServerError: FaultAppliedServerError.
	AppliedServerError float64
	// MalformedBody: FaultMalformed.
	MalformedBody float64
	// RefuseAuth: FaultRefuseAuth.
	RefuseAuth float64

	// Only, if set, limits the random faults (not the latency) to one
	// endpoint.
	Only Endpoint
}

type rate struct {
	p     float64
	fault Fault
}

func (f Faults) rates() []rate {
	return []rate{
		{f.ServerError, FaultServerError},
		{f.RateLimit, FaultRateLimit},
		{f.NoAnswer, FaultNoAnswer},
		{f.ResetBeforeApply, FaultReset},
		{f.AppliedNoAnswer, FaultAppliedNoAnswer},
		{f.ResetAfterApply, FaultResetAfterApply},
		{f.AppliedServerError, FaultAppliedServerError},
		{f.MalformedBody, FaultMalformed},
		{f.RefuseAuth, FaultRefuseAuth},
	}
}

func (f Faults) validate() error {
	var errs []error
	if f.Latency < 0 || f.LatencyJitter < 0 || f.RetryAfter < 0 {
		errs = append(errs, errors.New("latency, latency jitter and retry-after must not be negative"))
	}
	if f.Only != "" && !f.Only.valid() {
		errs = append(errs, fmt.Errorf("unknown endpoint %q", f.Only))
	}
	sum := 0.0
	for _, r := range f.rates() {
		if math.IsNaN(r.p) || r.p < 0 || r.p > 1 {
			errs = append(errs, fmt.Errorf("rate of %s is %v, not between 0 and 1", r.fault, r.p))
		}
		sum += r.p
	}
	if sum > 1+1e-9 {
		errs = append(errs, fmt.Errorf("fault rates add up to %v, more than 1", sum))
	}
	return errors.Join(errs...)
}

// retryAfterSeconds is the Retry-After header value.
func (f Faults) retryAfterSeconds() int {
	if f.RetryAfter <= 0 {
		return 1
	}
	return int((f.RetryAfter + time.Second - 1) / time.Second)
}

// pick takes the fault for the next request to ep: the next scripted one, or
// a random one. The caller holds a.mu.
func (a *Account) pick(ep Endpoint) Fault {
	if q := a.script[ep]; len(q) > 0 {
		a.script[ep] = q[1:]
		return q[0]
	}
	if a.faults.Only != "" && a.faults.Only != ep {
		return FaultNone
	}
	u := a.rng.Float64()
	for _, r := range a.faults.rates() {
		if u < r.p {
			if r.fault == FaultServerError && a.rng.IntN(2) == 1 {
				return FaultUnavailable
			}
			return r.fault
		}
		u -= r.p
	}
	return FaultNone
}

// latency is the wait before the next request is processed. The caller
// holds a.mu.
func (a *Account) latency() time.Duration {
	d := a.faults.Latency
	if j := a.faults.LatencyJitter; j > 0 {
		d += time.Duration(a.rng.Int64N(int64(j)))
	}
	return d
}
