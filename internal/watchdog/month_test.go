package watchdog_test

// A month in simulated time: the watchdog over the real Vonage client, its
// ledger going through the real file at every restart, restarted and crashed
// now and then, checks a simulated account every two minutes of 30 days of
// bursty traffic with faults, all on one fake clock driven by internal/replay
// (the replay engine the backtest runs on), once under each policy
// (TOPUP_POLICY threshold and predictive). Afterwards the fault storm's
// invariants are checked against what the account recorded (every top-up
// request, its result, when its credit showed) and against the watchdog's
// log lines, with the storm's checker (internal/simcheck), every decision
// against internal/oracle (month_replay_test.go), and every byte the
// watchdog wrote (logs, errors, ledger, metrics, notifications) is swept for
// every form of the secret, the trx and the Basic token (internal/secrettest).
//
// TOPUP_MONTH_SEED=n runs another month; a failure names its seed.

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/logging"
	"github.com/topup-watchdog/topup-watchdog/internal/metrics"
	"github.com/topup-watchdog/topup-watchdog/internal/notify"
	"github.com/topup-watchdog/topup-watchdog/internal/replay"
	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The month's operator settings: a refill from below 20 EUR up to 60 EUR, with
// 40 EUR a top-up (monthWorld.account), takes one to three top-ups, one credit
// at a time. Interval is the schedule's, which the automatic lead time of the
// predictive policy counts (the replay driver gives it to the watchdog as
// Options.Interval).
var monthSettings = policy.Settings{
	Threshold: eur("20"), Target: eur("60"), Window: 15 * time.Minute, MaxPerDay: 12, Interval: monthInterval,
}

const (
	monthDays = 30
	// monthPredictiveDays is the predictive policy's month, run beside the
	// threshold policy's (see the test).
	monthPredictiveDays = 30
	// monthShortDays is both months with -short.
	monthShortDays = 7
	// monthInterval is the schedule: 21,600 checks in 30 days. One a minute
	// would more than double the month's time (33-41s a policy under -race,
	// both side by side on a loaded 2-core machine, against 14s); see the
	// file ledger at monthWorld.
	monthInterval = 2 * time.Minute
	// monthCreditDelay is longer than the interval: the check after a
	// top-up never sees its credit. It is shorter than the window, as it
	// must be for the window to do its job.
	monthCreditDelay = 150 * time.Second
	// Special days: auto-reload off from 10:00 to 12:00, every balance read
	// failing from 03:00 to 03:40, and a flood of traffic from 09:00 to 15:00
	// that outruns the daily cap.
	monthNoReloadDay = 8
	monthOutageDay   = 14
	monthFloodDay    = 19
)

// TestAMonthOfBurstyTrafficKeepsTheInvariants: 30 days, a check every two
// minutes, under the threshold policy and, side by side, the predictive one
// with the automatic lead time (7 days each with -short). Both months draw
// their traffic, faults and restarts from the same seed.
func TestAMonthOfBurstyTrafficKeepsTheInvariants(t *testing.T) {
	seed := uint64(1)
	if s := os.Getenv("TOPUP_MONTH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TOPUP_MONTH_SEED: %v", err)
		}
	}
	for _, m := range []struct {
		name       string
		predictive bool
		days       int
	}{
		{"threshold", false, monthDays},
		{"predictive", true, monthPredictiveDays},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			s := monthSettings
			s.Predictive = m.predictive
			days := m.days
			if testing.Short() {
				days = min(days, monthShortDays)
			}
			runMonth(t, seed, s, days)
		})
	}
}

// runMonth runs days of the month under s and checks them.
func runMonth(t *testing.T, seed uint64, s policy.Settings, days int) {
	began := time.Now()
	r := newMonthWorld(t, seed, s, days)
	checks := r.run(days)
	elapsed := time.Since(began)
	v := &monthVerdict{t: t, seed: seed, s: s, broken: map[string]int{}}
	tops := r.acct.TopUps()
	f := monthReplay(v, checks)
	f.most24h, f.mostApplied24h = monthRecord(v, tops, f.intents)
	if s.Predictive && f.projected == 0 {
		v.fail("projection", "no top-up went out for a projected need (reason %s): the predictive month tested nothing of its own",
			policy.ReasonProjectedBelowThreshold)
	}
	r.sweep(v)
	r.report(tops, f, elapsed)
}

