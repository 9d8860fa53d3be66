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
state of its ledger (TOPUP_STATE_FILE, or the fleet's on TOPUP_REDIS_URL,
judged on the fleet's clock, Redis's, as run does; read only). Sends nothing
and writes nothing.

On a terminal it prints one line for a person, and warnings and errors on
stderr; with --json, or when stdout is not a terminal, the JSON log lines
of the check, the decision among them. Exits 1 when the balance could not be
read, when the state file or its folder does not exist, or when the fleet's
ledger key (TOPUP_REDIS_PREFIX, this API key) does not exist on Redis.`

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

	state, fleet, err := viewLedger(ctx, cfg)
	if err != nil {
		return err
	}
	if fleet != nil {
		defer func() { _ = fleet.Close() }()
	}
	client, err := newClient(cfg, nil, nil)
	if err != nil {
		return fmt.Errorf("set up vonage client: %w", err)
	}
	defer client.CloseIdleConnections()
	var decided *watchdog.Decided
	o := watchdog.Options{
		Settings: settings(cfg), Interval: checkInterval(cfg, nil), Amount: cfg.Amount, DryRun: true, Log: log,
		Observer: watchdog.ObserverFunc(func(ev watchdog.Event) {
			if d, ok := ev.(watchdog.Decided); ok {
				decided = &d
			}
		}),
	}
	if fleet != nil {
		// The fleet's ledger is dated on the fleet's clock (Redis's TIME,
		// anchored by the view), and run decides on it: on this pod's
		// clock, a pod an hour ahead of Redis would find the fleet's
		// top-up an hour old and preview one inside the window run holds.
		// Spans stay on this pod's monotonic clock, as in run. No Fleet:
		// check takes no tick.
		o.Now, o.Monotonic = fleet.Now, watchdog.SystemMonotonic
	}
	w := watchdog.New(client, ledger.NewMemory(state), o)
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
// writing it: the file, or the fleet's on Redis. For a fleet it also
// returns the Redis ledger, open, whose Now is the fleet's clock; the
// caller closes it.
func viewLedger(ctx context.Context, cfg config.Config) (ledger.State, *ledger.Redis, error) {
	if cfg.RedisURL == "" {
		if err := stateFileExists(cfg.StateFile); err != nil {
			return ledger.State{}, nil, err
		}
		s, err := ledger.ReadFile(cfg.StateFile)
		return s, nil, err
	}
	r, err := ledger.OpenRedis(ctx, ledger.RedisOptions{URL: cfg.RedisURL, Prefix: cfg.RedisPrefix, Account: cfg.APIKey,
		Monotonic: watchdog.SystemMonotonic})
	if err != nil {
		return ledger.State{}, nil, err
	}
	s, found, err := r.ViewFound(ctx)
	if err == nil && !found {
		err = noFleetLedger(cfg, r.LedgerKey())
	}
	if err != nil {
		_ = r.Close()
		return ledger.State{}, nil, err
	}
	return s, r, nil
}

// noFleetLedger refuses, for the check command, a fleet's ledger key that
// does not exist, as stateFileExists refuses a state file: the first
// update of a running watchdog creates it, so a key no watchdog wrote is
// most often a typo in TOPUP_REDIS_PREFIX, another database in
// TOPUP_REDIS_URL or another API key (the key is scoped by a hash of it),
// and an empty ledger in its place would preview a decision the fleet does
// not take. It exits 1, as a missing state file does. The key is printed
// as is: its hash tag is a hash of the API key, never the key, and no
// secret; the Redis is named by config.RedisTarget, without its password.
func noFleetLedger(cfg config.Config, key string) error {
	prefix := cfg.RedisPrefix
	if prefix == "" {
		prefix = ledger.DefaultRedisPrefix
	}
	return fmt.Errorf("check: the fleet's ledger %s does not exist on redis %s: no watchdog with TOPUP_REDIS_PREFIX=%s and this API key has written it "+
		"(or Redis lost it and no watchdog has checked since); check TOPUP_REDIS_PREFIX, the database in TOPUP_REDIS_URL and VONAGE_API_KEY; check only reads the ledger",
		key, config.RedisTarget(cfg.RedisURL), prefix)
}
