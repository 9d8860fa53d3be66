package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/logging"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

const checkSummary = `Runs one balance check and says what the watchdog would do now, with the
state of its ledger (TOPUP_STATE_FILE, or the fleet's on TOPUP_REDIS_URL;
read only). Sends nothing and writes nothing.

On a terminal it prints one line for a person, and warnings and errors on
stderr; with --json, or when stdout is not a terminal, the JSON log lines
of the check, the decision among them. Exits 1 when the balance could not be
read, or when the state file or its folder does not exist.`

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "check", checkSummary)
	asJSON := fs.Bool("json", false, "print the log lines of the check (the decision line among them), as when stdout is not a terminal")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadLookup(e.lookupenv)
	if err != nil {
		return err
	}
	person := !*asJSON && isTerminal(e.stdout)
	logCfg, logOut := cfg, e.stdout
	switch {
	case *asJSON:
		logCfg.LogFormat = logging.FormatJSON
	case person: // stdout has the answer: the log keeps to what may explain a wrong one
		logCfg.LogFormat, logCfg.LogLevel, logOut = logging.FormatConsole, max(cfg.LogLevel, zapcore.WarnLevel), e.stderr
	}
	log := newLogger(logCfg, logOut)
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
	var decided *watchdog.Decided
	w := watchdog.New(client, ledger.NewMemory(state), watchdog.Options{
		Settings: settings(cfg), Interval: checkInterval(cfg, nil), Amount: cfg.Amount, DryRun: true, Log: log,
		Observer: watchdog.ObserverFunc(func(ev watchdog.Event) {
			if d, ok := ev.(watchdog.Decided); ok {
				decided = &d
			}
		}),
	})
	w.Check(ctx)
	if decided == nil { // check failed, logged
		return exitError{exitFatal}
	}
	if person {
		fmt.Fprintln(e.stdout, answer(*decided, cfg))
	}
	return nil
}

// isTerminal reports whether w is a terminal: a person reads it.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// viewLedger reads the ledger a running watchdog for cfg writes, without
// writing it: the file, or the fleet's on Redis.
func viewLedger(ctx context.Context, cfg config.Config) (ledger.State, error) {
	if cfg.RedisURL == "" {
		if err := stateFileExists(cfg.StateFile); err != nil {
			return ledger.State{}, err
		}
		return ledger.ReadFile(cfg.StateFile)
	}
	r, err := ledger.OpenRedis(ctx, ledger.RedisOptions{URL: cfg.RedisURL, Prefix: cfg.RedisPrefix, Account: cfg.APIKey})
	if err != nil {
		return ledger.State{}, err
	}
	defer func() { _ = r.Close() }()
	return r.View(ctx)
}
