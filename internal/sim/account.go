// Package sim owns a simulated Vonage account: the two Account API endpoints
// the watchdog calls (GET /account/get-balance and POST /account/top-up),
// answered as shared/vonage/account-api.yml describes them, over a balance
// that drains with time (at a steady rate, and at the pace of spends spread
// over spans, as a usage trace's rows are), drops in bursts and rises when
// top-ups are credited. Direct calls the same account in process, without
// HTTP and without faults, for replays in simulated time.
//
// It injects faults (latency, 5xx, 429, answers that never come, reset
// connections, unreadable bodies, refused credentials), at random or scripted
// request by request, and records every request so tests, the demo and the
// fault-storm checker can say what the watchdog did to the account.
//
// The balance is computed lazily from the clock (Config.Now), so a month of
// simulated time costs nothing to wait for; reading it as time goes forward
// costs O(1) each, however long the history. It may go negative: the drain
// never stops, and a negative balance stands for traffic that would have
// failed. Amounts are exact decimals; the balance is reported, like Vonage
// does, rounded to 8 decimal places.
//
// Account.Handler serves the endpoints, plus control endpoints under /_sim/
// that let a test drive a simulator running as its own process (GET stats,
// topups, state; POST balance, drain, auto-reload, script). Serve and
// ListenAndServe run it on a listener until a context ends.
//
// An Account is safe for concurrent use. It starts no goroutine of its own;
// Serve and ListenAndServe own the HTTP server they start.
package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// Burst is a one-off drop of the balance.
type Burst struct {
	// At is when the drop happens, counted from the account's creation.
	At time.Duration
	// Amount is subtracted from the balance.
	Amount decimal.Decimal
}

// Spend is spend spread evenly over a span of time: Amount leaves the
// balance at a steady pace from From to To, both counted from the account's
// creation. A usage trace's row is one: what it spent since the row before,
// over the time since then, so that checks inside the span see the pace,
// not one drop.
type Spend struct {
	From, To time.Duration
	Amount   decimal.Decimal
}

// Config describes a simulated account.
type Config struct {
	// APIKey, APISecret and TRX are checked on every request.
	APIKey, APISecret, TRX string
	// Balance is the starting balance in EUR.
	Balance    decimal.Decimal
	AutoReload bool
	// TopUpAmount is added by each applied top-up.
	TopUpAmount decimal.Decimal
	// CreditDelay is how long after it is applied a top-up shows in the
	// balance; it shows at exactly ReceivedAt+CreditDelay.
	CreditDelay time.Duration
	// DrainPerSecond is taken from the balance continuously, in EUR/s.
	DrainPerSecond decimal.Decimal
	// Bursts are one-off drops.
	Bursts []Burst
	// Spends are spend spread over spans, on top of DrainPerSecond: the
	// pace of the drain changes at their ends. They are sorted and do not
	// overlap.
	Spends []Spend
	// Faults are the random faults; see also Account.Script.
	Faults Faults
	// Now is the clock; nil means time.Now. Latency and hanging answers
	// always take wall time: they are the network's, not the account's.
	Now func() time.Time
	// Seed seeds the random faults and latency jitter.
	Seed int64
}

// Account is a simulated Vonage account. Create it with New.
type Account struct {
	now         func() time.Time
	start       time.Time
	key, secret string
	trx         string
	topUpAmount decimal.Decimal
	creditDelay time.Duration
	drain       decimal.Decimal
	startValue  decimal.Decimal
	spends      []spend

	mu         sync.Mutex
	autoReload bool
	events     []event
	cur        cursor // where the last balanceAt left off
	faults     Faults
	rng        *rand.Rand
	script     map[Endpoint][]Fault
	stats      Stats
	topUps     []TopUp
	changed    chan struct{}
	watched    bool // Wait holds changed
}

