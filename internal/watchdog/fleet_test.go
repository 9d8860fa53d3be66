package watchdog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The watchdog's side of the fleet, with the fleet's answers scripted. The
// Redis ledger that gives them for real is tested against a real
// redis-server in internal/ledger, and the fleet end to end in internal/e2e.
// Fakes: the fleet's answers and the ledger's races are scripted, which no
// simulated account gives.

// scriptedFleet answers Tick from its fields and records the leases asked.
type scriptedFleet struct {
	mu     sync.Mutex
	tick   ledger.Tick
	err    error
	leases []time.Duration
}

func (f *scriptedFleet) Tick(_ context.Context, lease time.Duration) (ledger.Tick, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leases = append(f.leases, lease)
	return f.tick, f.err
}

// replica is one watchdog of a fleet over a scripted fleet.
type replica struct {
	api    *fakeVonage
	fleet  *scriptedFleet
	ledger Ledger
	clock  *clocktest.Clock
	logs   *observer.ObservedLogs
	events []Event
	w      *Watchdog
}

func newReplica(t *testing.T, balance string, l Ledger) *replica {
	t.Helper()
	if l == nil {
		l = ledger.NewMemory(ledger.State{})
	}
	core, logs := observer.New(zap.DebugLevel)
	r := &replica{
		api:   &fakeVonage{balance: eur(balance), autoReload: true, amount: eur("50")},
		fleet: &scriptedFleet{tick: ledger.Tick{Won: true, Holder: "me"}},
		clock: clocktest.New(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)), ledger: l, logs: logs,
	}
	r.w = New(r.api, l, Options{
		Settings: policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 15 * time.Minute, MaxPerDay: 5},
		Fleet:    r.fleet, Replica: "me", Now: r.clock.Now, Monotonic: r.clock.Monotonic,
		ReadBackoff: noWait, SendBackoff: noWait, NewID: counter(), Log: zap.New(core),
		Observer: ObserverFunc(func(e Event) { r.events = append(r.events, e) }),
	})
	return r
}

func (r *replica) reads() int {
	return len(r.logs.FilterMessage(msgDecision).All())
}

func eventsOf[E Event](events []Event) []E {
	var out []E
	for _, e := range events {
		if x, ok := e.(E); ok {
			out = append(out, x)
		}
	}
	return out
}

func TestAReplicaThatLosesTheTickReadsNothingAndServesTheFleetsReading(t *testing.T) {
	r := newReplica(t, "5", nil)
	last := &ledger.Reading{At: r.clock.Now().Add(-time.Second), Balance: eur("42.5"), AutoReload: true, Replica: "other"}
	r.fleet.tick = ledger.Tick{Won: false, Holder: "other", Last: last}
	r.w.check(context.Background(), time.Second)

	if n := r.reads(); n != 0 || r.api.sent() != 0 {
		t.Fatalf("lost tick: %d decisions, %d top-ups; want neither", n, r.api.sent())
	}
	skipped := eventsOf[TickSkipped](r.events)
	if len(skipped) != 1 || skipped[0].Holder != "other" || skipped[0].Last == nil || !skipped[0].Last.Balance.Equal(eur("42.5")) {
		t.Fatalf("TickSkipped events %+v, want one from holder other with the fleet's reading", skipped)
	}
	lines := r.logs.FilterMessage(msgTickTaken).All()
	if len(lines) != 1 || lines[0].Level != zap.DebugLevel || lines[0].ContextMap()[fieldHolder] != "other" {
		t.Errorf("tick-taken lines %v, want one at debug naming the holder", lines)
	}
	if got := r.fleet.leases; len(got) != 1 || got[0] != time.Second {
		t.Errorf("leases asked %v, want [1s]", got)
	}
}

