// Package watchdog owns one check of the account: read the balance, decide
// with the policy, claim the top-up in the ledger, send it, record its
// outcome, and log every step. It also runs checks on a cron schedule.
//
// The interfaces it needs (Vonage, Ledger, Observer) are declared here, with
// their consumer; internal/vonage and internal/ledger implement them.
package watchdog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// Vonage is the account API, one attempt per call.
type Vonage interface {
	GetBalance(ctx context.Context) (vonage.Balance, error)
	TopUp(ctx context.Context) error
}

// Ledger is the durable record of top-ups. Update applies fn to a copy of the
// state and makes the result durable before it returns nil. fn may run more
// than once for one Update (a store that retries an optimistic transaction
// does so), so it must derive everything from the state it is given.
type Ledger interface {
	View(ctx context.Context) (ledger.State, error)
	Update(ctx context.Context, fn func(*ledger.State) error) error
}

// Fleet is what the replicas of one account share beside the ledger: the
// schedule's tick, so that one replica reads the balance per tick for all.
// The Redis ledger implements it.
type Fleet interface {
	// Tick asks for the tick at hand, held for lease on the fleet's clock:
	// Won when this replica has it (it won it now, or held it from its last
	// tick), else Holder has it and Last is the fleet's last reading.
	Tick(ctx context.Context, lease time.Duration) (ledger.Tick, error)
}

// Options configure a Watchdog. Settings is required; the rest have defaults.
type Options struct {
	Settings policy.Settings
	// DryRun decides and logs, and never sends a top-up.
	DryRun bool
	Log    *zap.Logger
	// Observer is told of every event; nil means nobody.
	Observer Observer
	// Amount is what every top-up adds (TOPUP_AMOUNT); zero means unknown:
	// any rise then confirms a top-up.
	Amount decimal.Decimal
	// Fleet, when set, makes this watchdog one replica of a fleet: a
	// scheduled check reads the balance only when it wins the tick, and Now
	// must be the fleet's clock (Redis's), shared by every replica. A step
	// of it is then the fleet's, not this process's: it moves no record (each
	// replica would move them again). nil means the watchdog is alone.
	Fleet Fleet
	// Replica names this replica in the readings it shares; "" for none.
	Replica string
	// Now is the wall clock, which may step; nil means the system's.
	Now func() time.Time
	// Monotonic is a clock that never steps, as a span since any origin;
	// spans are measured on it. nil means the system's when Now is nil too
	// or Fleet is set, and else a clock derived from Now (which then cannot
	// step).
	Monotonic func() time.Duration
	// BootID names the boot of the machine that Monotonic counts from, so
	// that a later process on the same boot can tell, from the ledger, a step
	// of the wall clock made while no watchdog ran. With Monotonic nil it is
	// the system's (Linux's boot_id); otherwise empty means none.
	BootID string
	// After waits on the monotonic clock, as time.After; Run's schedule uses
	// it. nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Sleep waits d between two attempts of a read or a top-up, or until
	// ctx ends; nil means a timer. A replay in simulated time advances its
	// clock instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// Interval is the span between two checks of the schedule, for the
	// automatic lead time of the predictive policy when a check does not
	// know the span to its next run (Check, a one-off); 0 means 30s.
	Interval time.Duration
	// NewID returns a fresh intent id; nil means 16 random hex digits.
	NewID func() string
	// ReadBackoff and SendBackoff build the retry schedule of one balance
	// read and of one top-up. go-retry backoffs are stateful: each call must
	// return a new one. nil means DefaultBackoff.
	ReadBackoff func() retry.Backoff
	SendBackoff func() retry.Backoff
	// MaxRetryAfter is the longest Retry-After honoured; a longer one ends
	// the retries. 0 means 30s.
	MaxRetryAfter time.Duration
	// RepeatEvery is how often an identical failure is logged again while it
	// repeats; 0 means 5 minutes.
	RepeatEvery time.Duration
	// CrashPoint, if set, is called at each named step of a top-up (the
	// CrashBefore... constants), so a test can stop the process there.
	CrashPoint func(point string)
}