// monthWorld is the account, the replay driver running the watchdog over its
// real client, and everything the watchdog writes to.
//
// The ledger is a ledger.Memory that goes through the real file at every
// stop and start, and every six hours: a stop writes its state with
// ledger.File, a start opens the file and reads it back. That is what a
// restart of a process on the file ledger sees, crashes included, since
// File.Update returns only once the change is in the file or in its
// readings journal: a change of a record rewrites the file durably (a
// temporary file, fsync, rename, fsync of the folder) and starts the
// journal again; a change that only adds readings appends them to the
// journal with one write and no fsync, which a killed process leaves
// behind all the same. So a crash leaves in the file and its journal
// exactly what the memory ledger holds. The readings the burn rate is
// worked from go through the file too, the newest of them through its
// readings journal (persist), and every start checks that the file gave
// back each reading the stop wrote. The file ledger is not used for every
// check because of what File.Update costs even so: a check that changes
// nothing writes nothing, and one that only adds its reading writes one
// line to the journal (or rewrites the file once the journal is full), yet
// each call looks at its lock file, clones the state and encodes its
// records to compare them with the file's, and each change of a record
// validates the state, encodes it and decodes it back before it rewrites
// the file. Measured again with the replay driver, over 7 days at one
// check a minute (threshold policy alone, a loaded 2-CPU machine, two runs
// each): the file ledger took 13-14s under -race (1.8-2.5s without), the
// memory one 6.7-7.1s (1.1-1.3s); File.Update was 41% of the CPU of the
// file ledger's run without -race, the records' encoding 16%.
type monthWorld struct {
	t        *testing.T
	s        policy.Settings
	rng      *rand.Rand
	clock    *clocktest.Clock
	acct     *sim.Account
	srv      *httptest.Server
	path     string
	logs     *syncBuffer // the watchdog's log lines
	side     *syncBuffer // the notifier's log lines and the webhook bodies
	errs     *syncBuffer // the text of every error the watchdog reported
	ledgers  int         // bytes of ledger file and readings journal swept
	swept    *secrettest.Sweep
	metrics  *metrics.Metrics
	notifier *notify.Notifier
	stopHook func()
	led      *ledger.Memory
	client   *vonage.Client
	d        *replay.Driver // the schedule, the watchdog process and its crashes
	starts   int
	crashes  map[string]int
	// stopped are the readings in the ledger at the last stop, which the
	// next start must read back from the file; restored counts those read
	// back, lost the starts that read back others, journaled the readings
	// persist found in the readings journal.
	stopped                   []ledger.Reading
	restored, lost, journaled int
}

func newMonthWorld(t *testing.T, seed uint64, s policy.Settings, days int) *monthWorld {
	r := &monthWorld{t: t, s: s, rng: rand.New(rand.NewPCG(seed, 0x6d6f6e7468)),
		clock: clocktest.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)),
		path:  filepath.Join(t.TempDir(), "state.json"),
		logs:  &syncBuffer{}, side: &syncBuffer{}, errs: &syncBuffer{}, crashes: map[string]int{},
		swept: secrettest.New(monthSecrets()...)}
	acct, err := sim.New(r.account(seed, days))
	if err != nil {
		t.Fatal(err)
	}
	r.acct = acct
	r.srv = httptest.NewServer(acct.Handler())
	t.Cleanup(r.srv.Close)
	r.metrics = metrics.New(s.Threshold, s.Target)
	r.startNotifier()
	r.d = replay.New(r.clock, monthInterval)
	r.start()
	return r
}

// account is 80 EUR, 40 EUR a top-up, a steady drain of 2.88 EUR an hour,
// two to four bursts a day of 5 to 40 EUR (one in six of 60 to 120 EUR), and
// random faults on top-up requests only: balance reads get theirs from
// scriptReads, so that every check consumes exactly what it was given.
// The faults are those that cost no wall time: a 429's Retry-After (1s) is
// above the watchdog's MaxRetryAfter, so it ends the attempt as not sent.
func (r *monthWorld) account(seed uint64, days int) sim.Config {
	cfg := sim.Config{
		APIKey: apiKey, APISecret: apiSecret, TRX: trx, Now: r.clock.Now, Seed: int64(seed),
		Balance: eur("80"), AutoReload: true, TopUpAmount: eur("40"), CreditDelay: monthCreditDelay,
		DrainPerSecond: eur("0.0008"),
		Faults: sim.Faults{Only: sim.EndpointTopUp, RetryAfter: time.Second,
			ServerError: 0.06, RateLimit: 0.05, AppliedServerError: 0.05, MalformedBody: 0.04,
			RefuseAuth: 0.03, ResetBeforeApply: 0.02, ResetAfterApply: 0.02},
	}
	for day := range days {
		for range 2 + r.rng.IntN(3) {
			b := sim.Burst{At: time.Duration(day)*24*time.Hour + time.Duration(r.rng.Int64N(int64(24*time.Hour))),
				Amount: monthCents(r.rng, 500, 4000)}
			if r.rng.IntN(6) == 0 {
				b.Amount = monthCents(r.rng, 6000, 12000)
			}
			cfg.Bursts = append(cfg.Bursts, b)
		}
	}
	return cfg
}

