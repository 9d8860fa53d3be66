package watchdog

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// Run checks once at once, then on schedule, until ctx ends. Panics are
// recovered and logged. A check that outlasts the next run time makes the
// loop skip that run, with a warning. When ctx ends no new check starts;
// Run waits up to grace for the one in flight (a top-up in flight runs to
// its answer or its request timeout) and returns.
//
// The loop is this package's, not cron's: cron.Cron waits for the next run
// time by comparing wall-clock times, so a step of the system clock back by
// an hour would stop every check for that hour. Here each wait is a span on
// the monotonic clock, taken from the schedule at the time it is computed:
// a step either way delays no check.
func (w *Watchdog) Run(ctx context.Context, schedule cron.Schedule, grace time.Duration) error {
	chain := cron.NewChain(cron.Recover(cronLogger{w.log}))
	job := func(lease time.Duration) {
		chain.Then(cron.FuncJob(func() { w.check(ctx, lease) })).Run()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop(ctx, schedule, job)
	}()
	<-ctx.Done()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		return fmt.Errorf("stop checks: a check still running after %s", grace)
	}
}

// loop runs job at once, then at every run time of schedule, until ctx
// ends. The run time comes from the schedule and the wall clock at the start
// of the check before; the wait for it is what is left of that span once the
// check's own time is taken off, both on the monotonic clock, so a step of
// the wall clock during a check moves no run either.
//
// job gets the span to the next run time: in a fleet, the tick's lease. The
// replica that has the tick renews it at its next run, and one that dies
// holding it keeps the others from reading for one tick at most.
//
// A check waited for its run time starts at that run time on the wall clock
// even when the clock reads a hair earlier on waking (a fleet's clock,
// re-anchored on Redis's TIME meanwhile): else "@every 1s", which rounds to
// the second, would put the next run a few microseconds away, skip it with a
// warning, and lease the tick for those microseconds.
func (w *Watchdog) loop(ctx context.Context, schedule cron.Schedule, job func(lease time.Duration)) {
	var due time.Time // the run time waited for; zero before the first
	for ctx.Err() == nil {
		started, startedMono := w.opts.Now(), w.opts.Monotonic()
		if started.Before(due) {
			started = due
		}
		next := schedule.Next(started)
		job(next.Sub(started))
		if ctx.Err() != nil {
			return
		}
		took := w.opts.Monotonic() - startedMono
		wait := next.Sub(started) - took
		if wait <= 0 { // the check outlasted its next run time: skip it
			now := w.opts.Now()
			if !due.IsZero() { // the first check runs at once, not at a run time: nothing was due
				w.skipped(now, took, skippedRuns(schedule, next, started.Add(took)))
			}
			next = schedule.Next(now)
			wait = next.Sub(now)
		}
		if next.IsZero() { // a schedule that never fires again
			<-ctx.Done()
			return
		}
		due = next
		select {
		case <-ctx.Done():
			return
		case <-w.opts.After(wait):
		}
	}
}

// maxSkippedCounted bounds the count of skipped runs: a check that hung for
// a day on "@every 1s" is not worth counting 86400 run times for.
const maxSkippedCounted = 1000

// skippedRuns counts the run times of schedule from next up to end, next
// included: those a check that ended at end outlasted. The span is the
// check's on the monotonic clock, from its start on the wall clock, so a
// step of the wall clock during the check counts no run.
func skippedRuns(schedule cron.Schedule, next, end time.Time) int {
	runs := 1
	for t := schedule.Next(next); runs < maxSkippedCounted && !t.IsZero() && !t.After(end); t = schedule.Next(t) {
		runs++
	}
	return runs
}

// skipped warns that the check that ran took outlasted runs run times, and
// reports it.
func (w *Watchdog) skipped(now time.Time, took time.Duration, runs int) {
	w.log.Warn(skippedMessage(took, runs), zap.Int64(fieldDurationMS, took.Milliseconds()), zap.Int(fieldRuns, runs))
	w.opts.Observer.Observe(CheckSkipped{At: now, Ran: took, Runs: runs})
}

// skippedMessage says in words what a skipped-check line is about.
func skippedMessage(took time.Duration, runs int) string {
	ran := took.Round(time.Millisecond)
	if took >= time.Second {
		ran = took.Round(100 * time.Millisecond)
	}
	if runs == 1 {
		return fmt.Sprintf("%s: the previous check ran %s, past this run's time", msgCheckSkipped, ran)
	}
	more := ""
	if runs >= maxSkippedCounted {
		more = " or more"
	}
	return fmt.Sprintf("%s: the previous check ran %s, past %d%s run times", msgCheckSkipped, ran, runs, more)
}

// cronLogger sends the messages of cron's job wrappers to zap: routine
// chatter at debug and errors (panics included) at error.
type cronLogger struct{ log *zap.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	l.log.Debug("cron "+msg, zap.Any("details", kvString(kv)))
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	if msg == "panic" {
		l.log.Error("check panicked", zap.Error(err), zap.String("stack", stackOf(kv)))
		return
	}
	l.log.Error("cron "+msg, zap.Error(err), zap.Any("details", kvString(kv)))
}

// kvString renders cron's key-value pairs as one line.
func kvString(kv []any) string {
	s := ""
	for i := 0; i+1 < len(kv); i += 2 {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf("%v=%v", kv[i], kv[i+1])
	}
	return s
}

func stackOf(kv []any) string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "stack" {
			return fmt.Sprint(kv[i+1])
		}
	}
	return ""
}

// tick asks the fleet for the tick and reports whether this replica reads
// the balance.
func (w *Watchdog) tick(ctx context.Context, lease time.Duration) bool {
	t, err := w.opts.Fleet.Tick(ctx, lease)
	now := w.now()
	switch {
	case err != nil && ctx.Err() != nil:
		return false // shutting down
	case err != nil:
		w.log.Warn(msgTickFailed, zap.Error(err))
		w.opts.Observer.Observe(TickFailed{At: now, Err: err})
		return true
	case !t.Won:
		fields := []zap.Field{zap.String(fieldHolder, t.Holder)}
		if t.Last != nil {
			fields = append(fields, zap.String(fieldBalance, t.Last.Balance.String()),
				zap.Int64(fieldAgeMS, now.Sub(t.Last.At).Milliseconds()))
		}
		w.log.Debug(msgTickTaken, fields...)
		w.opts.Observer.Observe(TickSkipped{At: now, Holder: t.Holder, Last: t.Last})
		w.followFleet(t, now)
		return false
	}
	w.opts.Observer.Observe(TickWon{At: now})
	return true
}