// The steps of a top-up where Options.CrashPoint is called. The step between
// the request and its answer belongs to the HTTP transport; see cmd.
const (
	CrashBeforeIntent = "before_intent"
	CrashAfterIntent  = "after_intent"
	CrashAfterAnswer  = "after_answer"
)

// DefaultBackoff is exponential from 250ms with 20% jitter, at most 4
// retries and 20s in all.
func DefaultBackoff() retry.Backoff {
	b := retry.NewExponential(250 * time.Millisecond)
	b = retry.WithJitterPercent(20, b)
	b = retry.WithMaxRetries(4, b)
	return retry.WithMaxDuration(20*time.Second, b)
}

// Watchdog runs checks. Checks are serialised: a second Check waits for the
// first.
type Watchdog struct {
	api    Vonage
	ledger Ledger
	opts   Options
	log    *zap.Logger

	clock    *clock
	mu       sync.Mutex // one check at a time
	failures failureLog
	alarms   alarms // under mu
	// seen is the ledger's state as this process last wrote or read it
	// (under mu): what a check decides on when the ledger cannot be read.
	// next is the state an update is writing, which becomes seen once it
	// is durable; the two swap, so that keeping them allocates nothing.
	seen, next ledger.State
	// unsent are the intents whose write failed (under mu): the write may
	// have landed all the same (a reply lost after Redis applied it, a file
	// renamed before its fsync failed, a transaction Redis ran after the
	// client had given up on it), and this process never sent them. An
	// update that finds one pending closes it not_sent, so that it holds no
	// window; one not found yet is looked for until its window would have
	// ended.
	unsent []ledger.Record
	// recreated counts the checks in a row whose claim was refused on a
	// ledger found missing (under mu).
	recreated int
	// interval is the span from this check to the next run of the
	// schedule (under mu), the automatic lead time's interval.
	interval time.Duration
	// topUps and readings are apply's buffers for the policy's view of the
	// ledger (under mu), reused from check to check: the policy keeps
	// neither.
	topUps   []policy.TopUp
	readings []policy.Reading
}