func monthCents(rng *rand.Rand, lo, hi int64) decimal.Decimal {
	return decimal.New(lo+rng.Int64N(hi-lo), -2)
}

func monthBackoff() retry.Backoff {
	return retry.WithMaxRetries(4, retry.NewConstant(time.Microsecond))
}

// startNotifier delivers notifications to a webhook that keeps their bodies.
func (r *monthWorld) startNotifier() {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		_, _ = r.side.Write(append(body, '\n'))
		w.WriteHeader(http.StatusNoContent)
	}))
	r.notifier = notify.New(notify.Options{URL: hook.URL, Account: "abcd****", Now: r.clock.Now,
		Log: logging.New(r.side, zapcore.DebugLevel, logging.FormatJSON, nil), NewBackoff: monthBackoff})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.notifier.Run(ctx)
	}()
	var once sync.Once
	r.stopHook = func() {
		once.Do(func() {
			cancel()
			<-done
			hook.Close()
		})
	}
	r.t.Cleanup(r.stopHook)
}

// start is a process starting: a new client (query and basic authentication
// in turn), the ledger read back from its file (its readings those the last
// stop wrote), a new watchdog started by the driver, which tells it the
// schedule's interval, as a watchdog running a schedule knows it, for the
// automatic lead time, and numbers its intents on from the last process's.
// No fault of the month holds an answer, so the client's timeout is
// generous: a loaded machine must not turn a slow answer into an unknown
// outcome.
//
// Its Sleep waits for nothing: the driver's own would advance the clock by
// each retry's wait, and the month's assertions need the clock to stand
// still during a check: a decision reports the balance the account held at
// the check's instant (monthCheck.balance, taken before it), a top-up
// request is received at the instant its intent was written (the exact
// window of monthRecord) and ends then (the oracle's top-ups). The
// retry waits the month's backoffs ask for are a microsecond apart, and a
// Retry-After is never honoured (over MaxRetryAfter), so nothing is lost.
func (r *monthWorld) start() {
	auth := vonage.AuthQuery
	if r.starts%2 == 1 {
		auth = vonage.AuthBasic
	}
	r.starts++
	var err error
	r.client, err = vonage.New(vonage.Options{BaseURL: r.srv.URL, APIKey: apiKey, APISecret: apiSecret,
		TRX: trx, Auth: auth, Timeout: 30 * time.Second, UserAgent: "topup-watchdog/month",
		Observe: r.metrics.ObserveRequest})
	if err != nil {
		r.t.Fatal(err)
	}
	st := r.fileState()
	r.checkRestored(st.Readings)
	r.led = ledger.NewMemory(st)
	log := logging.New(r.logs, zapcore.DebugLevel, logging.FormatJSON, nil).WithOptions(zap.WithClock(replay.LogClock(r.clock)))
	r.d.Start(r.client, r.led, watchdog.Options{
		Settings: r.s, Log: log,
		Observer:    watchdog.Observers{r.metrics, r.notifier, watchdog.ObserverFunc(r.observeErr)},
		ReadBackoff: monthBackoff, SendBackoff: monthBackoff, MaxRetryAfter: 500 * time.Millisecond,
		Sleep: func(context.Context, time.Duration) error { return nil },
	})
}

// stop is a process ending, cleanly or not: the state is already on disk.
func (r *monthWorld) stop() {
	r.client.CloseIdleConnections()
	r.stopped = r.persist()
}

func (r *monthWorld) observeErr(e watchdog.Event) {
	var err error
	switch e := e.(type) {
	case watchdog.CheckFailed:
		err = e.Err
	case watchdog.TopUpFinished:
		err = e.Err
	case watchdog.LedgerFailed:
		err = e.Err
	}
	if err != nil {
		_, _ = r.errs.Write([]byte(err.Error() + "\n"))
	}
}
