package watchdog_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/oracle"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/simcheck"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// monthVerdict collects the broken invariants, reporting the first few
// cases of each.
type monthVerdict struct {
	t      *testing.T
	seed   uint64
	s      policy.Settings // the month's, its policy and interval included
	broken map[string]int
}

func (v *monthVerdict) fail(invariant, format string, args ...any) {
	v.t.Helper()
	v.broken[invariant]++
	if v.broken[invariant] <= 5 {
		v.t.Errorf("seed %d: %s: %s", v.seed, invariant, fmt.Sprintf(format, args...))
	}
}

// monthRecord checks the account's record of the month against the
// watchdog's record of its top-ups (intents: monthRecorded), as the fault
// storm does (internal/simcheck): every request had its intent first;
// nothing that may have reached Vonage was re-sent; each intent's outcome
// line is the one the README's table of top-up outcomes gives the
// account's answer, every answer reaching the watchdog whole (no fault of
// the month holds one back: see start); no request while an earlier
// applied one was uncredited and inside its window; and in any 24 hours no
// more requests that may have reached Vonage than the daily cap, at the
// account and in the watchdog's record. It returns the most such requests,
// and the most applied ones, in any 24 hours.
//
// The window is exact: for requests a and b received in that order, a
// applied, never b.ReceivedAt < a.CreditAt and b.ReceivedAt - a.ReceivedAt
// < window. No tolerance: the fake clock stands still during a check (the
// month's Sleep does not move it; see start, and run checks it), so a
// request is received, and ends, at the instant its intent was written.
// This holds only because credits are the only rises of the balance and
// the credit delay is shorter than the window: then a credit can only
// confirm (rule 6) its own top-up or one whose window is over. With a
// credit delay over the window, or any other credit, an older top-up's
// credit confirms a newer one, and the watchdog, keeping to the contract,
// sends again while that one is still uncredited.
func monthRecord(v *monthVerdict, tops []sim.TopUp, intents []simcheck.Intent) (most, mostApplied int) {
	run, vs := simcheck.New(tops, intents)
	vs = append(vs, run.NoResend()...)
	vs = append(vs, run.Outcomes(true)...)
	vs = append(vs, run.NoDouble()...)
	most, mostApplied, capped := run.Cap(v.s.MaxPerDay)
	_, recorded := run.LedgerCap(v.s.MaxPerDay)
	for _, x := range append(append(vs, capped...), recorded...) {
		v.fail(x.Invariant, "%s", x.Text)
	}
	return most, mostApplied
}

// monthRecorded is the watchdog's record of the top-up of check c: its
// intent written at the check's instant, and its window from then (the
// clock stands still), with the outcome its topup line gives, or pending
// when the check crashed before that line or wrote none.
func monthRecorded(c *monthCheck, window time.Duration) simcheck.Intent {
	in := simcheck.Intent{ID: "of the check at " + c.at.Format(time.RFC3339), At: c.at, Outcome: ledger.Pending, WindowEnd: c.at.Add(window)}
	if c.crash == "" && c.topUp != nil {
		in.Outcome = ledger.Outcome(c.topUp.Outcome)
	}
	return in
}

// monthOracle replays the account's side of the month for internal/oracle,
// the one statement of the contract's rules 2 and 3 and of the predictive
// policy: the balance the account held at each check whose read succeeded,
// the refill the oracle gave the check before, the readings the ledger
// keeps, and the top-ups the account received, with the outcome the
// README's table of top-up outcomes gives them and confirmed by rule 6. It shares no decision code with the
// policy or the watchdog.
//
// The readings are those the checks recorded in the ledger: every check
// that read the balance records its decision, and its reading with it
// (restarts and crashes included: a crash comes after the update), kept as
// the ledger keeps them (oracle.AddReading). A confirmation's time is the
// check that saw the credit, for the automatic lead time. A top-up whose
// window ended before any check saw a credit is not confirmed later (a
// later rise is the credit of the top-up its end let through): it stays
// pending, which counts as confirmed does, but gives no credit delay.
type monthOracle struct {
	s         policy.Settings
	refilling bool
	intents   []monthIntent
	readings  []policy.Reading
}

