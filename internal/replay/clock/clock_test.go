package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTheClockMovesOnlyWhenTold(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := New(t0)
	if !c.Now().Equal(t0) || !c.Now().Equal(t0) {
		t.Fatalf("Now() = %v, want %v", c.Now(), t0)
	}
	c.Advance(90 * time.Second)
	if want := t0.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Errorf("after Advance: %v, want %v", c.Now(), want)
	}
}

func TestAStepMovesTheWallClockAlone(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := New(t0)
	fired := c.After(time.Minute)
	c.Step(-time.Hour)
	c.Advance(30 * time.Second)
	if want := t0.Add(-time.Hour + 30*time.Second); !c.Now().Equal(want) {
		t.Errorf("wall clock %v, want %v", c.Now(), want)
	}
	if got := c.Monotonic(); got != 30*time.Second {
		t.Errorf("monotonic clock %s, want 30s", got)
	}
	select {
	case <-fired:
		t.Fatal("After(1m) fired 30s in")
	default:
	}
	c.Advance(30 * time.Second)
	select {
	case <-fired:
	default:
		t.Fatal("After(1m) did not fire a minute in, across a step back of an hour")
	}
	if n := c.Waiters(); n != 0 {
		t.Errorf("%d waiters left", n)
	}
}

func TestSleepAdvancesTheClockUnlessTheContextEnded(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := New(t0)
	fired := c.After(time.Second)
	if err := c.Sleep(context.Background(), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := c.Monotonic(); got != 1500*time.Millisecond || !c.Now().Equal(t0.Add(1500*time.Millisecond)) {
		t.Errorf("after Sleep(1.5s): monotonic %s, wall %v", got, c.Now())
	}
	select {
	case <-fired:
	default:
		t.Error("Sleep did not fire an After it passed")
	}
	stop := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(stop)
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, stop) {
		t.Errorf("Sleep on an ended context: %v, want its cause", err)
	}
	if got := c.Monotonic(); got != 1500*time.Millisecond {
		t.Errorf("a Sleep on an ended context moved the clock to %s", got)
	}
}