// New returns a Watchdog over api and l.
func New(api Vonage, l Ledger, o Options) *Watchdog {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Observer == nil {
		o.Observer = ObserverFunc(func(Event) {})
	}
	switch {
	case o.Fleet != nil && o.Monotonic == nil:
		// A fleet's clock steps by design (it is set by Redis's answers):
		// never derive spans from it.
		o.Monotonic = SystemMonotonic
		if o.Now == nil {
			o.Now = systemWall
		}
	case o.Now == nil && o.Monotonic == nil:
		o.Now, o.Monotonic = systemWall, SystemMonotonic
		if o.BootID == "" {
			o.BootID = SystemBootID()
		}
	case o.Now == nil:
		o.Now = systemWall
	case o.Monotonic == nil:
		o.Monotonic = derivedMono(o.Now)
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.NewID == nil {
		o.NewID = randomID
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.ReadBackoff == nil {
		o.ReadBackoff = DefaultBackoff
	}
	if o.SendBackoff == nil {
		o.SendBackoff = DefaultBackoff
	}
	if o.MaxRetryAfter == 0 {
		o.MaxRetryAfter = 30 * time.Second
	}
	if o.RepeatEvery == 0 {
		o.RepeatEvery = 5 * time.Minute
	}
	if o.CrashPoint == nil {
		o.CrashPoint = func(string) {}
	}
	return &Watchdog{api: api, ledger: l, opts: o, log: o.Log,
		clock:    &clock{wall: o.Now, mono: o.Monotonic, boot: o.BootID, shared: o.Fleet != nil},
		failures: failureLog{every: o.RepeatEvery}}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b[:])
}

// Check runs one check: read the balance, reconcile earlier top-ups, decide,
// and send a top-up when the policy says so. It reads even when another
// replica of a fleet has the tick: an operator's one-off check.
func (w *Watchdog) Check(ctx context.Context) { w.check(ctx, 0) }

// check is Check; with a fleet and a lease above 0 it first asks for the
// tick, for lease, and reads nothing when another replica has it. A tick
// that cannot be asked for (Redis down) is read by every replica: the
// balance is still watched, and a top-up is sent only once its claim is
// written in Redis.
func (w *Watchdog) check(ctx context.Context, lease time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opts.Observer.Observe(CheckStarted{At: w.now()})
	w.interval = w.opts.Interval
	if lease > 0 {
		w.interval = lease
	}
	if w.opts.Fleet != nil && lease > 0 && !w.tick(ctx, lease) {
		return
	}

	bal, attempts, err := w.readBalance(ctx)
	if err != nil {
		w.checkFailed(ctx, err, attempts)
		return
	}
	w.checkSucceeded()

	c, err := w.decide(ctx, bal)
	if err != nil {
		return
	}
	if c.intent != nil {
		w.opts.CrashPoint(CrashAfterIntent)
		w.send(ctx, *c.intent, c.claimed)
	}
}

// now reads the clocks, logging a step of the wall clock, and returns the
// wall-clock time.
func (w *Watchdog) now() time.Time { return w.read().wall }

// read reads the clocks, logging a step of the wall clock.
func (w *Watchdog) read() reading {
	r := w.clock.read()
	if r.step != 0 {
		w.log.Warn(msgClockStepped, zap.Int64(fieldStepMS, r.step.Milliseconds()),
			zap.String(fieldStep, r.step.String()))
	}
	return r
}

// claim is what one check decided under the ledger's lock.
type claim struct {
	decision    policy.Decision
	intent      *ledger.Record
	claimed     reading  // when the intent was written
	lost        bool     // an earlier run of the update claimed, the last did not
	closed      []string // intents of this process whose write had failed, closed not_sent
	confirmed   []ledger.Record
	unconfirmed []ledger.Record
	redated     []string
	// wasOpen is whether a window was open on the state decided on, as the
	// decision line shows it; windowOpen is whether one is open after the
	// check (its own intent opens one), as the Decided event tells it.
	wasOpen, windowOpen bool
	// rejection is the rejected top-up that blocks new ones, if any.
	rejection rejection
	spend     decimal.Decimal // since the ledger's last reading
}

// decide reconciles earlier top-ups with the balance read, applies the policy
// and, when it wants a top-up, writes the intent. It all happens in one
// ledger update, so the claim is durable before anything is sent.
//
// The clocks are read inside the update, once it has read the ledger: a
// fleet's clock is set by the transaction's own TIME, and a replica that
// has not reached Redis before (it started while Redis was down) has only
// its pod's clock until then.
func (w *Watchdog) decide(ctx context.Context, bal vonage.Balance) (claim, error) {
	var (
		c       claim
		at      reading
		pending time.Duration
		unseen  time.Duration
		ran     bool
	)
	err := w.ledger.Update(ctx, func(st *ledger.State) error {
		ran = true
		at, pending = w.read(), w.clock.unapplied()
		c, unseen = w.apply(st, bal, at, pending, c.lost || c.intent != nil)
		st.CopyTo(&w.next)
		return nil
	})
	if !ran {
		at, pending = w.read(), w.clock.unapplied()
	}
	now := at.wall
	if err != nil {
		if ctx.Err() != nil { // shutting down: the check was cut short, nothing failed
			w.log.Debug(msgCheckInterrupted, zap.Error(err))
			return claim{}, err
		}
		if !ran {
			// The ledger could not even be read (Redis down): decide on the
			// state this process saw last, so that the log still says what
			// the balance called for. Nothing of it is kept.
			st := w.seen.Clone()
			c, _ = w.apply(&st, bal, at, pending, false)
		}
		// The balance was decided on: log the decision, then why nothing
		// came of it. Confirmations wait for a ledger that can hold them.
		if c.intent != nil { // the intent that would have opened the window is not written
			c.windowOpen = false
			if ran {
				w.unsent = append(w.unsent, *c.intent)
			}
		}
		w.reportDecision(now, bal, c, false)
		w.noteDecided(bal.AutoReload, c, ran)
		w.ledgerFailed(now, err, c.decision.Action == policy.ActionTopUp && !w.opts.DryRun)
		return claim{}, err
	}
	w.seen, w.next, w.recreated = w.next, w.seen, 0
	w.unsent = stillUnsent(w.unsent, c.closed, now, w.opts.Settings)
	c.lost = c.lost && c.intent == nil
	w.clock.applied(pending)
	w.logUnseenStep(unseen)
	for _, id := range c.redated {
		w.log.Warn(msgRecordAhead, zap.String(fieldIntentID, id))
	}
	for _, id := range c.closed {
		w.log.Warn(msgUnsentClosed, zap.String(fieldIntentID, id))
	}
	w.reportReconciled(now, bal, c)
	w.reportDecision(now, bal, c, true)
	w.noteDecided(bal.AutoReload, c, true)
	if c.lost {
		w.log.Info(msgClaimLost)
		w.opts.Observer.Observe(ClaimLost{At: now})
	}
	return c, nil
}

// apply is one check's change to the ledger's state st: the clock settled,
// earlier top-ups reconciled with bal, the policy's decision, and the intent
// when it wants a top-up, all as of the reading at. lost is whether an
// earlier run of the same update claimed (an optimistic transaction runs
// apply again when another replica wrote first).
func (w *Watchdog) apply(st *ledger.State, bal vonage.Balance, at reading, pending time.Duration, lost bool) (claim, time.Duration) {
	now, s := at.wall, w.opts.Settings
	s.Interval = w.interval
	c := claim{claimed: at, lost: lost}
	unseen := w.settleClock(st, at, pending)
	c.closed = closeUnsent(st, w.unsent, now)
	c.redated = st.ClampAhead(now, StepTolerance)
	c.confirmed, c.unconfirmed = reconcile(st, bal, now, s, w.opts.Amount)
	w.topUps, w.readings = st.AppendPolicyTopUps(w.topUps[:0]), st.AppendPolicyReadings(w.readings[:0])
	c.decision = policy.Decide(s, policy.Input{
		Balance: bal.Value, AutoReload: bal.AutoReload, Now: now,
		Refilling: st.Refilling, TopUps: w.topUps, Readings: w.readings,
	})
	// After this check a window is open if one was before it (the records
	// Prune drops below are older than any window) or its intent opens one.
	c.wasOpen = s.WindowOpen(w.topUps, now)
	c.windowOpen = c.wasOpen
	c.rejection = holdingRejection(st, now, s.Window)
	st.Refilling = c.decision.Refilling
	if n := len(st.Readings); n > 0 && st.Readings[n-1].At.Before(now) {
		c.spend = policy.Spend(st.Readings[n-1].Balance, bal.Value)
	}
	if c.decision.Action == policy.ActionTopUp && !w.opts.DryRun {
		r := ledger.Record{ID: w.opts.NewID(), At: now, BalanceBefore: bal.Value, Outcome: ledger.Pending}
		st.TopUps = append(st.TopUps, r)
		c.intent = &r
		c.windowOpen = true
		w.opts.CrashPoint(CrashBeforeIntent) // decided, not yet durable
	}
	st.Prune(now.Add(-retention(s.Window)))
	st.Reading = &ledger.Reading{At: now, Balance: bal.Value, AutoReload: bal.AutoReload, Replica: w.opts.Replica}
	st.AddReading(*st.Reading)
	return c, unseen
}
