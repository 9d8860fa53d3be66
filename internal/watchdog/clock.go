package watchdog

import (
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
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
	// boot names the boot mono counts on; "" when unknown.
	boot string
	// shared is set when wall is a fleet's clock: its steps are not this
	// process's to find or to apply.
	shared bool

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
	if c.started && !c.shared {
		expected := c.lastWall.Add(r.mono - c.lastMono)
		if d := r.wall.Sub(expected); d >= StepTolerance || d <= -StepTolerance {
			r.step = d
			c.pending += d
		}
	}
	c.started, c.lastWall, c.lastMono = true, r.wall, r.mono
	return r
}

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

// SystemBootID is Linux's boot_id: the name of this boot of the machine,
// which CLOCK_BOOTTIME counts from; "" where there is none.
func SystemBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// derivedMono is a monotonic clock made from a wall clock that never steps,
// such as a test's manual clock.
func derivedMono(wall func() time.Time) func() time.Duration {
	origin := wall()
	return func() time.Duration { return wall().Sub(origin) }
}

// settleClock puts the times of st on the basis of the reading r, and
// returns the part of the step it applied that this process did not see
// itself (a step made while no watchdog ran, or seen by a process that
// died before it could write it). pending is what this process saw and
// has not applied yet.
//
// With a clock mark of this boot in st, the step since the mark is exact:
// the change of wall - monotonic. Without one (no boot id, another boot, a
// ledger from before marks), only the steps this process saw can be
// applied. Whenever the times move, or the mark is missing or of another
// boot, the mark is written anew with them, in the same update; otherwise
// it stays as it is, so a check that changes nothing writes nothing.
func (w *Watchdog) settleClock(st *ledger.State, r reading, pending time.Duration) (unseen time.Duration) {
	if w.clock.shared {
		return 0
	}
	boot := w.clock.boot
	shift := pending
	marked := boot != "" && st.Clock != nil && st.Clock.BootID == boot
	if marked {
		shift = r.wall.Sub(st.Clock.Wall) - (r.mono - st.Clock.Monotonic)
		if shift > -StepTolerance && shift < StepTolerance {
			shift = 0
		}
		unseen = shift - pending
	}
	if shift == 0 && (marked || boot == "") {
		return unseen
	}
	st.Shift(shift)
	if boot != "" {
		st.Clock = &ledger.ClockMark{BootID: boot, Monotonic: r.mono, Wall: r.wall}
	}
	return unseen
}

// logUnseenStep logs a step of the wall clock that this process did not
// see happen, found by the ledger's clock mark.
func (w *Watchdog) logUnseenStep(d time.Duration) {
	if d >= StepTolerance || d <= -StepTolerance {
		w.log.Warn(msgClockSteppedUnseen, zap.Int64(fieldStepMS, d.Milliseconds()), zap.String(fieldStep, d.String()))
	}
}
