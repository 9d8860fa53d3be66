package clocktest

import (
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
