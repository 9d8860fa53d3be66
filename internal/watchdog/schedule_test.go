package watchdog

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

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
	h := newHarness(t, "50")
	api := &panickyVonage{fakeVonage: fakeVonage{balance: eur("50"), autoReload: true}, seen: make(chan int32, 1)}
	h.w.api = api
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx, every(10*time.Millisecond), time.Second) }()

	for n := range api.seen {
		if n >= 3 {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if n := len(h.lines("check panicked")); n != 1 {
		t.Errorf("%d panic lines, want 1", n)
	}
	if len(h.decisions()) < 2 {
		t.Errorf("decisions = %v", h.decisions())
	}
}

func TestRunReturnsAfterTheFirstCheckWhenAlreadyStopped(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, "50")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.w.Run(ctx, every(time.Hour), time.Second); err != nil {
		t.Fatalf("Run() = %v", err)
	}
}
