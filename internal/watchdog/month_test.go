package watchdog_test

// A month in simulated time: the watchdog over the real Vonage client, its
// ledger going through the real file at every restart, restarted and crashed
// now and then, checks a simulated account every two minutes of 30 days of
// bursty traffic with faults, all on one fake clock. Afterwards the fault storm's invariants are checked against what the
// account recorded (every top-up request, its result, when its credit showed)
// and against the watchdog's log lines, and every byte the watchdog wrote
// (logs, errors, ledger, metrics, notifications) is swept for the secret and
// the trx.
//
// TOPUP_MONTH_SEED=n runs another month; a failure names its seed.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The month's operator settings: a refill from below 20 EUR up to 60 EUR, with
// 40 EUR a top-up (monthRig.account), takes one to three top-ups, one credit
// at a time.
var monthSettings = policy.Settings{
	Threshold: eur("20"), Target: eur("60"), Window: 15 * time.Minute, MaxPerDay: 12,
}

const (
	monthDays = 30
	// monthInterval is the schedule: 21,600 checks in 30 days. One a minute
	// takes some 35s under -race; see the file ledger at monthRig.
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
// minutes (7 days with -short).
func TestAMonthOfBurstyTrafficKeepsTheInvariants(t *testing.T) {
	seed := uint64(1)
	if s := os.Getenv("TOPUP_MONTH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TOPUP_MONTH_SEED: %v", err)
		}
	}
	days := monthDays
	if testing.Short() {
		days = 7
	}
	began := time.Now()
	r := newMonthRig(t, seed, days)
	checks := r.run(days)
	elapsed := time.Since(began)
	v := &monthVerdict{t: t, seed: seed, broken: map[string]int{}}
	tops := r.acct.TopUps()
	monthWindowHolds(v, tops)
	f := monthReplay(v, checks)
	f.most24h, f.mostApplied24h = monthCapHolds(v, tops)
	r.sweep(v)
	r.report(tops, f, elapsed)
}

// monthRig is the account, the watchdog over its real client, and
// everything the watchdog writes to.
//
// The ledger is a ledger.Memory that goes through the real file at every
// stop and start, and every six hours: a stop writes its state with
// ledger.File, a start opens the file and reads it back. That is what a
// restart of a process on the file ledger sees, crashes included, since
// File.Update returns only once the state is durable: a crash leaves in the
// file exactly what the memory ledger holds. The file ledger is not used for
// every check because File.Update encodes and decodes the whole state on
// every call, even when nothing changed (its prepare runs before the
// comparison of the bytes): measured over 7 days at one check a minute, the
// file ledger took 30s under -race (4.1s without), the memory one 7.9s
// (1.6s), and that encoding was 55% of the CPU of the run.
type monthRig struct {
	t        *testing.T
	rng      *rand.Rand
	clock    *clocktest.Clock
	acct     *sim.Account
	srv      *httptest.Server
	path     string
	logs     *syncBuffer // the watchdog's log lines
	side     *syncBuffer // the notifier's log lines and the webhook bodies
	errs     *syncBuffer // the text of every error the watchdog reported
	ledgers  int         // bytes of ledger file swept
	metrics  *metrics.Metrics
	notifier *notify.Notifier
	stopHook func()
	led      *ledger.Memory
	client   *vonage.Client
	w        *watchdog.Watchdog
	starts   int
	crashAt  string
	crashes  map[string]int
}

// monthCrash is the panic that stands for a crash at a crash point.
type monthCrash string

func newMonthRig(t *testing.T, seed uint64, days int) *monthRig {
	r := &monthRig{t: t, rng: rand.New(rand.NewPCG(seed, 0x6d6f6e7468)),
		clock: clocktest.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)),
		path:  filepath.Join(t.TempDir(), "state.json"),
		logs:  &syncBuffer{}, side: &syncBuffer{}, errs: &syncBuffer{}, crashes: map[string]int{}}
	acct, err := sim.New(r.account(seed, days))
	if err != nil {
		t.Fatal(err)
	}
	r.acct = acct
	r.srv = httptest.NewServer(acct.Handler())
	t.Cleanup(r.srv.Close)
	r.metrics = metrics.New(monthSettings.Threshold, monthSettings.Target)
	r.startNotifier()
	r.start()
	return r
}

