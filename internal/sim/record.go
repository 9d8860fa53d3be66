package sim

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/shopspring/decimal"
)

// Stats counts what the account has seen.
type Stats struct {
	// BalanceRequests and TopUpRequests count requests to each endpoint
	// with the right method, whatever came of them.
	BalanceRequests int `json:"balance_requests"`
	TopUpRequests   int `json:"top_up_requests"`
	// TopUpsApplied counts top-ups applied (credited after CreditDelay).
	TopUpsApplied int `json:"top_ups_applied"`
	// TopUpsRejected counts top-ups refused with 401: credentials, trx,
	// auto-reload disabled, or FaultRefuseAuth.
	TopUpsRejected int `json:"top_ups_rejected"`
	// AuthFailures counts requests refused for their credentials (not
	// counting FaultRefuseAuth) on either endpoint.
	AuthFailures int `json:"auth_failures"`
	// AuthBasic and AuthQuery count requests that presented credentials
	// in the Authorization header or in the query string.
	AuthBasic int `json:"auth_basic"`
	AuthQuery int `json:"auth_query"`
	// IdempotencyKeys counts requests carrying an Idempotency-Key or
	// X-Idempotency-Key header (Go's http.Transport replays such requests).
	IdempotencyKeys int `json:"idempotency_keys"`
	// Other counts requests to other paths or with other methods.
	Other int `json:"other"`
	// Faults counts the injected faults by kind.
	Faults map[Fault]int `json:"faults"`
	// Hanging is how many requests are being held without an answer now.
	Hanging int `json:"hanging"`
}

// Result is what the account made of a top-up request.
type Result string

// The results of a top-up request.
const (
	ResultApplied            Result = "applied"
	ResultAuthFailed         Result = "auth_failed"
	ResultBadTRX             Result = "bad_trx"
	ResultAutoReloadDisabled Result = "auto_reload_disabled"
	// ResultNotProcessed: a fault answered before processing, or the client
	// left during the latency.
	ResultNotProcessed Result = "not_processed"
)

// AuthStyle is how a request presented its credentials.
type AuthStyle string

// The authentication styles.
const (
	AuthNone  AuthStyle = "none"
	AuthBasic AuthStyle = "basic"
	AuthQuery AuthStyle = "query"
)

// TopUp is the record of one top-up request.
type TopUp struct {
	// Seq numbers the top-up requests from 1, in the order received.
	Seq int `json:"seq"`
	// ReceivedAt is when the request was processed (after the latency).
	ReceivedAt time.Time `json:"received_at"`
	Applied    bool      `json:"applied"`
	Result     Result    `json:"result"`
	// Status is the HTTP status answered; 0 when no answer was sent.
	Status int `json:"status"`
	// Fault is the fault injected, FaultNone if none.
	Fault Fault `json:"fault,omitempty"`
	// BalanceBefore is the balance when it was received, 8 decimal places.
	BalanceBefore decimal.Decimal `json:"balance_before"`
	// Amount and CreditAt are the credit of an applied top-up and when it
	// shows in the balance; zero when not applied.
	Amount   decimal.Decimal `json:"amount"`
	CreditAt time.Time       `json:"credit_at,omitzero"`
	Auth     AuthStyle       `json:"auth"`
	// IdempotencyKey is the Idempotency-Key (or X-Idempotency-Key) header.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// TRXInQuery is set when the query string carried a trx: the spec puts it
	// in the form body only, and a URL is easily logged.
	TRXInQuery bool `json:"trx_in_query,omitempty"`
}

// CreditedBy reports whether t's credit shows in the balance at now.
func (t TopUp) CreditedBy(now time.Time) bool {
	return t.Applied && !now.Before(t.CreditAt)
}

// Stats returns a copy of the counts.
func (a *Account) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.statsLocked()
}

func (a *Account) statsLocked() Stats {
	s := a.stats
	s.Faults = maps.Clone(a.stats.Faults)
	return s
}

// TopUps returns the record of every top-up request received, oldest first.
func (a *Account) TopUps() []TopUp {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]TopUp{}, a.topUps...)
}

// Wait blocks until cond holds for the stats, or ctx ends. cond is called
// without the account's lock held, at once and after every change.
func (a *Account) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		a.mu.Lock()
		s, ch := a.statsLocked(), a.changed
		a.watched = true
		a.mu.Unlock()
		if cond(s) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for simulated account: %w", ctx.Err())
		}
	}
}

// notify wakes every Wait. The caller holds a.mu.
func (a *Account) notify() {
	if !a.watched { // nobody holds the channel: spare making a new one
		return
	}
	a.watched = false
	close(a.changed)
	a.changed = make(chan struct{})
}

// hold counts a request held without an answer, for as long as it is.
func (a *Account) hold(delta int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Hanging += delta
	a.notify()
}
