package watchdog

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// Observer is told of everything a check does, after the decision log line is
// written. Observe must return quickly and must not block: metrics, probes and
// notifications implement it.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f.
func (f ObserverFunc) Observe(e Event) { f(e) }

// Event is one of the event types below.
type Event interface{ event() }

// CheckStarted: a scheduled check began.
type CheckStarted struct {
	At time.Time
}

// CheckFailed: the balance could not be read after its retries.
type CheckFailed struct {
	At       time.Time
	Err      error // redacted
	Attempts int
	// CredentialsRejected is set when Vonage answered "authentication failed".
	CredentialsRejected bool
	// Consecutive counts the failed checks in a row, this one included.
	Consecutive int
}

// Decided: a balance was read and the policy decided. It is sent for every
// check that read a balance.
type Decided struct {
	At         time.Time
	Balance    decimal.Decimal
	AutoReload bool
	Decision   policy.Decision
	DryRun     bool
	// WindowOpen is whether a top-up that may have reached Vonage is
	// unconfirmed and inside its window after this check.
	WindowOpen bool
	// Threshold and Target are the settings the decision was made with.
	Threshold decimal.Decimal
	Target    decimal.Decimal
	// Recorded is whether the ledger holds the decision; false when it
	// could not be written (a LedgerFailed follows).
	Recorded bool
	// Spend is what was spent since the ledger's last reading (its fall;
	// zero after a rise, or with no reading to compare with). In a fleet
	// each span between two readings is counted by the replica that read
	// its end, so the replicas' sums add up to the account's spend.
	Spend decimal.Decimal
}

// TopUpFinished: a top-up request ended with an outcome.
type TopUpFinished struct {
	At            time.Time
	IntentID      string
	Outcome       ledger.Outcome
	Attempts      int
	Duration      time.Duration
	BalanceBefore decimal.Decimal
	Err           error // redacted; nil when Outcome is Succeeded
	// HoldUntil is set when Vonage answered 429 with a Retry-After: no
	// top-up is sent before it.
	HoldUntil time.Time
	// AutoReloadDisabled is set when Vonage rejected it as "not auto-reload
	// enabled"; CredentialsRejected when as "authentication failed".
	AutoReloadDisabled  bool
	CredentialsRejected bool
}

// TopUpConfirmed: the credit of an earlier top-up showed up in the balance.
type TopUpConfirmed struct {
	At            time.Time
	IntentID      string
	BalanceBefore decimal.Decimal
	BalanceAfter  decimal.Decimal
	After         time.Duration
}

// TopUpUnconfirmed: the window of a top-up ended and its credit never showed.
type TopUpUnconfirmed struct {
	At            time.Time
	IntentID      string
	BalanceBefore decimal.Decimal
	Outcome       ledger.Outcome
}

// LedgerFailed: the ledger could not be written; no top-up was sent.
type LedgerFailed struct {
	At  time.Time
	Err error
}

func (CheckStarted) event()     {}
func (CheckFailed) event()      {}
func (Decided) event()          {}
func (TopUpFinished) event()    {}
func (TopUpConfirmed) event()   {}
func (TopUpUnconfirmed) event() {}
func (LedgerFailed) event()     {}

// Observers tells each of its observers of every event, in order.
type Observers []Observer

// Observe passes e to every observer.
func (o Observers) Observe(e Event) {
	for _, x := range o {
		x.Observe(e)
	}
}

// TickWon: this replica has the schedule's tick for the fleet and reads the
// balance.
type TickWon struct {
	At time.Time
}

// TickSkipped: another replica of the fleet has this tick; this one reads
// nothing. Last is the fleet's last balance reading, nil before the first.
type TickSkipped struct {
	At     time.Time
	Holder string
	Last   *ledger.Reading
}

// TickFailed: the fleet could not be asked for the tick (Redis failed);
// this replica reads the balance on its own.
type TickFailed struct {
	At  time.Time
	Err error
}

// ClaimLost: this replica decided for a top-up, and another replica's claim
// was written first; this one sends nothing.
type ClaimLost struct {
	At time.Time
}

// RedisUnreachable: the fleet's Redis failed a command after it had
// answered (or since start). Err is redacted. No top-up is sent until it is
// back. cmd emits it, from the Redis ledger's round trips.
type RedisUnreachable struct {
	At  time.Time
	Err error
}

// RedisReachable: Redis answered again after RedisUnreachable; Down is how
// long it did not.
type RedisReachable struct {
	At   time.Time
	Down time.Duration
}

// AttemptRetried: an attempt of a balance read (Op OpGetBalance) or of a
// top-up (OpTopUp) failed and is tried again after Wait, a Retry-After
// included. Attempt counts from 1. The last attempt of a call is not
// reported so: a CheckFailed or a TopUpFinished ends it.
type AttemptRetried struct {
	At      time.Time
	Op      string
	Attempt int
	Wait    time.Duration
	Err     error // redacted
}

// CheckSkipped: the check before ran Ran, past the schedule's next run
// time: Runs run times (1 or more) passed while it ran, and no check
// started at them.
type CheckSkipped struct {
	At   time.Time
	Ran  time.Duration
	Runs int
}

func (AttemptRetried) event() {}
func (CheckSkipped) event()   {}

func (TickWon) event()          {}
func (TickSkipped) event()      {}
func (TickFailed) event()       {}
func (ClaimLost) event()        {}
func (RedisUnreachable) event() {}
func (RedisReachable) event()   {}