func TestAReplicaThatWinsTheTickReadsAndSharesItsReading(t *testing.T) {
	l := ledger.NewMemory(ledger.State{})
	r := newReplica(t, "50", l)
	r.w.check(context.Background(), time.Second)
	if r.reads() != 1 || len(eventsOf[TickWon](r.events)) != 1 {
		t.Fatalf("won tick: %d decisions, %d TickWon; want 1 and 1", r.reads(), len(eventsOf[TickWon](r.events)))
	}
	st, _ := l.View(context.Background())
	if st.Reading == nil || !st.Reading.Balance.Equal(eur("50")) || !st.Reading.AutoReload ||
		!st.Reading.At.Equal(r.clock.Now()) || st.Reading.Replica != "me" {
		t.Errorf("the ledger's reading %+v, want 50, auto-reload on, now, by me", st.Reading)
	}
}

// Rule 10: with Redis down the tick cannot be asked for; every replica then
// reads, so the balance is still watched, and logs why.
func TestATickThatFailsIsReadAlone(t *testing.T) {
	r := newReplica(t, "50", nil)
	r.fleet.err = errors.New("redis ledger: tick: dial tcp 127.0.0.1:1: connect: connection refused")
	r.w.check(context.Background(), time.Second)
	if r.reads() != 1 {
		t.Fatalf("%d decisions, want 1: a failed tick is read alone", r.reads())
	}
	if n := len(eventsOf[TickFailed](r.events)); n != 1 {
		t.Errorf("%d TickFailed events, want 1", n)
	}
	if n := len(r.logs.FilterMessage(msgTickFailed).All()); n != 1 {
		t.Errorf("%d tick-failed lines, want 1", n)
	}
}

// An operator's one-off check reads even when another replica has the tick.
func TestCheckReadsWithoutAskingForTheTick(t *testing.T) {
	r := newReplica(t, "50", nil)
	r.fleet.tick = ledger.Tick{Won: false, Holder: "other"}
	r.w.Check(context.Background())
	if r.reads() != 1 || len(r.fleet.leases) != 0 {
		t.Errorf("Check: %d decisions, leases %v; want a read and no tick asked", r.reads(), r.fleet.leases)
	}
}

