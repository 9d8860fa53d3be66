package main

import (
	"context"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
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
func watchWith(ctx context.Context, cfg config.Config, out io.Writer, h hooks) error {
	log := newLogger(cfg, out)
	defer func() { _ = log.Sync() }()
	v, c := buildVersion()
	log.Info("starting", append([]zap.Field{zap.String("version", v), zap.String("commit", c)}, cfg.LogFields()...)...)
	if cfg.Amount.IsZero() {
		log.Warn(msgAmountUnset)
	}

	s, err := newService(cfg, log, h)
	if err != nil {
		log.Error("cannot start", zap.Error(err))
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
		log.Error("stopped with an error", zap.Error(err))
		return err
	}
	log.Info("stopped")
	return nil
}

const checkSummary = `Runs one balance check and prints the decision the watchdog would take, with
the state of its ledger (TOPUP_STATE_FILE, or the fleet's on TOPUP_REDIS_URL;
read only). Sends nothing and writes nothing. Exits 1 when the balance could
not be read.`

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "check", checkSummary)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadLookup(e.lookupenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stdout)
	defer func() { _ = log.Sync() }()

	state, err := viewLedger(ctx, cfg)
	if err != nil {
		return err
	}
	client, err := newClient(cfg, nil, nil)
	if err != nil {
		return fmt.Errorf("set up vonage client: %w", err)
	}
	defer client.CloseIdleConnections()
	var read bool
	w := watchdog.New(client, ledger.NewMemory(state), watchdog.Options{
		Settings: settings(cfg), Interval: checkInterval(cfg, nil), Amount: cfg.Amount, DryRun: true, Log: log,
		Observer: watchdog.ObserverFunc(func(ev watchdog.Event) {
			if _, ok := ev.(watchdog.Decided); ok {
				read = true
			}
		}),
	})
	w.Check(ctx)
	if !read {
		return exitError{exitFatal}
	}
	return nil
}

// viewLedger reads the ledger a running watchdog for cfg writes, without
// writing it: the file, or the fleet's on Redis.
func viewLedger(ctx context.Context, cfg config.Config) (ledger.State, error) {
	if cfg.RedisURL == "" {
		return ledger.ReadFile(cfg.StateFile)
	}
	r, err := ledger.OpenRedis(ctx, ledger.RedisOptions{URL: cfg.RedisURL, Prefix: cfg.RedisPrefix, Account: cfg.APIKey})
	if err != nil {
		return ledger.State{}, err
	}
	defer func() { _ = r.Close() }()
	return r.View(ctx)
}
