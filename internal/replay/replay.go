// Package replay runs the real watchdog, check after check, in simulated
// time: a clock that moves only when told (internal/replay/clock), the
// watchdog.Watchdog that production runs, over any watchdog.Vonage (the
// simulated account called in process for a backtest, the real HTTP client
// against the simulator's handler for a test that wants the network's
// faults) and any ledger.
//
// The watchdog reads the simulated clock for its wall and monotonic time,
// and its retry waits advance it (Options.Sleep), so a month passes in the
// time its checks take to compute. A Driver keeps the schedule: a check at
// each run time, a hook before and after each (traffic, faults, a crash
// armed, a restart), and crashes at the watchdog's crash points that stop a
// check as a dying process stops, for a new process to Start over the
// ledger it left.
package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/replay/clock"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// Options returns o set to run on c: Now and Monotonic read c, After waits
// on it, Sleep advances it (unless o has a Sleep of its own: a test whose
// assertions need the clock to stand still during a check keeps its own),
// and Interval is interval, the schedule's, which the automatic lead time
// of the predictive policy counts.
func Options(c *clock.Clock, interval time.Duration, o watchdog.Options) watchdog.Options {
	o.Now, o.Monotonic, o.After = c.Now, c.Monotonic, c.After
	if o.Sleep == nil {
		o.Sleep = c.Sleep
	}
	o.Interval = interval
	return o
}

// LogClock is c as zap's clock, so that log lines carry the simulated time
// (zap.WithClock).
func LogClock(c *clock.Clock) zapcore.Clock { return logClock{c} }

type logClock struct{ c *clock.Clock }

func (l logClock) Now() time.Time                       { return l.c.Now() }
func (logClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// Errors of Driver.Check.
var (
	// ErrNotStarted: no watchdog was started.
	ErrNotStarted = errors.New("replay: no watchdog started")
	// ErrCrashed: the last check crashed and no new watchdog was started
	// since: a crashed process checks no more.
	ErrCrashed = errors.New("replay: the watchdog crashed and was not started again")
)

// Driver runs one watchdog process after another on a simulated clock, a
// check at each run time of an every-interval schedule. It is not safe for
// concurrent use: it is the simulation's single thread.
type Driver struct {
	clock    *clock.Clock
	interval time.Duration
	origin   time.Duration // the monotonic clock at run time 0
	next     int           // the number of the next run time
	w        *watchdog.Watchdog
	armed    string // the crash point armed, "" for none
	crashed  bool
	ids      int
}

// New returns a Driver on c whose schedule runs a check every interval,
// the first at c's time now.
func New(c *clock.Clock, interval time.Duration) *Driver {
	if interval <= 0 {
		panic(fmt.Sprintf("replay: interval %s is not positive", interval))
	}
	return &Driver{clock: c, interval: interval, origin: c.Monotonic()}
}

// Clock is the driver's clock.
func (d *Driver) Clock() *clock.Clock { return d.clock }

// Start starts a watchdog process over api and l, replacing the one before
// it (which, crashed or stopped, keeps nothing but what l holds). o is set
// by Options; its NewID, when nil, numbers the intents across every process
// of the driver; its CrashPoint, if any, is called at each crash point
// before the crash armed by CrashAt.
func (d *Driver) Start(api watchdog.Vonage, l watchdog.Ledger, o watchdog.Options) *watchdog.Watchdog {
	o = Options(d.clock, d.interval, o)
	if o.NewID == nil {
		o.NewID = func() string {
			d.ids++
			return fmt.Sprintf("replay-%06d", d.ids)
		}
	}
	observe := o.CrashPoint
	o.CrashPoint = func(point string) {
		if observe != nil {
			observe(point)
		}
		if point != "" && point == d.armed {
			d.armed = ""
			panic(crash{point})
		}
	}
	d.w, d.crashed = watchdog.New(api, l, o), false
	return d.w
}

// Watchdog is the watchdog running now; nil before Start.
func (d *Driver) Watchdog() *watchdog.Watchdog { return d.w }

// CrashAt arms a crash at point (one of watchdog's Crash... constants): the
// next check that reaches it stops there, as a process killed there stops.
// "" disarms.
func (d *Driver) CrashAt(point string) { d.armed = point }

// Armed is the crash point armed, "" for none.
func (d *Driver) Armed() string { return d.armed }

// crash is the panic that stands for a process dying at a crash point.
type crash struct{ point string }

// Check runs one check of the watchdog at the clock's time now, and returns
// the crash point it stopped at, "" if it did not crash.
func (d *Driver) Check(ctx context.Context) (crashed string, err error) {
	switch {
	case d.w == nil:
		return "", ErrNotStarted
	case d.crashed:
		return "", ErrCrashed
	}
	defer func() {
		if p := recover(); p != nil {
			c, ok := p.(crash)
			if !ok {
				panic(p)
			}
			d.crashed, crashed = true, c.point
		}
	}()
	d.w.Check(ctx)
	return "", nil
}

// Tick is one run time of the schedule.
type Tick struct {
	// N numbers the run times from 0, as New's schedule counts them; the
	// run times a check overran are skipped, and their numbers with them.
	N int
	// At is the wall clock's time at the run time.
	At time.Time
	// Ran reports whether a check ran (Hooks.Before let it), and Crashed
	// the crash point it stopped at, "" for none. Set for Hooks.After.
	Ran     bool
	Crashed string
}

// Hooks are called around each run time of Run. Either may be nil.
type Hooks struct {
	// Before is called at the run time, before its check: the place for
	// the traffic, faults and crashes of the moment. A false answer skips
	// the check (the watchdog is down).
	Before func(Tick) (check bool)
	// After is called once the check is done, or skipped: the place for
	// reading what it did, and for a restart (Start), which must come
	// before the next check after a crash.
	After func(Tick)
}

// Run runs the schedule from its next run time until the clock reaches
// until: at each run time it moves the clock there, calls h.Before, runs a
// check and calls h.After. A check that outlasts its interval (retry waits
// move the clock) makes the schedule skip the run times it overran, as
// watchdog.Run does. Run returns early with ctx's cause when ctx ends, and
// with Check's error when a check cannot run.
func (d *Driver) Run(ctx context.Context, until time.Time, h Hooks) error {
	end := d.clock.Monotonic() + until.Sub(d.clock.Now())
	for {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		mono := d.clock.Monotonic()
		at := d.origin + time.Duration(d.next)*d.interval
		if at < mono { // overran: the next run time still to come
			d.next = int((mono - d.origin + d.interval - 1) / d.interval)
			at = d.origin + time.Duration(d.next)*d.interval
		}
		if at >= end {
			return nil
		}
		d.clock.Advance(at - mono)
		t := Tick{N: d.next, At: d.clock.Now()}
		d.next++
		if h.Before == nil || h.Before(t) {
			t.Ran = true
			var err error
			if t.Crashed, err = d.Check(ctx); err != nil {
				return err
			}
		}
		if h.After != nil {
			h.After(t)
		}
	}
}