// The schedule's tick is leased for the span to this replica's next run.
func TestRunLeasesTheTickUntilTheNextRun(t *testing.T) {
	r := newReplica(t, "50", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.w.Run(ctx, every(10*time.Millisecond), time.Second) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.fleet.mu.Lock()
		n := len(r.fleet.leases)
		r.fleet.mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.fleet.mu.Lock()
	defer r.fleet.mu.Unlock()
	if len(r.fleet.leases) < 2 {
		t.Fatalf("leases %v, want two ticks asked for", r.fleet.leases)
	}
	for _, l := range r.fleet.leases {
		if l != 10*time.Millisecond {
			t.Errorf("lease %s, want the schedule's 10ms", l)
		}
	}
}

// racingLedger runs an Update's fn once on a copy that it throws away, then
// lets another replica's intent in, then runs fn again for real: what an
// optimistic transaction does when another replica wrote first.
type racingLedger struct {
	*ledger.Memory
	once sync.Once
	at   time.Time
}

func (l *racingLedger) Update(ctx context.Context, fn func(*ledger.State) error) error {
	raced := false
	l.once.Do(func() {
		st, _ := l.View(ctx)
		_ = fn(&st) // the first run, lost
		raced = true
	})
	if raced {
		if err := l.Memory.Update(ctx, func(st *ledger.State) error {
			st.TopUps = append(st.TopUps, ledger.Record{ID: "theirs", At: l.at, BalanceBefore: eur("5"), Outcome: ledger.Pending})
			return nil
		}); err != nil {
			return err
		}
	}
	return l.Memory.Update(ctx, fn)
}

// Rule 8 from the watchdog's side: a claim that loses the race sends
// nothing, says so, and counts it.
func TestAClaimLostToAnotherReplicaSendsNothing(t *testing.T) {
	l := &racingLedger{Memory: ledger.NewMemory(ledger.State{})}
	r := newReplica(t, "5", l)
	l.at = r.clock.Now()
	r.w.check(context.Background(), time.Second)
	if r.api.sent() != 0 {
		t.Fatalf("%d top-ups sent, want 0: the other replica's claim was written first", r.api.sent())
	}
	if got := len(eventsOf[ClaimLost](r.events)); got != 1 {
		t.Errorf("%d ClaimLost events, want 1", got)
	}
	if got := len(r.logs.FilterMessage(msgClaimLost).All()); got != 1 {
		t.Errorf("%d claim-lost lines, want 1", got)
	}
	d := eventsOf[Decided](r.events)
	if len(d) != 1 || d[0].Decision.Reason != policy.ReasonWindowOpen {
		t.Errorf("decisions %+v, want one window_open", d)
	}
}

// A step of the fleet's clock is the fleet's: one replica must not move the
// shared records by it (every replica would move them again).
func TestAStepOfTheFleetsClockMovesNoRecord(t *testing.T) {
	at := time.Date(2026, 12, 2, 11, 55, 0, 0, time.UTC)
	l := ledger.NewMemory(ledger.State{TopUps: []ledger.Record{{ID: "a", At: at, BalanceBefore: eur("5"), Outcome: ledger.Pending}}})
	r := newReplica(t, "5", l)
	r.w.check(context.Background(), time.Second)
	r.clock.Step(time.Hour)
	r.w.check(context.Background(), time.Second)
	st, _ := l.View(context.Background())
	if got := st.Find("a"); got == nil || !got.At.Equal(at) {
		t.Errorf("record a after a step of the fleet's clock: %+v, want At %s unchanged", got, at)
	}
	if n := len(r.logs.FilterMessage(msgClockStepped).All()); n != 0 {
		t.Errorf("%d system-clock-stepped lines, want none: the fleet's clock is not this process's", n)
	}
	if st.Clock != nil {
		t.Errorf("clock mark %+v written, want none in a fleet", st.Clock)
	}
}

// A fleet's clock is re-anchored on Redis's TIME between checks, so on waking
// for a run time it may read a few microseconds before it. "@every 1s"
// rounds to the second: the run waited for must still count as that run,
// or the next would be microseconds away, skipped with a warning, and the
// tick leased for those microseconds.
func TestAClockReadingEarlyOnWakingKeepsTheRunAndItsLease(t *testing.T) {
	r := newReplica(t, "50", nil)
	r.clock = clocktest.New(time.Date(2026, 12, 2, 12, 0, 0, 500_000_000, time.UTC))
	var skew atomic.Int64 // how far the fleet's clock reads behind r.clock
	o := r.w.opts
	o.Now = func() time.Time { return r.clock.Now().Add(-time.Duration(skew.Load())) }
	o.Monotonic, o.After = r.clock.Monotonic, r.clock.After
	r.w = New(r.api, r.ledger, o)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.w.Run(ctx, cron.Every(time.Second), time.Second) }()
	waitFor(t, func() bool { return r.clock.Waiters() == 1 })
	skew.Store(int64(time.Microsecond))
	r.clock.Advance(500 * time.Millisecond) // to 12:00:01, read as 12:00:00.999999
	waitFor(t, func() bool { return r.clock.Waiters() == 1 && len(r.leasesAsked()) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := r.leasesAsked(); got[0] != 500*time.Millisecond || got[1] != time.Second {
		t.Errorf("leases %v, want [500ms 1s]: the run woken for keeps its whole second", got)
	}
	if n := len(r.logs.FilterMessageSnippet(msgCheckSkipped).All()); n != 0 {
		t.Errorf("%d check-skipped warnings, want none", n)
	}
}

func (r *replica) leasesAsked() []time.Duration {
	r.fleet.mu.Lock()
	defer r.fleet.mu.Unlock()
	return append([]time.Duration(nil), r.fleet.leases...)
}

// waitFor waits up to 5 s for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// downLedger fails every Update before it can run fn, as a Redis ledger
// does while Redis is down: the ledger cannot even be read.
type downLedger struct{ *ledger.Memory }

func (downLedger) Update(context.Context, func(*ledger.State) error) error {
	return errors.New("redis ledger: update: dial tcp 127.0.0.1:1: connect: connection refused")
}

// Rule 10: with Redis down the checks go on. Each one still logs its
// decision (on the ledger as this replica last saw it) before the failure
// that stops the top-up, so an operator can review what the balance called
// for; the failure says a top-up was wanted.
func TestALedgerThatCannotBeReadStillLogsTheDecision(t *testing.T) {
	l := ledger.NewMemory(ledger.State{})
	r := newReplica(t, "50", l)
	r.w.check(context.Background(), time.Second) // seen: no top-up pending
	r.api.set("5")
	r.w.ledger = downLedger{l}
	r.w.check(context.Background(), time.Second)

	if r.api.sent() != 0 {
		t.Fatalf("%d top-ups sent without a ledger, want 0", r.api.sent())
	}
	d := eventsOf[Decided](r.events)
	if len(d) != 2 || d[1].Decision.Action != policy.ActionTopUp || d[1].WindowOpen {
		t.Fatalf("decisions %+v, want a second one, top_up, with no window opened", d)
	}
	if n := r.reads(); n != 2 {
		t.Errorf("%d decision lines, want 2", n)
	}
	failed := r.logs.FilterMessage(msgLedgerFailed).All()
	if len(failed) != 1 || failed[0].ContextMap()["topup_wanted"] != true || failed[0].ContextMap()[fieldTopUpSent] != false {
		t.Errorf("ledger-failed lines %v, want one with topup_wanted true and topup_sent false", failed)
	}
	if n := len(eventsOf[ClaimLost](r.events)); n != 0 {
		t.Errorf("%d ClaimLost events for a claim never made", n)
	}
}

// anchoringLedger is a ledger whose clock is set by its own round trips, as
// the Redis ledger's fleet clock is by Redis's TIME: before its first
// Update the clock is the pod's (an hour behind here), and Update anchors
// it before it runs fn.
type anchoringLedger struct {
	*ledger.Memory
	anchored atomic.Bool
	redis    time.Time
}

func (l *anchoringLedger) now() time.Time {
	if l.anchored.Load() {
		return l.redis
	}
	return l.redis.Add(-time.Hour) // the pod's own clock
}

func (l *anchoringLedger) Update(ctx context.Context, fn func(*ledger.State) error) error {
	l.anchored.Store(true) // the transaction's TIME
	return l.Memory.Update(ctx, fn)
}

// A replica that has never reached Redis (it started while Redis was down)
// has only its pod's clock. The check that reaches Redis again must date
// what it writes by the fleet's clock, which that same transaction sets:
// dated by a pod clock an hour behind, its intent would hold no window for
// the others, and its records ahead of it would be redated into the past.
func TestAClaimIsDatedByTheClockItsTransactionRead(t *testing.T) {
	redisNow := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	theirs := ledger.Record{ID: "theirs", At: redisNow.Add(-20 * time.Minute), BalanceBefore: eur("5"),
		Outcome: ledger.Succeeded, FinishedAt: redisNow.Add(-20 * time.Minute)}
	l := &anchoringLedger{Memory: ledger.NewMemory(ledger.State{TopUps: []ledger.Record{theirs}}), redis: redisNow}
	r := newReplica(t, "5", l)
	o := r.w.opts
	o.Now = l.now
	r.w = New(r.api, l, o)
	r.w.check(context.Background(), time.Second)

	st, _ := l.View(context.Background())
	var mine *ledger.Record
	for i := range st.TopUps {
		if st.TopUps[i].ID != "theirs" {
			mine = &st.TopUps[i]
		}
	}
	if mine == nil || !mine.At.Equal(redisNow) {
		t.Fatalf("the intent %+v, want one dated %s, the fleet's time", mine, redisNow)
	}
	if got := st.Find("theirs"); !got.At.Equal(theirs.At) {
		t.Errorf("the other replica's record moved to %s, want %s", got.At, theirs.At)
	}
	if n := len(r.logs.FilterMessage(msgRecordAhead).All()); n != 0 {
		t.Errorf("%d records redated, want none", n)
	}
}

// failingOnce fails its first Update after fn ran without keeping the
// result, and keeps what fn wrote in lost, as a transaction whose reply was
// lost and that Redis runs later.
type failingOnce struct {
	*ledger.Memory
	failed bool
	lost   ledger.State
}

func (l *failingOnce) Update(ctx context.Context, fn func(*ledger.State) error) error {
	if !l.failed {
		l.failed = true
		st, _ := l.View(ctx)
		if err := fn(&st); err != nil {
			return err
		}
		l.lost = st
		return errors.New("redis ledger: update: i/o timeout")
	}
	return l.Memory.Update(ctx, fn)
}

// An intent whose write failed but lands later than the next update (Redis
// ran the transaction after the client gave up on it) is still closed
// not_sent when it shows: this process never sent it.
func TestAnIntentWhoseWriteLandsLateIsClosedWhenItShows(t *testing.T) {
	l := &failingOnce{Memory: ledger.NewMemory(ledger.State{})}
	r := newReplica(t, "5", l)
	r.w.check(context.Background(), time.Second) // the claim's write "fails"
	r.api.set("50")
	r.w.check(context.Background(), time.Second) // the write has not landed yet
	intent := l.lost.TopUps[0]
	if err := l.Memory.Update(context.Background(), func(st *ledger.State) error {
		st.TopUps = append(st.TopUps, intent) // now it lands
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r.w.check(context.Background(), time.Second)
	st, _ := l.View(context.Background())
	if got := st.Find(intent.ID); got == nil || got.Outcome != ledger.NotSent {
		t.Fatalf("the late intent %+v, want it closed not_sent", got)
	}
	if n := len(r.logs.FilterMessage(msgUnsentClosed).All()); n != 1 {
		t.Errorf("%d intent-closed lines, want 1", n)
	}
	if r.api.sent() != 0 {
		t.Errorf("%d top-ups sent, want none", r.api.sent())
	}
}

// recreatingLedger answers every Update as a Redis ledger does whose ledger
// key is missing at every check: it runs fn and refuses the claim.
type recreatingLedger struct{ *ledger.Memory }

func (l recreatingLedger) Update(ctx context.Context, fn func(*ledger.State) error) error {
	st, _ := l.View(ctx)
	if err := fn(&st); err != nil {
		return err
	}
	return fmt.Errorf("redis ledger: update: %w", ledger.ErrLedgerRecreated)
}

// A claim refused on a re-created ledger is expected once (after a flush, at
// a new fleet's first need) and logged as a warning; refused again at the
// next check, Redis is losing the ledger every time and no claim gets
// through: an error.
func TestALedgerLostAtEveryCheckIsAnErrorFromTheSecondTime(t *testing.T) {
	r := newReplica(t, "5", recreatingLedger{ledger.NewMemory(ledger.State{})})
	for range 3 {
		r.w.check(context.Background(), time.Second)
	}
	var levels []string
	for _, e := range r.logs.FilterMessage(msgLedgerFailed).All() {
		levels = append(levels, e.Level.String())
	}
	if fmt.Sprint(levels) != "[warn error error]" {
		t.Errorf("ledger-failed levels %v, want [warn error error]", levels)
	}
	if r.api.sent() != 0 {
		t.Errorf("%d top-ups sent, want none", r.api.sent())
	}
}
