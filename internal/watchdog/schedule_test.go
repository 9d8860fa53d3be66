package watchdog

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// Run's schedule, tested on the fakes: a check there needs no account, and
// goleak would count the simulated account's server goroutines as leaks.

// every is a cron schedule that fires every d.
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// panickyVonage panics on its first balance read and counts the others.
type panickyVonage struct {
	fakeVonage
	calls atomic.Int32
	seen  chan int32
}

func (p *panickyVonage) GetBalance(ctx context.Context) (vonage.Balance, error) {
	n := p.calls.Add(1)
	if n == 1 {
		panic("boom")
	}
	select {
	case p.seen <- n:
	default:
	}
	return p.fakeVonage.GetBalance(ctx)
}

func TestRunChecksAtOnceThenOnScheduleAndSurvivesAPanic(t *testing.T) {
	defer goleak.VerifyNone(t)
	u := newUnit(t, "50")
	api := &panickyVonage{fakeVonage: fakeVonage{balance: eur("50"), autoReload: true}, seen: make(chan int32, 1)}
	u.w.api = api
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.w.Run(ctx, every(10*time.Millisecond), time.Second) }()

	// Checks run one after another: once the fourth read has begun, the
	// second and third checks have logged their decisions. (Stopping during
	// the third read would cut that check short, by design without a
	// decision line; CI once caught exactly that.)
	for n := range api.seen {
		if n >= 4 {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if n := len(u.lines("check panicked")); n != 1 {
		t.Errorf("%d panic lines, want 1", n)
	}
	if len(u.decisions()) < 2 {
		t.Errorf("decisions = %v", u.decisions())
	}
}

func TestRunReturnsAfterTheFirstCheckWhenAlreadyStopped(t *testing.T) {
	defer goleak.VerifyNone(t)
	u := newUnit(t, "50")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := u.w.Run(ctx, every(time.Hour), time.Second); err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

// A check that outlasts run times is followed by a warning that says how
// long it ran and how many run times it passed, and an event.
func TestASkippedRunSaysHowLongTheCheckBeforeRan(t *testing.T) {
	c := clocktest.New(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	core, logs := observer.New(zap.DebugLevel)
	var events []Event
	w := New(&fakeVonage{}, ledger.NewMemory(ledger.State{}), Options{Settings: fleetSettings, Log: zap.New(core),
		Now: c.Now, Monotonic: c.Monotonic, After: func(d time.Duration) <-chan time.Time {
			c.Advance(d)
			ch := make(chan time.Time, 1)
			ch <- c.Now()
			return ch
		},
		Observer: ObserverFunc(func(e Event) { events = append(events, e) })})
	ctx, cancel := context.WithCancel(context.Background())
	// The first check runs at once: however long, nothing was due.
	took := []time.Duration{3 * time.Second, 10 * time.Millisecond, 4200 * time.Millisecond, 1500 * time.Millisecond, 0}
	n := 0
	w.loop(ctx, every(time.Second), func(time.Duration) {
		c.Advance(took[n])
		if n++; n == len(took) {
			cancel()
		}
	})

	var got []string
	for _, e := range logs.FilterMessageSnippet(msgCheckSkipped).All() {
		m := e.ContextMap()
		got = append(got, fmt.Sprintf("%s %s duration_ms=%v runs=%v", e.Level, e.Message, m[fieldDurationMS], m[fieldRuns]))
	}
	want := []string{
		"warn check skipped: the previous check ran 4.2s, past 4 run times duration_ms=4200 runs=4",
		"warn check skipped: the previous check ran 1.5s, past this run's time duration_ms=1500 runs=1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("skip lines\n%q\nwant\n%q", got, want)
	}
	skips := eventsOf[CheckSkipped](events)
	if len(skips) != 2 || skips[0].Ran != 4200*time.Millisecond || skips[0].Runs != 4 || skips[1].Runs != 1 {
		t.Errorf("CheckSkipped events %+v, want 4.2s over 4 runs, then 1.5s over 1", skips)
	}
}

func TestSkippedRunsAreCountedUpToABound(t *testing.T) {
	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	sched, err := cron.ParseStandard("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	next := sched.Next(start)
	if n := skippedRuns(sched, next, start.Add(2*time.Hour)); n != maxSkippedCounted {
		t.Errorf("%d runs counted over 2h of @every 1s, want the bound %d", n, maxSkippedCounted)
	}
	if got, want := skippedMessage(2*time.Hour, maxSkippedCounted), "check skipped: the previous check ran 2h0m0s, past 1000 or more run times"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if got, want := skippedMessage(90*time.Millisecond, 1), "check skipped: the previous check ran 90ms, past this run's time"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}
