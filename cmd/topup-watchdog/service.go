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

// store is the ledger the service runs on: a ledger.File, or a ledger.Redis
// for a fleet.
type store interface {
	watchdog.Ledger
	// Watch returns when ctx ends, or with an error when the store can no
	// longer be used by this process (a File whose lock is lost).
	Watch(ctx context.Context, every time.Duration) error
	Close() error
}

// service is the watchdog and everything around it, built from a Config.
type service struct {
	cfg      config.Config
	log      *zap.Logger
	client   *vonage.Client
	ledger   store
	watchdog *watchdog.Watchdog
	server   *server.Server // nil when TOPUP_LISTEN_ADDR is empty
	notifier *notify.Notifier
}

// newLogger builds the logger for cfg, scrubbing the secrets from every line.
func newLogger(cfg config.Config, out io.Writer) *zap.Logger {
	secrets := vonage.Options{APIKey: cfg.APIKey, APISecret: cfg.APISecret, TRX: cfg.TRX}.Secrets()
	secrets = append(secrets, cfg.NotifyURL)
	redact := vonage.NewRedactor(append(secrets, config.RedisSecrets(cfg.RedisURL)...)...)
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

// settings is the policy's view of cfg. Its Interval is left to the
// watchdog, which knows the span to each check's next run (Options.Interval
// for a one-off check: see checkInterval).
func settings(cfg config.Config) policy.Settings {
	return policy.Settings{Threshold: cfg.Threshold, Target: cfg.Target, Window: cfg.Window, MaxPerDay: cfg.MaxPerDay,
		// No attempt starts after a quarter of the window, and one lasts at
		// most the request timeout.
		Flight:     cfg.Window/4 + cfg.RequestTimeout,
		Backoff:    scheduleInterval(cfg),
		Predictive: cfg.Predictive, LeadTime: cfg.LeadTime}
}

// checkInterval is watchdog.Options.Interval for cfg as of now: the span
// between the schedule's next two runs (config.Config.Interval), which a
// one-off check (Watchdog.Check: the check command) counts in the automatic
// lead time; a scheduled check counts the span to its own next run.
func checkInterval(cfg config.Config, now func() time.Time) time.Duration {
	if now == nil {
		now = time.Now
	}
	return cfg.Interval(now())
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
	health := server.NewHealth(scheduleInterval(cfg), cfg.RequestTimeout, nil)
	if cfg.ListenAddr != "" {
		s.server = server.New(cfg.ListenAddr, health, m.Handler(), log)
	}
	s.notifier = notify.New(notify.Options{
		URL: cfg.NotifyURL, Format: cfg.NotifyFormat, Account: config.MaskKey(cfg.APIKey),
		Log: log, UserAgent: userAgent(),
	})
	observers := append(watchdog.Observers{m, health, s.notifier}, h.observers...)
	o := watchdog.Options{
		Settings: settings(cfg), Interval: checkInterval(cfg, h.test.now), Amount: cfg.Amount, DryRun: cfg.DryRun,
		Log: log, Observer: observers, CrashPoint: h.stepHook(),
		Now: h.test.now, Monotonic: h.test.monotonic, BootID: h.test.bootID, // testhooks.go; zero unless set
	}
	if cfg.RedisURL == "" {
		f, err := ledger.Open(cfg.StateFile)
		if err != nil {
			return nil, explainOpen(cfg.StateFile, err)
		}
		if err := f.Problem(); err != nil { // the burn rate's journal: its readings are dropped
			log.Warn("readings journal ignored", zap.Error(err))
		}
		s.ledger = f
	} else {
		m.EnableFleet()
		mono := h.test.monotonic // testhooks.go; nil unless set
		if mono == nil {
			mono = watchdog.SystemMonotonic
		}
		fleet, err := openFleet(cfg, log, h.test.now, mono, m, observers)
		if err != nil {
			return nil, err
		}
		s.ledger = fleet
		// Spans on this pod's monotonic clock, times on the fleet's.
		o.Fleet, o.Now, o.Monotonic, o.Replica = fleet, fleet.Now, mono, fleet.Replica()
	}
	s.watchdog = watchdog.New(client, s.ledger, o)
	return s, nil
}

// openFleet opens the fleet's ledger on Redis. Its round trips feed the
// metrics, and its failures and recoveries become RedisUnreachable and
// RedisReachable events for the probes, the notifier and the log.
func openFleet(cfg config.Config, log *zap.Logger, podNow func() time.Time, mono func() time.Duration,
	m *metrics.Metrics, observers watchdog.Observer) (*ledger.Redis, error) {
	reach := &redisReach{log: log, observer: observers, now: time.Now, mono: mono}
	ledger.RouteRedisLog(log)
	r, err := ledger.OpenRedis(context.Background(), ledger.RedisOptions{
		URL: cfg.RedisURL, Prefix: cfg.RedisPrefix, Account: cfg.APIKey, MinReplicas: cfg.RedisMinReplicas,
		Keep: policy.Day + cfg.Window, Log: log, Now: podNow, Monotonic: mono,
		Observe: func(op string, d time.Duration, err error) {
			m.ObserveRedis(op, d, err)
			reach.roundTrip(err)
		},
	})
	if err != nil {
		return nil, err
	}
	reach.setClock(r.Now)
	log.Info(msgFleet, zap.String("replica", r.Replica()), zap.String("redis", config.RedisTarget(cfg.RedisURL)))
	return r, nil
}

// msgFleet is logged once at start by a replica of a fleet.
const msgFleet = "fleet on redis: the ledger, the tick and the clock are shared"

// redisReach turns the Redis ledger's round trips into RedisUnreachable and
// RedisReachable events: one per change, not one per round trip. Their times
// are the fleet's clock; how long Redis was down is measured on the
// monotonic one (the fleet's clock may be set meanwhile, by Redis's first
// answer).
type redisReach struct {
	log      *zap.Logger
	observer watchdog.Observer
	now      func() time.Time
	mono     func() time.Duration

	mu        sync.Mutex
	down      bool
	downSince time.Duration // on mono
}

// setClock makes the events' times the fleet's clock.
func (r *redisReach) setClock(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}

func (r *redisReach) roundTrip(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	switch {
	case err != nil && !r.down:
		r.down, r.downSince = true, r.mono()
		r.log.Error(msgRedisUnreachable, zap.Error(err))
		r.observer.Observe(watchdog.RedisUnreachable{At: now, Err: err})
	case err == nil && r.down:
		r.down = false
		down := r.mono() - r.downSince
		r.log.Info(msgRedisReachable, zap.Int64("down_ms", down.Milliseconds()))
		r.observer.Observe(watchdog.RedisReachable{At: now, Down: down})
	}
}

// The lines of redisReach.
const (
	msgRedisUnreachable = "redis unreachable: balance checks go on, no top-up is sent until it is back"
	msgRedisReachable   = "redis reachable again"
)

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
// ledger's lock file is still the one held (every ledger update checks too),
// or, in a fleet, that Redis answers.
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
			stopChecks() // a second watchdog may be writing the ledger file now
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
