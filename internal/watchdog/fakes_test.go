package watchdog

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
	// balanceErr and topUpErr, when set, answer the next calls in order.
	balanceErr []error
	topUpErr   []error
	// applyOnError applies a top-up even when it answers with an error
	// (Vonage applied it but the answer was lost).
	applyOnError bool
	// creditLater holds applied top-ups back until credit() is called.
	creditLater bool
	owed        int
	// during, when set, runs inside every top-up call, as time passing
	// while the request is in flight.
	during func()
}

var _ Vonage = (*fakeVonage)(nil)

func (f *fakeVonage) GetBalance(context.Context) (vonage.Balance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.balanceErr) > 0 {
		err := f.balanceErr[0]
		f.balanceErr = f.balanceErr[1:]
		if err != nil {
			return vonage.Balance{}, err
		}
	}
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
		if f.creditLater {
			f.owed++
		} else {
			f.balance = f.balance.Add(f.amount)
		}
	}
	return err
}

// credit lets every applied top-up show in the balance.
func (f *fakeVonage) credit() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.balance = f.balance.Add(f.amount.Mul(decimal.NewFromInt(int64(f.owed))))
	f.owed = 0
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

// harness is one watchdog over the fakes, with its log lines captured.
type harness struct {
	t      *testing.T
	api    *fakeVonage
	ledger *testLedger
	clock  *clocktest.Clock
	logs   *observer.ObservedLogs
	events []Event
	w      *Watchdog
	opts   Options
}

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// noWait retries at once, up to 4 times.
func noWait() retry.Backoff { return retry.WithMaxRetries(4, retry.NewConstant(time.Nanosecond)) }

func newHarness(t *testing.T, balance string, edit ...func(*Options)) *harness {
	t.Helper()
	h := &harness{
		t:      t,
		api:    &fakeVonage{balance: eur(balance), autoReload: true, amount: eur("50")},
		ledger: newTestLedger(),
		clock:  clocktest.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)),
	}
	h.opts = Options{
		Settings: policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 15 * time.Minute, MaxPerDay: 5},
		Now:      h.clock.Now, Monotonic: h.clock.Monotonic, ReadBackoff: noWait, SendBackoff: noWait,
		NewID: counter(),
	}
	for _, e := range edit {
		e(&h.opts)
	}
	h.restart()
	return h
}

func counter() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("intent-%d", n) }
}

// restart builds a new watchdog on the same ledger, as a restarted process.
func (h *harness) restart() {
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	o := h.opts
	o.Log = zap.New(core)
	o.Observer = ObserverFunc(func(e Event) { h.events = append(h.events, e) })
	h.w = New(h.api, h.ledger, o)
}

func (h *harness) check() { h.w.Check(context.Background()) }

// decisions returns "action/reason" of each decision line so far.
func (h *harness) decisions() []string {
	var out []string
	for _, e := range h.logs.FilterMessage(msgDecision).All() {
		m := e.ContextMap()
		out = append(out, fmt.Sprintf("%s/%s", m[fieldAction], m[fieldReason]))
	}
	return out
}

func (h *harness) lines(msg string) []observer.LoggedEntry {
	return h.logs.FilterMessage(msg).All()
}

// vonageErr builds the client's error for one kind of failure.
func vonageErr(kind vonage.Kind, status int, sent bool) error {
	return &vonage.Error{Op: "top up", Kind: kind, Status: status, Sent: sent, Err: errors.New("fake")}
}
