package watchdog

import (
	"sync"
	"time"
)

// StepTolerance is how far the wall clock may drift from the monotonic one
// between two readings before the difference counts as a step of the system
// clock. NTP slews the two alike, so only a step (NTP's, an operator's, a
// VM's clock sync) moves them apart by this much.
const StepTolerance = time.Second

// clock keeps the watchdog's time. Records carry wall-clock times, so that a
// restarted process (or another replica) can read them, but every span is
// measured on the monotonic clock: when the wall clock steps, the step is
// logged and the times already in the ledger are moved by it, so a step
// shortens no window and lengthens none.
type clock struct {
	wall func() time.Time
	mono func() time.Duration

	mu       sync.Mutex
	started  bool
	lastWall time.Time
	lastMono time.Duration
	// pending is the sum of the steps seen and not yet applied to the
	// ledger.
	pending time.Duration
}

// reading is one look at both clocks.
type reading struct {
	// wall is the wall-clock time, to date records with.
	wall time.Time
	// mono is the monotonic reading, to measure spans with.
	mono time.Duration
	// step is the step of the wall clock this reading found, 0 if none.
	step time.Duration
}

// read reads both clocks and notes a step of the wall clock.
func (c *clock) read() reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := reading{wall: c.wall(), mono: c.mono()}
	if c.started {
		expected := c.lastWall.Add(r.mono - c.lastMono)
		if d := r.wall.Sub(expected); d >= StepTolerance || d <= -StepTolerance {
			r.step = d
			c.pending += d
		}
	}
	c.started, c.lastWall, c.lastMono = true, r.wall, r.mono
	return r
}

// now is read().wall.
func (c *clock) now() time.Time { return c.read().wall }

// unapplied returns the steps not yet applied to the ledger.
func (c *clock) unapplied() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending
}

// applied notes that d of the pending steps is now in the ledger.
func (c *clock) applied(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending -= d
}

// systemWall is the wall clock without Go's monotonic reading, so that times
// compare the same in memory as read back from a ledger.
func systemWall() time.Time { return time.Now().Round(0) }

// derivedMono is a monotonic clock made from a wall clock that never steps,
// such as a test's manual clock.
func derivedMono(wall func() time.Time) func() time.Duration {
	origin := wall()
	return func() time.Duration { return wall().Sub(origin) }
}
