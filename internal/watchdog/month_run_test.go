package watchdog_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/replay"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

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
	// The burn rate and the projection, when the readings give a rate.
	BurnRate  string `json:"burn_rate_per_min"`
	Projected string `json:"projected_balance"`
	LeadMS    *int64 `json:"lead_time_ms"`
	LeadAuto  bool   `json:"lead_time_auto"`
}

// run drives the month on the replay driver's schedule and returns its
// checks, one per interval, those missed while the watchdog was down
// included. Before each run time's check come the traffic, the account as
// the check will find it, and the check's scripted read faults, or no check
// while the watchdog is down; after it, what the check did, and a restart.
func (r *monthWorld) run(days int) []monthCheck {
	n := days * int(24*time.Hour/monthInterval)
	end := r.clock.Now().Add(time.Duration(days) * 24 * time.Hour)
	out := make([]monthCheck, 0, n)
	down, seenRequests, logOffset := 0, 0, 0
	var c monthCheck
	var minute int
	err := r.d.Run(context.Background(), end, replay.Hooks{
		Before: func(tk replay.Tick) bool {
			if tk.N != len(out) { // the clock stands still during a check: none overruns
				r.t.Fatalf("%s: run time %d after %d checks: the schedule skipped one", tk.At, tk.N, len(out))
			}
			var day int
			day, minute = r.dayAndMinute()
			r.traffic(day, minute)
			c = monthCheck{at: tk.At, balance: r.acct.Balance(), autoReload: r.acct.AutoReload()}
			if c.balance.LessThan(r.s.Threshold) {
				c.since, _ = r.acct.BelowSince(r.s.Threshold)
			}
			if down > 0 {
				down--
				return false
			}
			c.ran = true
			r.scriptReads(day, minute)
			return true
		},
		After: func(tk replay.Tick) {
			if tk.Ran {
				c.crash = tk.Crashed
				if now := r.clock.Now(); !now.Equal(c.at) {
					r.t.Fatalf("%s: the clock moved to %s during the check", c.at, now)
				}
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
		},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	if len(out) != n {
		r.t.Fatalf("%d checks in %d days, want %d", len(out), days, n)
	}
	// The month ends at its end, its last interval included in the
	// account's figures (the time below the threshold, the lowest balance).
	r.clock.Advance(end.Sub(r.clock.Now()))
	r.stop()
	return out
}

func (r *monthWorld) dayAndMinute() (day, minute int) {
	since := r.clock.Now().Sub(r.acct.Started())
	return int(since / (24 * time.Hour)), int(since % (24 * time.Hour) / time.Minute)
}

// traffic makes the trace bursty on top of the account's drain and bursts:
// campaigns of 3 to 25 EUR in business hours, the account emptied now and
// then, auto-reload off for two hours, and the flood (72 EUR an hour for six
// hours). The balance only ever goes down but for credits: a rise that is
// not a top-up's credit would confirm a pending top-up by contract rule 6,
// and the watchdog would then rightly send another (see the report).
func (r *monthWorld) traffic(day, minute int) {
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
func (r *monthWorld) scriptReads(day, minute int) {
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

// maybeRestart restarts after a crash, and one check in 500 anyway, the
// watchdog then down for up to five checks; it now and then arms a crash
// with the driver (after the intent is written, or after the answer came
// and before its outcome is) for the next top-up, of this process or a
// later one. It returns how many checks the watchdog is down for. The
// metrics and the notifier live on across restarts.
func (r *monthWorld) maybeRestart(crashed string) int {
	if r.d.Armed() == "" && r.rng.IntN(1250) == 0 {
		r.d.CrashAt([]string{watchdog.CrashAfterIntent, watchdog.CrashAfterAnswer}[r.rng.IntN(2)])
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
func (r *monthWorld) readLines(c *monthCheck, offset int) int {
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

// sweep looks for the secret, the trx and the Basic token, in every form
// (internal/secrettest), in everything the watchdog wrote: the ledger files
// persist swept, and the logs, the errors, the notifications and the
// metrics.
func (r *monthWorld) sweep(v *monthVerdict) {
	r.stopHook() // delivers what is queued, then stops
	rec := httptest.NewRecorder()
	r.metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	r.swept.Add("the logs", r.logs.Bytes())
	r.swept.Add("the errors", r.errs.Bytes())
	r.swept.Add("the notifications and the notifier's logs", r.side.Bytes())
	r.swept.Add("the metrics", rec.Body.Bytes())
	r.swept.Check(r.t)
	if !strings.Contains(string(r.side.Bytes()), `"event":"topup_confirmed"`) {
		v.fail("sweep", "no notification reached the webhook: the sweep of notifications saw nothing")
	}
}

// monthSecrets are what the month's sweep looks for.
func monthSecrets() []string {
	return []string{apiSecret, trx, base64.StdEncoding.EncodeToString([]byte(apiKey + ":" + apiSecret))}
}

// report logs the month's figures.
func (r *monthWorld) report(tops []sim.TopUp, f monthFigures, elapsed time.Duration) {
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
	r.t.Logf("projection: %d top-ups for a projected need alone (%s, at or above the threshold); %d checks knew a burn rate; %d readings read back from the ledger file by %d starts, %d of which lost some; %d written to its readings journal",
		f.projected, policy.ReasonProjectedBelowThreshold, f.rated, r.restored, r.starts, r.lost, r.journaled)
	r.t.Logf("top-ups: %d requests; by the account's result %v; by outcome %v", len(tops), results, f.outcomes)
	r.t.Logf("faults injected: on top-ups %v; on balance reads %v", topUpFaults, readFaults)
	r.t.Logf("most top-ups in 24h: %d that may have reached Vonage, %d applied (cap %d)",
		f.most24h, f.mostApplied24h, r.s.MaxPerDay)
	r.t.Logf("lowest balance %s at %s; below the threshold for %s in all; longest need wait %s (at %s), %d waits excused",
		low, lowAt.Format(time.RFC3339), r.acct.TimeBelow(r.s.Threshold), f.longestWait,
		f.longestWaitAt.Format(time.RFC3339), f.excused)
	r.t.Logf("swept: %d bytes of logs, %d of errors, %d of ledger files, %d of notifications; real time %s",
		len(r.logs.Bytes()), len(r.errs.Bytes()), r.ledgers, len(r.side.Bytes()), elapsed.Round(time.Millisecond))
}