// account is 80 EUR, 40 EUR a top-up, a steady drain of 2.88 EUR an hour,
// two to four bursts a day of 5 to 40 EUR (one in six of 60 to 120 EUR), and
// random faults on top-up requests only: balance reads get theirs from
// scriptReads, so that every check consumes exactly what it was given.
// The faults are those that cost no wall time: a 429's Retry-After (1s) is
// above the watchdog's MaxRetryAfter, so it ends the attempt as not sent.
func (r *monthRig) account(seed uint64, days int) sim.Config {
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
func (r *monthRig) startNotifier() {
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
// in turn), the ledger read back from its file, a new watchdog. No fault of
// the month holds an answer, so the client's timeout is generous: a loaded
// machine must not turn a slow answer into an unknown outcome.
func (r *monthRig) start() {
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
	r.led = ledger.NewMemory(r.fileState())
	log := logging.New(r.logs, zapcore.DebugLevel, logging.FormatJSON, nil).WithOptions(zap.WithClock(monthZapClock{r.clock}))
	r.w = watchdog.New(r.client, r.led, watchdog.Options{
		Settings: monthSettings, Log: log, Now: r.clock.Now,
		Observer:    watchdog.Observers{r.metrics, r.notifier, watchdog.ObserverFunc(r.observeErr)},
		ReadBackoff: monthBackoff, SendBackoff: monthBackoff, MaxRetryAfter: 500 * time.Millisecond,
		CrashPoint: func(point string) {
			if point == r.crashAt {
				r.crashAt = ""
				panic(monthCrash(point))
			}
		},
	})
}

// stop is a process ending, cleanly or not: the state is already on disk.
func (r *monthRig) stop() {
	r.client.CloseIdleConnections()
	r.persist()
}

// persist writes the ledger's state with the file ledger, and sweeps the
// file.
func (r *monthRig) persist() {
	st, err := r.led.View(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := ledger.Open(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if err := f.Update(context.Background(), func(s *ledger.State) error { *s = st; return nil }); err != nil {
		r.t.Fatal(err)
	}
	data, err := os.ReadFile(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	r.ledgers += len(data)
	monthSweep(r.t, "the ledger file at "+r.clock.Now().Format(time.RFC3339), data)
}

// fileState is the state in the file ledger, as a starting process reads it.
func (r *monthRig) fileState() ledger.State {
	f, err := ledger.Open(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	st, err := f.View(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

func (r *monthRig) observeErr(e watchdog.Event) {
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

// monthZapClock stamps the log lines with the fake time.
type monthZapClock struct{ c *clocktest.Clock }

func (z monthZapClock) Now() time.Time                       { return z.c.Now() }
func (monthZapClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// monthCheck is one minute of the month: the account just before the check,
// and what the check did.
type monthCheck struct {
	at         time.Time
	balance    decimal.Decimal
	autoReload bool
	since      time.Time // when the balance went below the threshold; zero if it is not below
	ran        bool      // false while the watchdog was down
	crash      string    // the crash point the check stopped at
	decision   *monthLine
	failed     bool
	topUp      *monthLine
	requests   []sim.TopUp // the top-up requests the account received during the check
}

// monthLine holds the fields of the log lines this test reads.
type monthLine struct {
	Msg       string `json:"msg"`
	Balance   string `json:"balance"`
	Action    string `json:"action"`
	Reason    string `json:"reason"`
	TopUps24h int    `json:"topups_24h"`
	Refilling bool   `json:"refilling"`
	Outcome   string `json:"outcome"`
	Attempts  int    `json:"attempts"`
}

// run drives the month and returns its checks, one per interval, those
// missed while the watchdog was down included.
func (r *monthRig) run(days int) []monthCheck {
	out := make([]monthCheck, 0, days*int(24*time.Hour/monthInterval))
	down, seenRequests, logOffset := 0, 0, 0
	for range days * int(24*time.Hour/monthInterval) {
		day, minute := r.dayAndMinute()
		r.traffic(day, minute)
		c := monthCheck{at: r.clock.Now(), balance: r.acct.Balance(), autoReload: r.acct.AutoReload()}
		if c.balance.LessThan(monthSettings.Threshold) {
			c.since, _ = r.acct.BelowSince(monthSettings.Threshold)
		}
		if down > 0 {
			down--
		} else {
			c.ran = true
			r.scriptReads(day, minute)
			c.crash = r.check()
			if n := r.acct.Scripted(sim.EndpointBalance); n != 0 {
				r.t.Fatalf("%s: %d scripted balance faults left over", c.at, n)
			}
			logOffset = r.readLines(&c, logOffset)
			if n := r.acct.Stats().TopUpRequests; n > seenRequests {
				c.requests = r.acct.TopUps()[seenRequests:]
				seenRequests = n
			}
			down = r.maybeRestart(c.crash)
		}
		if minute%360 == 0 {
			r.persist()
		}
		out = append(out, c)
		r.clock.Advance(monthInterval)
	}
	r.stop()
	return out
}

func (r *monthRig) dayAndMinute() (day, minute int) {
	since := r.clock.Now().Sub(r.acct.Started())
	return int(since / (24 * time.Hour)), int(since % (24 * time.Hour) / time.Minute)
}

// traffic makes the trace bursty on top of the account's drain and bursts:
// campaigns of 3 to 25 EUR in business hours, the account emptied now and
// then, auto-reload off for two hours, and the flood (72 EUR an hour for six
// hours). The balance only ever goes down but for credits: a rise that is
// not a top-up's credit would confirm a pending top-up by contract rule 6,
// and the watchdog would then rightly send another (see the report).
func (r *monthRig) traffic(day, minute int) {
	switch {
	case day == monthFloodDay && minute >= 9*60 && minute < 15*60 && minute%10 == 0:
		r.acct.Drain(eur("12"))
	case minute >= 8*60 && minute < 20*60 && r.rng.IntN(90) == 0:
		r.acct.Drain(monthCents(r.rng, 300, 2500))
	}
	if r.rng.IntN(2000) == 0 {
		if v := monthCents(r.rng, -1000, 500); v.LessThan(r.acct.Balance()) {
			r.acct.SetBalance(v)
		}
	}
	if day == monthNoReloadDay && (minute == 10*60 || minute == 12*60) {
		r.acct.SetAutoReload(minute != 10*60)
	}
}

// scriptReads gives this check's balance reads their faults: a 40-minute
// outage on the outage day, otherwise 3.5% of checks see one. A 500 or a
// reset is retried within the check; 401, 429 (its Retry-After is over the
// limit), an unreadable body and five 500s in a row fail the check.
func (r *monthRig) scriptReads(day, minute int) {
	var faults []sim.Fault
	switch u := r.rng.IntN(1000); {
	case day == monthOutageDay && minute >= 3*60 && minute < 3*60+40:
		faults = []sim.Fault{sim.FaultUnavailable, sim.FaultUnavailable, sim.FaultUnavailable, sim.FaultUnavailable, sim.FaultUnavailable}
	case u < 10:
		faults = []sim.Fault{sim.FaultRefuseAuth}
	case u < 15:
		faults = []sim.Fault{sim.FaultMalformed}
	case u < 20:
		faults = []sim.Fault{sim.FaultRateLimit}
	case u < 30:
		faults = []sim.Fault{sim.FaultServerError}
	case u < 33:
		faults = []sim.Fault{sim.FaultReset}
	case u < 35:
		faults = []sim.Fault{sim.FaultServerError, sim.FaultServerError, sim.FaultServerError, sim.FaultServerError, sim.FaultServerError}
	}
	if err := r.acct.Script(sim.EndpointBalance, faults...); err != nil {
		r.t.Fatal(err)
	}
}

// check runs one check and returns the crash point it stopped at, if any.
func (r *monthRig) check() (crashed string) {
	defer func() {
		if p := recover(); p != nil {
			c, ok := p.(monthCrash)
			if !ok {
				panic(p)
			}
			crashed = string(c)
		}
	}()
	r.w.Check(context.Background())
	return ""
}

// maybeRestart restarts after a crash, and one check in 500 anyway, the
// watchdog then down for up to five checks; it now and then arms a crash
// (after the intent is written, or after the answer came and before its
// outcome is) for the next top-up. It returns how many checks the watchdog
// is down for. The metrics and the notifier live on across restarts.
func (r *monthRig) maybeRestart(crashed string) int {
	if r.crashAt == "" && r.rng.IntN(1250) == 0 {
		r.crashAt = []string{watchdog.CrashAfterIntent, watchdog.CrashAfterAnswer}[r.rng.IntN(2)]
	}
	if crashed == "" && r.rng.IntN(500) != 0 {
		return 0
	}
	if crashed == "" {
		crashed = "none"
	}
	r.crashes[crashed]++
	r.stop()
	r.start()
	return r.rng.IntN(6)
}

// readLines reads the check's log lines, from offset on, and returns the
// offset after them.
func (r *monthRig) readLines(c *monthCheck, offset int) int {
	lines := r.logs.From(offset)
	for _, raw := range strings.Split(strings.TrimSuffix(string(lines), "\n"), "\n") {
		var l monthLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			r.t.Fatalf("%s: log line is not JSON: %q", c.at, raw)
		}
		switch l.Msg {
		case "decision":
			if c.decision != nil || c.failed {
				r.t.Fatalf("%s: two decisions in one check", c.at)
			}
			c.decision = &l
		case "check failed":
			c.failed = true
		case "topup":
			c.topUp = &l
		}
	}
	if c.decision == nil && !c.failed {
		r.t.Fatalf("%s: a check with neither a decision nor a failure", c.at)
	}
	return offset + len(lines)
}

// sweep looks for the secret and the trx in everything written.
func (r *monthRig) sweep(v *monthVerdict) {
	r.stopHook() // delivers what is queued, then stops
	rec := httptest.NewRecorder()
	r.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for what, b := range map[string][]byte{
		"the logs": r.logs.Bytes(), "the errors": r.errs.Bytes(),
		"the notifications and the notifier's logs": r.side.Bytes(), "the metrics": rec.Body.Bytes(),
	} {
		monthSweep(r.t, what, b)
	}
	if !strings.Contains(string(r.side.Bytes()), `"event":"topup_confirmed"`) {
		v.fail("sweep", "no notification reached the webhook: the sweep of notifications saw nothing")
	}
}

// monthSweep fails if b holds the secret or the trx in any form a leak
// would take: as is, URL-escaped, or in a Basic token.
func monthSweep(t *testing.T, what string, b []byte) {
	t.Helper()
	forms := []string{apiSecret, url.QueryEscape(apiSecret), url.PathEscape(apiSecret), "Sup3r-S3cret", trx,
		base64.StdEncoding.EncodeToString([]byte(apiKey + ":" + apiSecret))}
	for _, f := range forms {
		if strings.Contains(string(b), f) {
			t.Errorf("%s hold %q", what, f)
		}
	}
}

// monthVerdict collects the broken invariants, reporting the first few
// cases of each.
type monthVerdict struct {
	t      *testing.T
	seed   uint64
	broken map[string]int
}

func (v *monthVerdict) fail(invariant, format string, args ...any) {
	v.t.Helper()
	v.broken[invariant]++
	if v.broken[invariant] <= 5 {
		v.t.Errorf("seed %d: %s: %s", v.seed, invariant, fmt.Sprintf(format, args...))
	}
}

// monthWindowHolds: no top-up request while an earlier applied one was still
// uncredited and inside the window. Exactly: for requests a and b received
// in that order, a applied, never b.ReceivedAt < a.CreditAt and
// b.ReceivedAt - a.ReceivedAt < window. No tolerance: the fake clock stands
// still during a check, so a request is received at the instant its intent
// was written. This holds only because credits are the only rises of the
// balance and the credit delay is shorter than the window: then a credit
// can only confirm (rule 6) its own top-up or one whose window is over. With
// a credit delay over the window, or any other credit, an older top-up's
// credit confirms a newer one, and the watchdog, keeping to the contract,
// sends again while that one is still uncredited.
func monthWindowHolds(v *monthVerdict, tops []sim.TopUp) {
	for i, a := range tops {
		if !a.Applied {
			continue
		}
		for _, b := range tops[i+1:] {
			if b.ReceivedAt.Sub(a.ReceivedAt) >= monthSettings.Window {
				break
			}
			if b.ReceivedAt.Before(a.CreditAt) {
				v.fail("window", "request %d at %s while request %d of %s was applied and not credited until %s",
					b.Seq, b.ReceivedAt, a.Seq, a.ReceivedAt, a.CreditAt)
			}
		}
	}
}

// monthCapHolds: in any 24 hours, no more top-up requests that may have
// reached Vonage than the daily cap. Exactly: for every instant x, the
// requests received in (x-24h, x] that were not answered 429 or 401 (rule 5:
// not sent and rejected, which do not count) number at most MaxPerDay. It
// returns the most such requests, and the most applied ones, in any 24 hours.
func monthCapHolds(v *monthVerdict, tops []sim.TopUp) (most, mostApplied int) {
	window := func(keep func(sim.TopUp) bool) int {
		var at []time.Time
		for _, t := range tops {
			if keep(t) {
				at = append(at, t.ReceivedAt)
			}
		}
		most, first := 0, 0
		for last, t := range at {
			for t.Sub(at[first]) >= policy.Day {
				first++
			}
			most = max(most, last-first+1)
		}
		return most
	}
	most = window(func(t sim.TopUp) bool {
		return t.Status != http.StatusTooManyRequests && t.Status != http.StatusUnauthorized
	})
	if most > monthSettings.MaxPerDay {
		v.fail("daily cap", "%d requests that may have reached Vonage within 24 hours, over the cap of %d", most, monthSettings.MaxPerDay)
	}
	return most, window(func(t sim.TopUp) bool { return t.Applied })
}

// monthOutcome is the outcome contract rule 5 gives a request the account
// answered so.
func monthOutcome(t sim.TopUp) string {
	switch {
	case t.Status == http.StatusTooManyRequests:
		return string(ledger.NotSent)
	case t.Status == http.StatusUnauthorized:
		return string(ledger.Rejected)
	case t.Status == http.StatusOK && t.Fault == sim.FaultNone:
		return string(ledger.Succeeded)
	default: // a 5xx, a reset connection, an unreadable 200
		return string(ledger.Unknown)
	}
}

// monthOracle is the contract's rules 2, 3 and 6 worked from the account's
// side: the balance the account held at each check whose read succeeded,
// and the top-ups the account received with the outcome rule 5 gives them.
// It shares no decision code with the policy or the watchdog.
type monthOracle struct {
	refilling bool
	intents   []monthIntent
}

type monthIntent struct {
	at     time.Time
	before decimal.Decimal
	status policy.Status
}

func (o *monthOracle) decide(c *monthCheck) monthLine {
	s := monthSettings
	for i := range o.intents {
		if in := &o.intents[i]; in.status == policy.Pending && c.balance.GreaterThan(in.before) {
			in.status = policy.Confirmed
		}
	}
	below := c.balance.LessThan(s.Threshold)
	o.refilling = below || o.refilling && c.balance.LessThan(s.Target)
	var open, rejected bool
	d := monthLine{Refilling: o.refilling}
	for _, in := range o.intents {
		age := c.at.Sub(in.at)
		switch in.status {
		case policy.Pending:
			open = open || age < s.Window
			d.TopUps24h += monthBool(age < policy.Day)
		case policy.Confirmed:
			d.TopUps24h += monthBool(age < policy.Day)
		case policy.Rejected:
			rejected = rejected || age < s.Window
		}
	}
	d.Action, d.Reason = "blocked", ""
	switch {
	case !o.refilling:
		d.Action, d.Reason = "none", "balance_ok"
	case !c.autoReload:
		d.Reason = "auto_reload_disabled"
	case open:
		d.Reason = "window_open"
	case rejected:
		d.Reason = "recently_rejected"
	case d.TopUps24h >= s.MaxPerDay:
		d.Reason = "daily_cap_reached"
	case below:
		d.Action, d.Reason = "top_up", "below_threshold"
	default:
		d.Action, d.Reason = "top_up", "refilling"
	}
	return d
}

func monthBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

// monthFigures are what the replay measured, for the report.
type monthFigures struct {
	ran, failed, down   int
	decisions, outcomes map[string]int
	// longestWait is the longest a need (the account below the threshold)
	// went without a top-up attempt, to a check that read the balance,
	// leaving out waits that auto-reload or the daily cap explain.
	longestWait             time.Duration
	longestWaitAt           time.Time
	excused                 int
	most24h, mostApplied24h int
}

// monthReplay replays the month against the oracle, check by check:
//
//   - rule 1: a check whose read failed sends nothing;
//   - every decision line reports the balance the account held at that
//     instant, and the action, reason, topups_24h and refilling the oracle
//     gives (so the watchdog's decisions are the contract's, restarts and
//     crashes included);
//   - no top-up while the balance was at or above the threshold and no
//     refill was under way. Exactly: a request at a check where the
//     balance b >= threshold comes only if an earlier successful read was
//     below the threshold and none since, this one included, was at or
//     above the target;
//   - liveness, exact: at every check that read the balance, the account
//     received a top-up request (or the watchdog crashed with its intent
//     written) if and only if the oracle calls for a top-up;
//   - rule 5: each request's outcome line is the one the account's answer
//     calls for, after one attempt;
//   - then monthNeedsWait bounds how long a need waits.
func monthReplay(v *monthVerdict, checks []monthCheck) monthFigures {
	s := monthSettings
	f := monthFigures{decisions: map[string]int{}, outcomes: map[string]int{}}
	var o monthOracle
	blocked := make([]bool, len(checks)) // auto-reload off, or the daily cap in the way
	for i := range checks {
		c := &checks[i]
		blocked[i] = !c.autoReload
		switch {
		case !c.ran:
			f.down++
			continue
		case c.failed:
			f.failed++
			if len(c.requests) > 0 {
				v.fail("rule 1", "%s: a check whose read failed sent %d top-ups", c.at, len(c.requests))
			}
			continue
		}
		f.ran++
		refillBefore := o.refilling
		want := o.decide(c)
		got := *c.decision
		f.decisions[got.Action+"/"+got.Reason]++
		blocked[i] = blocked[i] || want.Reason == "daily_cap_reached"
		if read, err := decimal.NewFromString(got.Balance); err != nil || !read.Equal(c.balance) {
			v.fail("reads", "%s: the decision line says balance %s, the account held %s", c.at, got.Balance, c.balance)
		}
		if got.Action != want.Action || got.Reason != want.Reason || got.TopUps24h != want.TopUps24h || got.Refilling != want.Refilling {
			v.fail("decisions", "%s at balance %s: logged %s/%s topups_24h=%d refilling=%t, the contract gives %s/%s topups_24h=%d refilling=%t",
				c.at, c.balance, got.Action, got.Reason, got.TopUps24h, got.Refilling, want.Action, want.Reason, want.TopUps24h, want.Refilling)
		}
		sent := len(c.requests) > 0 || c.crash == watchdog.CrashAfterIntent
		if len(c.requests) > 0 && !c.balance.LessThan(s.Threshold) && !(refillBefore && c.balance.LessThan(s.Target)) {
			v.fail("no top-up without a need", "%s: a request at balance %s with no refill under way", c.at, c.balance)
		}
		if sent != (want.Action == "top_up") {
			v.fail("liveness", "%s at balance %s: the contract gives %s/%s, the account received %d requests (crash %q)",
				c.at, c.balance, want.Action, want.Reason, len(c.requests), c.crash)
		}
		if got.Action == "top_up" {
			o.intents = append(o.intents, monthIntent{at: c.at, before: c.balance, status: monthStatus(v, c, &f)})
		}
	}
	monthNeedsWait(v, checks, blocked, &f)
	return f
}

// monthStatus checks the outcome of the check's top-up against rule 5 and
// returns it as the policy sees it.
func monthStatus(v *monthVerdict, c *monthCheck, f *monthFigures) policy.Status {
	if c.crash != "" {
		f.outcomes["crashed "+c.crash]++
		return policy.Pending // the intent stays pending in the ledger
	}
	if len(c.requests) != 1 || c.topUp == nil {
		v.fail("rule 5", "%s: a top-up with %d requests and topup line %+v", c.at, len(c.requests), c.topUp)
		return policy.Pending
	}
	req := c.requests[0]
	want := monthOutcome(req)
	f.outcomes[want]++
	if c.topUp.Outcome != want || c.topUp.Attempts != 1 {
		v.fail("rule 5", "%s: the account answered %d (fault %q), the topup line says %s after %d attempts, want %s after 1",
			c.at, req.Status, req.Fault, c.topUp.Outcome, c.topUp.Attempts, want)
	}
	if !req.BalanceBefore.Equal(c.balance) {
		v.fail("reads", "%s: the request found balance %s, the check read %s", c.at, req.BalanceBefore, c.balance)
	}
	switch want {
	case string(ledger.Rejected):
		return policy.Rejected
	case string(ledger.NotSent):
		return policy.NotSent
	}
	return policy.Pending
}

// monthNeedsWait: no need left without a top-up for longer than the window.
// A need starts when the account goes below the threshold (sim.BelowSince,
// exact) and is answered by a top-up attempt (a request, or an intent
// written before a crash). Exactly: at a check that read the balance while
// it was below the threshold and sent nothing, the time since the need
// started, or since the last attempt if that is later, is at most
// window + interval + interval x (checks since then that could not read the
// balance: failed, or the watchdog down). The window is what an attempt
// that may have reached Vonage, or was rejected, holds; the interval is the
// wait for the next check; each check lost adds its interval. A wait during
// which auto-reload was off or the daily cap blocked a check is excused:
// the contract waits for those without a bound.
func monthNeedsWait(v *monthVerdict, checks []monthCheck, blocked []bool, f *monthFigures) {
	lost := make([]int, len(checks)+1) // lost[i]: checks before i that could not read
	for i, c := range checks {
		lost[i+1] = lost[i] + monthBool(!c.ran || c.failed)
	}
	var last time.Time // the last attempt
	for i, c := range checks {
		attempted := len(c.requests) > 0 || c.crash == watchdog.CrashAfterIntent
		if c.ran && !c.failed && !c.since.IsZero() {
			start := c.since
			if last.After(start) {
				start = last
			}
			from := sort.Search(i+1, func(j int) bool { return !checks[j].at.Before(start) })
			excused := false
			for _, b := range blocked[from : i+1] {
				excused = excused || b
			}
			wait := c.at.Sub(start)
			allowed := monthSettings.Window + monthInterval + time.Duration(lost[i+1]-lost[from])*monthInterval
			switch {
			case excused:
				f.excused++
			case wait > allowed && !attempted:
				v.fail("need waited", "%s: below the threshold since %s, last attempt %s: waited %s, allowed %s",
					c.at, c.since, last, wait, allowed)
			case wait > f.longestWait:
				f.longestWait, f.longestWaitAt = wait, c.at
			}
		}
		if attempted {
			last = c.at
		}
	}
}

// report logs the month's figures.
func (r *monthRig) report(tops []sim.TopUp, f monthFigures, elapsed time.Duration) {
	results, topUpFaults := map[sim.Result]int{}, map[sim.Fault]int{}
	for _, t := range tops {
		results[t.Result]++
		if t.Fault != sim.FaultNone {
			topUpFaults[t.Fault]++
		}
	}
	readFaults := r.acct.Stats().Faults
	for f, n := range topUpFaults {
		if readFaults[f] -= n; readFaults[f] == 0 {
			delete(readFaults, f)
		}
	}
	low, lowAt := r.acct.Lowest()
	r.t.Logf("checks: %d read the balance, %d failed, %d while the watchdog was down; %d starts, restarts by crash point %v",
		f.ran, f.failed, f.down, r.starts, r.crashes)
	r.t.Logf("decisions: %v", f.decisions)
	r.t.Logf("top-ups: %d requests; by the account's result %v; by outcome %v", len(tops), results, f.outcomes)
	r.t.Logf("faults injected: on top-ups %v; on balance reads %v", topUpFaults, readFaults)
	r.t.Logf("most top-ups in 24h: %d that may have reached Vonage, %d applied (cap %d)",
		f.most24h, f.mostApplied24h, monthSettings.MaxPerDay)
	r.t.Logf("lowest balance %s at %s; below the threshold for %s in all; longest need wait %s (at %s), %d waits excused",
		low, lowAt.Format(time.RFC3339), r.acct.TimeBelow(monthSettings.Threshold), f.longestWait,
		f.longestWaitAt.Format(time.RFC3339), f.excused)
	r.t.Logf("swept: %d bytes of logs, %d of errors, %d of ledger files, %d of notifications; real time %s",
		len(r.logs.Bytes()), len(r.errs.Bytes()), r.ledgers, len(r.side.Bytes()), elapsed.Round(time.Millisecond))
}
