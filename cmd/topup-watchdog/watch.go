package main

import (
	"context"
	"io"

	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

const runSummary = `Runs the watchdog: checks the balance at once, then on TOPUP_SCHEDULE, and
tops the account up when the policy says so, until SIGTERM or SIGINT.
Configuration is read from the environment; see the README.`

func runWatchdog(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "run", runSummary)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadLookup(e.lookupenv)
	if err != nil {
		return err
	}
	crash, test, err := loadTestHooks(e.lookupenv) // testhooks.go: nothing unless a TOPUP_TEST_ variable is set
	if err != nil {
		return err
	}
	return watchWith(ctx, cfg, e.stdout, hooks{crash: crash, test: test})
}

// hooks are what the demo and the tests add to a watchdog.
type hooks struct {
	// observers are told of every event, after the built-in ones.
	observers []watchdog.Observer
	// crash is the step at which the process kills itself (crashEnv).
	crash string
	test  testHooks // the other testing hooks (testhooks.go)
}

// msgAmountUnset warns, at start, of what confirms a top-up without
// TOPUP_AMOUNT.
const msgAmountUnset = "TOPUP_AMOUNT is not set: any rise of the balance, a refund of a few cents included, " +
	"confirms a pending top-up and lets the next one go out before its credit; set it to the amount of the auto-reload payment"

// watchWith is the long-running watchdog for cfg, logging to out.
//
// The error that ends it is returned, and run prints it once, on stderr
// (report), where bad configuration goes too: a person starting the
// container reads stderr, and a log pipeline collects a container's stderr
// beside its stdout. The log's own last line, "cannot start" or "stopped
// with an error", marks the end at level error for whoever reads the JSON
// alone, without repeating the error: one failure, one message.
func watchWith(ctx context.Context, cfg config.Config, out io.Writer, h hooks) error {
	log := newLogger(cfg, out)
	defer func() { _ = log.Sync() }()
	log.Info("starting", startingFields(cfg)...)
	if cfg.Amount.IsZero() {
		log.Warn(msgAmountUnset)
	}

	s, err := newService(cfg, log, h)
	if err != nil {
		log.Error(msgCannotStart)
		return err
	}
	defer s.close()

	logged := make(chan struct{})
	stopping := context.AfterFunc(ctx, func() { log.Info("stopping"); close(logged) })
	err = s.run(ctx)
	if !stopping() { // the stop was logged, or is being logged: keep the order
		<-logged
	}
	if err != nil {
		log.Error(msgStoppedWithError)
		return err
	}
	log.Info("stopped")
	return nil
}

// The last line of a watchdog that fails; its error is on stderr.
const (
	msgCannotStart      = "cannot start"
	msgStoppedWithError = "stopped with an error"
)

// startingFields are the fields of the "starting" line: the build, then
// the effective configuration.
func startingFields(cfg config.Config) []zap.Field {
	v, c := buildVersion()
	return append([]zap.Field{zap.String("version", v), zap.String("commit", c)}, cfg.LogFields()...)
}
