package watchdog

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// Run checks once at once, then on schedule, until ctx ends. Overlapping
// checks are skipped and panics are recovered and logged. When ctx ends no new
// check starts; Run waits up to grace for the one in flight (a top-up in
// flight runs to its answer or its request timeout) and returns.
func (w *Watchdog) Run(ctx context.Context, schedule cron.Schedule, grace time.Duration) error {
	logger := cronLogger{w.log}
	job := cron.FuncJob(func() { w.Check(ctx) })
	c := cron.New(
		cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)),
	)
	// The first check runs before the scheduler starts, so it can't overlap
	// with a scheduled one; it gets the same panic recovery.
	cron.NewChain(cron.Recover(logger)).Then(job).Run()
	if ctx.Err() != nil {
		return nil
	}
	c.Schedule(schedule, job)
	c.Start()
	<-ctx.Done()

	stopped := c.Stop()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-stopped.Done():
		return nil
	case <-timer.C:
		return fmt.Errorf("stop checks: a check still running after %s", grace)
	}
}

// cronLogger sends cron's own messages to zap: its routine chatter at debug,
// a skipped check at warn, and errors (panics included) at error.
type cronLogger struct{ log *zap.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		l.log.Warn("check skipped: the previous check is still running")
		return
	}
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