type monthIntent struct {
	at          time.Time
	before      decimal.Decimal
	status      policy.Status
	expired     bool
	confirmedAt time.Time
}

// decide returns the input the oracle sees at check c, and the decision
// line the oracle gives for it; it records the check's reading.
func (o *monthOracle) decide(c *monthCheck) (policy.Input, monthLine) {
	in := policy.Input{Balance: c.balance, AutoReload: c.autoReload, Now: c.at, Refilling: o.refilling, Readings: o.readings}
	for i := range o.intents {
		it := &o.intents[i]
		switch {
		case it.status != policy.Pending || it.expired:
		case c.balance.GreaterThan(it.before):
			it.status, it.confirmedAt = policy.Confirmed, c.at
		case c.at.Sub(it.at) >= o.s.Window:
			it.expired = true
		}
		// The fake clock stands still during a check: a request ends at the
		// instant of its intent, and a rejection comes then.
		in.TopUps = append(in.TopUps, policy.TopUp{At: it.at, Ended: it.at, Status: it.status, Attempts: 1, ConfirmedAt: it.confirmedAt})
	}
	d := oracle.Expect(o.s, in)
	o.refilling = d.Refilling
	o.readings = oracle.AddReading(o.readings, policy.Reading{At: c.at, Balance: c.balance})
	l := monthLine{Action: string(d.Action), Reason: string(d.Reason), TopUps24h: d.TopUps24h, Refilling: d.Refilling}
	if d.RateKnown {
		ms := d.LeadTime.Milliseconds()
		l.BurnRate, l.Projected, l.LeadMS, l.LeadAuto = d.BurnRate.String(), d.Projected.String(), &ms, d.LeadAuto
	}
	return in, l
}

// monthSame reports whether the decision lines say the same: amounts by
// value, no burn rate in both or equal ones.
func monthSame(got, want monthLine) bool {
	amount := func(a, b string) bool {
		x, errX := decimal.NewFromString(a)
		y, errY := decimal.NewFromString(b)
		return a == b || errX == nil && errY == nil && x.Equal(y)
	}
	lead := (got.LeadMS == nil) == (want.LeadMS == nil) && (got.LeadMS == nil || *got.LeadMS == *want.LeadMS)
	return got.Action == want.Action && got.Reason == want.Reason && got.TopUps24h == want.TopUps24h &&
		got.Refilling == want.Refilling && amount(got.BurnRate, want.BurnRate) && amount(got.Projected, want.Projected) &&
		lead && got.LeadAuto == want.LeadAuto
}

// String is what monthSame compares.
func (l monthLine) String() string {
	s := fmt.Sprintf("%s/%s topups_24h=%d refilling=%t", l.Action, l.Reason, l.TopUps24h, l.Refilling)
	if l.LeadMS != nil {
		s += fmt.Sprintf(" burn_rate_per_min=%s projected_balance=%s lead_time_ms=%d lead_time_auto=%t",
			l.BurnRate, l.Projected, *l.LeadMS, l.LeadAuto)
	}
	return s
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
	// projected counts the top-ups sent for a projected need alone; rated
	// the checks whose readings gave a burn rate.
	projected, rated int
	// intents are the watchdog's record of its top-ups (monthRecorded).
	intents []simcheck.Intent
}

