package watchdog

// The unit setup: a watchdog over fakes, for what the simulated account on
// loopback (world_test.go, where the scenarios are) cannot reach: a ledger
// write that fails, a crash point, time passing on the test's clock inside
// a call, a Vonage answer the account never gives, a shutdown mid-call,
// and the package's internals.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// fakeVonage is an account: a balance, an auto-reload flag, and top-ups that
// are applied and credited by the test's rules.
type fakeVonage struct {
	mu         sync.Mutex
	balance    decimal.Decimal
	autoReload bool
	amount     decimal.Decimal
	topUps     int
	// topUpErr, when set, answers the next calls in order, with any error
	// kind (the simulated account answers no 400).
	topUpErr []error
	// applyOnError applies a top-up even when it answers with an error
	// (Vonage applied it but the answer was lost).
	applyOnError bool
	// creditLater keeps applied top-ups out of the balance: their credit
	// lags past the test.
	creditLater bool
	// during, when set, runs inside every top-up call, as time passing on
	// the test's clock while the request is in flight: what the simulated
	// account, whose latency is wall time, cannot do.
	during func()
}

var _ Vonage = (*fakeVonage)(nil)

func (f *fakeVonage) GetBalance(context.Context) (vonage.Balance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return vonage.Balance{Value: f.balance, AutoReload: f.autoReload}, nil
}

func (f *fakeVonage) TopUp(context.Context) error {
	if f.during != nil {
		f.during()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topUps++
	var err error
	if len(f.topUpErr) > 0 {
		err = f.topUpErr[0]
		f.topUpErr = f.topUpErr[1:]
	}
	if err == nil || f.applyOnError {
		if e, ok := vonage.AsError(err); ok && !e.Sent {
			return err
		}
		if !f.creditLater {
			f.balance = f.balance.Add(f.amount)
		}
	}
	return err
}

func (f *fakeVonage) set(balance string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.balance = decimal.RequireFromString(balance)
}

func (f *fakeVonage) sent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.topUps
}

// testLedger is a ledger.Memory whose next Update fails after fn ran when
// failNext is set, as a failed write does: the state stays as it was.
type testLedger struct {
	*ledger.Memory
	failNext error // read and cleared under the Memory's lock
}

var _ Ledger = (*testLedger)(nil)

func newTestLedger() *testLedger { return &testLedger{Memory: ledger.NewMemory(ledger.State{})} }

func (l *testLedger) Update(ctx context.Context, fn func(*ledger.State) error) error {
	return l.Memory.Update(ctx, func(s *ledger.State) error {
		if err := fn(s); err != nil {
			return err
		}
		if err := l.failNext; err != nil { // the write fails, as File's would
			l.failNext = nil
			return err
		}
		return nil
	})
}

// seed replaces the records, as an earlier process left them.
func (l *testLedger) seed(records ...ledger.Record) {
	err := l.Memory.Update(context.Background(), func(s *ledger.State) error {
		s.TopUps = records
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("seed the ledger: %v", err))
	}
}

// state returns what the ledger holds.
func (l *testLedger) state() ledger.State {
	s, err := l.View(context.Background())
	if err != nil {
		panic(fmt.Sprintf("view the ledger: %v", err))
	}
	return s
}

// unit is one watchdog over the fakes, with its log lines captured.
type unit struct {
	t      *testing.T
	api    *fakeVonage
	ledger *testLedger
	clock  *clocktest.Clock
	logs   *observer.ObservedLogs
	w      *Watchdog
	opts   Options
}

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// noWait retries at once, up to 4 times.
func noWait() retry.Backoff { return retry.WithMaxRetries(4, retry.NewConstant(time.Nanosecond)) }

func newUnit(t *testing.T, balance string, edit ...func(*Options)) *unit {
	t.Helper()
	u := &unit{
		t:      t,
		api:    &fakeVonage{balance: eur(balance), autoReload: true, amount: eur("50")},
		ledger: newTestLedger(),
		clock:  clocktest.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)),
	}
	u.opts = Options{
		Settings: policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 15 * time.Minute, MaxPerDay: 5},
		Now:      u.clock.Now, Monotonic: u.clock.Monotonic, ReadBackoff: noWait, SendBackoff: noWait,
		NewID: counter(),
	}
	for _, e := range edit {
		e(&u.opts)
	}
	u.restart()
	return u
}

func counter() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("intent-%d", n) }
}

// restart builds a new watchdog on the same ledger, as a restarted process.
func (u *unit) restart() {
	core, logs := observer.New(zap.DebugLevel)
	u.logs = logs
	o := u.opts
	o.Log = zap.New(core)
	u.w = New(u.api, u.ledger, o)
}

func (u *unit) check() { u.w.Check(context.Background()) }

// decisions returns "action/reason" of each decision line so far.
func (u *unit) decisions() []string {
	var out []string
	for _, e := range u.logs.FilterMessage(msgDecision).All() {
		m := e.ContextMap()
		out = append(out, fmt.Sprintf("%s/%s", m[fieldAction], m[fieldReason]))
	}
	return out
}

func (u *unit) lines(msg string) []observer.LoggedEntry {
	return u.logs.FilterMessage(msg).All()
}

// vonageErr builds the client's error for one kind of failure.
func vonageErr(kind vonage.Kind, status int, sent bool) error {
	return &vonage.Error{Op: "top up", Kind: kind, Status: status, Sent: sent, Err: errors.New("fake")}
}
