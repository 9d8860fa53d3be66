package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/logging"
	"github.com/topup-watchdog/topup-watchdog/internal/metrics"
	"github.com/topup-watchdog/topup-watchdog/internal/notify"
	"github.com/topup-watchdog/topup-watchdog/internal/server"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// service is the watchdog and everything around it, built from a Config.
type service struct {
	cfg      config.Config
	log      *zap.Logger
	client   *vonage.Client
	ledger   *ledger.File
	watchdog *watchdog.Watchdog
	server   *server.Server // nil when TOPUP_LISTEN_ADDR is empty
	notifier *notify.Notifier
}

// newLogger builds the logger for cfg, scrubbing the secrets from every line.
func newLogger(cfg config.Config, out io.Writer) *zap.Logger {
	secrets := vonage.Options{APIKey: cfg.APIKey, APISecret: cfg.APISecret, TRX: cfg.TRX}.Secrets()
	redact := vonage.NewRedactor(append(secrets, cfg.NotifyURL)...)
	return logging.New(out, cfg.LogLevel, cfg.LogFormat, redact)
}

// newClient builds the Vonage client for cfg.
func newClient(cfg config.Config, observe func(endpoint, code string, d time.Duration), transport http.RoundTripper) (*vonage.Client, error) {
	return vonage.New(vonage.Options{
		BaseURL: cfg.BaseURL, APIKey: cfg.APIKey, APISecret: cfg.APISecret, TRX: cfg.TRX,
		Auth: cfg.Auth, Timeout: cfg.RequestTimeout, UserAgent: userAgent(), Observe: observe,
		Transport: transport,
	})
}

// settings is the policy's view of cfg.
func settings(cfg config.Config) policy.Settings {
	return policy.Settings{Threshold: cfg.Threshold, Target: cfg.Target, Window: cfg.Window, MaxPerDay: cfg.MaxPerDay,
		// No attempt starts after a quarter of the window, and one lasts at
		// most the request timeout.
		Flight:  cfg.Window/4 + cfg.RequestTimeout,
		Backoff: scheduleInterval(cfg)}
}

// newService opens the ledger and wires the watchdog, its probes, metrics and
// notifications. The caller closes it.
func newService(cfg config.Config, log *zap.Logger, h hooks) (*service, error) {
	s := &service{cfg: cfg, log: log}
	m := metrics.New(cfg.Threshold, cfg.Target)
	client, err := newClient(cfg, m.ObserveRequest, h.transport())
	if err != nil {
		return nil, fmt.Errorf("set up vonage client: %w", err)
	}
	s.client = client
	s.ledger, err = ledger.Open(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	health := server.NewHealth(scheduleInterval(cfg), cfg.RequestTimeout, nil)
	if cfg.ListenAddr != "" {
		s.server = server.New(cfg.ListenAddr, health, m.Handler(), log)
	}
	s.notifier = notify.New(notify.Options{
		URL: cfg.NotifyURL, Format: cfg.NotifyFormat, Account: config.MaskKey(cfg.APIKey),
		Log: log, UserAgent: userAgent(),
	})
	s.watchdog = watchdog.New(client, s.ledger, watchdog.Options{
		Settings: settings(cfg), Amount: cfg.Amount, DryRun: cfg.DryRun, Log: log,
		Observer:   append(watchdog.Observers{m, health, s.notifier}, h.observers...),
		CrashPoint: h.stepHook(), Now: h.test.now, Monotonic: h.test.monotonic, BootID: h.test.bootID, // testhooks.go; zero unless set
	})
	return s, nil
}

// scheduleInterval is the longest gap between two of the next checks of
// cfg's schedule: what the liveness probe allows three of. A cron schedule
// need not be regular ("0 9,17 * * *"), so one gap is not enough.
func scheduleInterval(cfg config.Config) time.Duration {
	var longest time.Duration
	at := cfg.Schedule.Next(time.Now())
	for range 32 {
		next := cfg.Schedule.Next(at)
		longest = max(longest, next.Sub(at))
		at = next
	}
	return longest
}

// lockCheckInterval is how often run checks, between checks, that the
// ledger's lock file is still the one held (every ledger update checks too).
const lockCheckInterval = 5 * time.Second

// run runs checks until ctx ends, with the HTTP server, the notifier and the
// ledger lock watch beside them. It returns when all four have stopped. A
// lost ledger lock stops the checks: run returns its error.
func (s *service) run(ctx context.Context) error {
	aux, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAux()
	checks, stopChecks := context.WithCancel(ctx)
	defer stopChecks()

	var wg sync.WaitGroup
	var serverErr error
	if s.server != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.server.Run(aux); err != nil {
				serverErr = err
				stopChecks() // without its probes the sidecar is of no use
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.notifier.Run(aux)
	}()
	var lockErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.ledger.Watch(checks, lockCheckInterval); err != nil {
			lockErr = err
			stopChecks() // a second watchdog may be writing the ledger now
		}
	}()

	err := s.watchdog.Run(checks, s.cfg.Schedule, s.grace())
	stopChecks()
	stopAux()
	wg.Wait()
	return errors.Join(serverErr, lockErr, err)
}

// grace is how long a stop waits for the check in flight: a top-up attempt
// runs to its request timeout, then its outcome is written.
func (s *service) grace() time.Duration {
	return s.cfg.RequestTimeout + 5*time.Second
}

func (s *service) close() {
	if s.ledger != nil {
		if err := s.ledger.Close(); err != nil {
			s.log.Warn("close ledger", zap.Error(err))
		}
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
}