// New returns an account whose clock starts now (Config.Now).
func New(cfg Config) (*Account, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	a := &Account{
		now:         now,
		start:       now(),
		key:         cfg.APIKey,
		secret:      cfg.APISecret,
		trx:         cfg.TRX,
		topUpAmount: cfg.TopUpAmount,
		creditDelay: cfg.CreditDelay,
		drain:       cfg.DrainPerSecond,
		startValue:  cfg.Balance,
		autoReload:  cfg.AutoReload,
		faults:      cfg.Faults,
		rng:         rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x5eed)),
		script:      map[Endpoint][]Fault{},
		stats:       Stats{Faults: map[Fault]int{}},
		changed:     make(chan struct{}),
	}
	for _, b := range cfg.Bursts {
		a.addEvent(a.start.Add(b.At), b.Amount.Neg())
	}
	a.spends = make([]spend, len(cfg.Spends))
	for i, sp := range cfg.Spends {
		a.spends[i] = spend{from: a.start.Add(sp.From), to: a.start.Add(sp.To), amount: sp.Amount}
	}
	return a, nil
}

func (c Config) validate() error {
	var errs []error
	if c.APIKey == "" || c.APISecret == "" || c.TRX == "" {
		errs = append(errs, errors.New("api key, api secret and trx must not be empty"))
	}
	if c.TopUpAmount.IsNegative() {
		errs = append(errs, fmt.Errorf("top-up amount %s is negative", c.TopUpAmount))
	}
	if c.CreditDelay < 0 {
		errs = append(errs, fmt.Errorf("credit delay %s is negative", c.CreditDelay))
	}
	if c.DrainPerSecond.IsNegative() {
		errs = append(errs, fmt.Errorf("drain per second %s is negative", c.DrainPerSecond))
	}
	for i, b := range c.Bursts {
		if b.At < 0 {
			errs = append(errs, fmt.Errorf("burst %d: time %s is negative", i, b.At))
		}
	}
	errs = append(errs, validateSpends(c.Spends)...)
	if err := c.Faults.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid simulated account: %w", err)
	}
	return nil
}

// validateSpends checks that each spend has a span and no negative amount,
// and that they come in order without overlapping.
func validateSpends(spends []Spend) []error {
	var errs []error
	for i, s := range spends {
		switch {
		case s.From < 0 || s.To <= s.From:
			errs = append(errs, fmt.Errorf("spend %d: span %s to %s is not a span after the start", i, s.From, s.To))
		case s.Amount.IsNegative():
			errs = append(errs, fmt.Errorf("spend %d: amount %s is negative", i, s.Amount))
		case i > 0 && s.From < spends[i-1].To:
			errs = append(errs, fmt.Errorf("spend %d: starts at %s, before spend %d ends", i, s.From, i-1))
		}
	}
	return errs
}

// Started is when the account was created, on its clock.
func (a *Account) Started() time.Time { return a.start }

// Now is the time on the account's clock.
func (a *Account) Now() time.Time { return a.now() }

// Balance is the balance now, rounded to 8 decimal places.
func (a *Account) Balance() decimal.Decimal {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.balanceAt(a.now()).Round(balancePlaces)
}

// AutoReload reports whether auto-reload is enabled.
func (a *Account) AutoReload() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.autoReload
}

// SetAutoReload enables or disables auto-reload. While it is disabled,
// top-ups are refused with 401 "not auto-reload enabled".
func (a *Account) SetAutoReload(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.autoReload = on
}

// SetBalance makes the balance exactly d now. Drain, bursts and credits that
// are still to come keep applying from there.
func (a *Account) SetBalance(d decimal.Decimal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.addEvent(now, d.Sub(a.balanceAt(now)))
}

// Drain takes amount from the balance now.
func (a *Account) Drain(amount decimal.Decimal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addEvent(a.now(), amount.Neg())
}

// SetFaults replaces the random faults.
func (a *Account) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("set faults: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults = f
	return nil
}

// Script queues faults for the next requests to ep, one per request, in
// order. Scripted faults go before random ones; FaultNone answers normally.
func (a *Account) Script(ep Endpoint, faults ...Fault) error {
	if !ep.valid() {
		return fmt.Errorf("script faults: unknown endpoint %q", ep)
	}
	for _, f := range faults {
		if !f.valid() {
			return fmt.Errorf("script faults: unknown fault %q", f)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.script[ep] = append(a.script[ep], faults...)
	return nil
}

// Scripted is how many scripted faults for ep are still queued.
func (a *Account) Scripted(ep Endpoint) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.script[ep])
}
