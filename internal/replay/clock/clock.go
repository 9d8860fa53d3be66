// Package clock owns the simulated clock that a replay, and the tests,
// share between the simulated account, the watchdog and the probes: time
// moves only when told, so a window of minutes or a month passes in a line.
//
// It is a package of its own, importing nothing of the project's, so that
// any package's tests can use it (internal/clocktest names it for them).
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock is a clock that moves only when told. It has a wall clock, which
// Step can move on its own as a step of the system clock does, and a
// monotonic one, which only Advance moves. It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	mono    time.Duration
	waiters []waiter
}

type waiter struct {
	at time.Duration // on the monotonic clock
	ch chan time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the wall clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Monotonic returns the monotonic clock's reading: the time Advance has
// moved the clock on since New.
func (c *Clock) Monotonic() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

// Advance moves both clocks on by d, and fires the After channels that are
// due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.mono += d
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at <= c.mono {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// Step moves the wall clock alone by d, forward or back, as a step of the
// system clock does; the monotonic clock and the After channels ignore it.
func (c *Clock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// After returns a channel that receives the wall clock's time once Advance
// has moved the monotonic clock on by d.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.mono + d, ch: ch})
	return ch
}

// Sleep is a wait of d in simulated time: it advances the clock by d, at
// once, unless ctx has ended, whose cause it then returns. It has the shape
// of watchdog.Options.Sleep, so that a replay's retry waits follow the
// clock instead of taking wall time.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if d > 0 {
		c.Advance(d)
	}
	return nil
}

// Waiters returns how many After channels have not fired yet.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}