// monthReplay replays the month against the oracle, check by check:
//
//   - rule 1: a check whose read failed sends nothing;
//   - every decision line reports the balance the account held at that
//     instant, and the action, reason, topups_24h, refilling, burn rate,
//     projected balance and lead time the oracle gives (so the watchdog's
//     decisions are the contract's, restarts and crashes included);
//   - no top-up without a need: a request comes only at a check that the
//     oracle says wants one (oracle.Want: below the threshold; or, with a
//     refill under way by the oracle's own replay, below the target; or,
//     with the predictive policy, projected below the threshold);
//   - liveness, exact: at every check that read the balance, the account
//     received a top-up request (or the watchdog crashed with its intent
//     written) if and only if the oracle calls for a top-up;
//   - each top-up has one request, and its topup line one attempt
//     (monthStatus; its outcome is checked by monthRecord);
//   - then monthNeedsWait bounds how long a need waits.
func monthReplay(v *monthVerdict, checks []monthCheck) monthFigures {
	s := v.s
	f := monthFigures{decisions: map[string]int{}, outcomes: map[string]int{}}
	o := monthOracle{s: s}
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
		in, want := o.decide(c)
		got := *c.decision
		f.decisions[got.Action+"/"+got.Reason]++
		blocked[i] = blocked[i] || want.Reason == "daily_cap_reached"
		if read, err := decimal.NewFromString(got.Balance); err != nil || !read.Equal(c.balance) {
			v.fail("reads", "%s: the decision line says balance %s, the account held %s", c.at, got.Balance, c.balance)
		}
		if !monthSame(got, want) {
			v.fail("decisions", "%s at balance %s: logged %s; the contract gives %s", c.at, c.balance, got, want)
		}
		f.rated += monthBool(want.LeadMS != nil)
		sent := len(c.requests) > 0 || c.crash == watchdog.CrashAfterIntent
		need, ok := oracle.Want(s, in)
		if sent && !ok {
			v.fail("no top-up without a need", "%s: a request at balance %s, no refill under way, nothing projected below the threshold (%s)",
				c.at, c.balance, want)
		}
		// A projected need is one at or above the threshold with no
		// refill under way (oracle.Want names the first need).
		f.projected += monthBool(sent && need == policy.ReasonProjectedBelowThreshold)
		if sent != (want.Action == "top_up") {
			v.fail("liveness", "%s at balance %s: the contract gives %s/%s, the account received %d requests (crash %q)",
				c.at, c.balance, want.Action, want.Reason, len(c.requests), c.crash)
		}
		if got.Action == "top_up" {
			o.intents = append(o.intents, monthIntent{at: c.at, before: c.balance, status: monthStatus(v, c, &f)})
			f.intents = append(f.intents, monthRecorded(c, s.Window))
		}
	}
	monthNeedsWait(v, checks, blocked, &f)
	return f
}

// monthStatus checks that the check's top-up made one request, in one
// attempt, on the balance the check read, and returns its outcome as the
// policy sees it: the one the README's table of top-up outcomes gives the
// account's answer (monthRecord checks that the topup line says so).
func monthStatus(v *monthVerdict, c *monthCheck, f *monthFigures) policy.Status {
	if c.crash != "" {
		f.outcomes["crashed "+c.crash]++
		return policy.Pending // the intent stays pending in the ledger
	}
	if len(c.requests) != 1 || c.topUp == nil {
		v.fail(simcheck.Outcome, "%s: a top-up with %d requests and topup line %+v", c.at, len(c.requests), c.topUp)
		return policy.Pending
	}
	req := c.requests[0]
	want := simcheck.OutcomeOf(req)
	f.outcomes[string(want)]++
	if c.topUp.Attempts != 1 {
		v.fail(simcheck.Outcome, "%s: the account answered %d (fault %q), the topup line says %s after %d attempts, want 1: nothing of the month is retried",
			c.at, req.Status, req.Fault, c.topUp.Outcome, c.topUp.Attempts)
	}
	if !req.BalanceBefore.Equal(c.balance) {
		v.fail("reads", "%s: the request found balance %s, the check read %s", c.at, req.BalanceBefore, c.balance)
	}
	switch want {
	case ledger.Rejected:
		return policy.Rejected
	case ledger.NotSent:
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
			allowed := v.s.Window + monthInterval + time.Duration(lost[i+1]-lost[from])*monthInterval
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
