package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/simcheck"
)

// The outage test's timing: a window of 12s, a credit that lags far longer
// than the test (so no credit closes a window: only time does), Redis down
// for 4s while a need is open, and for 3s (or flushed) 2s after a top-up.
const (
	outageWindow = 12 * time.Second
	outageCredit = 2 * time.Minute
	outageDown   = 4 * time.Second
	outageAgain  = 3 * time.Second
	outageAfter  = 2 * time.Second // from the pending top-up to its outage
)

// TestFleetRedisOutage runs three replicas through Redis failing. kill_*:
// Redis is killed (SIGKILL) while the need opens, so that every replica
// wants a top-up while no claim can be made: checks go on (each replica
// reads and decides, readiness names Redis) and no request reaches the
// account; once Redis is back, exactly one replica's claim goes through
// Redis and is sent, and the ticks are shared again. Then Redis is killed
// again while that top-up is pending and uncredited, and started again: on
// its AOF (persistent: the ledger comes back) or empty (volatile: the
// replicas put back what they saw, rule 11). flushall: a FLUSHALL while a
// top-up is pending, as a Redis that lost its data. In each, no second
// top-up comes inside the pending one's window, and exactly one after it,
// claimed through Redis.
func TestFleetRedisOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		lost bool // whether Redis loses the pending top-up
	}{
		{"kill_persistent", []string{"--appendonly", "yes", "--appendfsync", "always", "--save", ""}, false},
		{"kill_volatile", []string{"--appendonly", "no", "--save", ""}, true},
		{"flushall", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := "20"
			if tc.name == "flushall" {
				start = "5"
			}
			f := newFleet(t, fleetOptions{
				account:   sim.Config{Balance: eur(start), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: outageCredit},
				env:       map[string]string{"TOPUP_WINDOW": outageWindow.String(), "TOPUP_AMOUNT": "50"},
				redisArgs: tc.args,
			})
			reps := f.startReplicas(3, nil)
			f.waitUp(reps...)
			o := &outage{f: f, reps: reps}
			if tc.name == "flushall" {
				o.first = f.waitTopUps(waitLimit, 1)[0]
			} else {
				o.needWhileDown()
			}
			o.pendingLost(tc.name == "flushall", tc.lost)
			f.end()
			tops := f.acct.TopUps()
			if len(tops) != 2 {
				t.Errorf("the account saw %d top-up requests, want 2: one per window", len(tops))
			}
			simcheck.Report(t, simcheck.Requests(tops, outageWindow).NoDouble())
		})
	}
}

// outage is one run of TestFleetRedisOutage.
type outage struct {
	f     *fleet
	reps  []*replica
	first sim.TopUp // the top-up claimed first
}

// needWhileDown kills Redis, opens the need, checks that the replicas go on
// checking and send nothing, starts Redis again and waits for the one
// top-up claimed through it.
func (o *outage) needWhileDown() {
	f, t := o.f, o.f.t
	downAt := time.Now()
	f.redis.Kill()
	f.acct.SetBalance(eur("5"))
	for _, rep := range o.reps {
		f.book.waitLines(t, waitLimit, rep.n, msgFleetRedisDown, 1)
	}
	body := f.waitReady(o.reps[0], 503, "redis")
	time.Sleep(time.Until(downAt.Add(outageDown)))
	upAt := time.Now()
	// From a second after the kill (a tick in flight may still have
	// read) to the restart, every replica reads alone and decides.
	from := downAt.Add(time.Second)
	reads := f.readsBetween(from, upAt)
	if min := len(o.reps) * 2; reads < min {
		t.Errorf("the account answered %d balance reads while redis was down (%s), want at least %d: every replica reads alone",
			reads, upAt.Sub(from).Round(time.Millisecond), min)
	}
	for _, rep := range o.reps {
		if n := len(f.linesBetween(rep.n, "decision", from, upAt)); n == 0 {
			t.Errorf("replica %d logged no decision while redis was down (%s to %s): checks must go on (rule 10); its lines then:\n%s",
				rep.n, fleetStamp(from), fleetStamp(upAt), f.linesOf(rep.n, from, upAt))
		}
	}
	f.redis.Restart()
	backAt := time.Now()
	if tops := f.topUpsBetween(downAt, backAt); len(tops) > 0 {
		t.Errorf("%d top-up request(s) reached the account while redis was down: %+v", len(tops), tops)
	}
	t.Logf("redis down %s: %d balance reads, readiness %q", backAt.Sub(downAt).Round(time.Millisecond), reads, body)

	o.first = f.waitTopUps(waitLimit, 1)[0]
	for _, rep := range o.reps {
		f.book.waitLines(t, waitLimit, rep.n, msgFleetRedisBack, 1)
	}
	f.waitReady(o.reps[0], 200)
	st := f.mustLedger()
	var claims int
	for _, rec := range st.TopUps {
		if rec.MayHaveReached() {
			claims++
			if rec.At.Before(backAt.Add(-time.Second)) || rec.At.After(o.first.ReceivedAt) {
				t.Errorf("the claim in redis is dated %s; want it after redis came back (%s), before its request (%s)",
					fleetStamp(rec.At), fleetStamp(backAt), fleetStamp(o.first.ReceivedAt))
			}
		}
	}
	if claims != 1 {
		t.Errorf("the redis ledger holds %d claims after the outage, want 1: %+v", claims, st.TopUps)
	}
	o.waitTickTaken(backAt)
}

// waitTickTaken waits until a replica logs, after since, that another has
// the tick.
func (o *outage) waitTickTaken(since time.Time) {
	f := o.f
	f.book.waitFor(f.t, waitLimit, "a tick taken by another replica after redis came back", func() bool {
		return len(f.linesBetween(0, msgFleetTickTaken, since, time.Now().Add(time.Hour))) > 0
	})
}

// ticksShared checks that, after since, the replicas share the ticks
// again: some replica saw the tick taken, and the account answers about
// one read per second, not one per replica.
func (o *outage) ticksShared(since time.Time) {
	f, t := o.f, o.f.t
	o.waitTickTaken(since)
	from := time.Now().Add(time.Second)
	time.Sleep(4 * time.Second)
	to := time.Now()
	if reads, limit := f.readsBetween(from, to), int(to.Sub(from).Seconds())+2; reads > limit {
		t.Errorf("%d balance reads in the %s after redis came back, want at most %d: the ticks must be shared again",
			reads, to.Sub(from).Round(time.Millisecond), limit)
	}
}

// pendingLost makes Redis fail while the first top-up is pending (it lags
// far behind): a FLUSHALL, or a kill and a restart. Whatever Redis kept,
// no top-up may come inside the pending one's window, and exactly one
// must come after it, claimed through Redis.
func (o *outage) pendingLost(flush, lost bool) {
	f, t := o.f, o.f.t
	first := o.first
	tops := f.book.waitLines(t, waitLimit, 0, "topup", 1)
	if len(tops) != 1 || tops[0].str("outcome") != "succeeded" {
		t.Fatalf("topup lines %v, want one that succeeded", tops)
	}
	id := tops[0].str("intent_id")
	time.Sleep(time.Until(first.ReceivedAt.Add(outageAfter)))
	failAt := time.Now()
	if flush {
		if err := f.rc.FlushAll(context.Background()).Err(); err != nil {
			t.Fatalf("FLUSHALL: %v", err)
		}
	} else {
		f.redis.Kill()
		time.Sleep(outageAgain)
		f.redis.Restart()
	}
	backAt := time.Now()
	if !backAt.Before(first.CreditAt) {
		t.Fatalf("redis failed until %s, after the credit at %s: the test proves nothing", fleetStamp(backAt), fleetStamp(first.CreditAt))
	}
	if lost {
		l := f.book.waitLines(t, waitLimit, 0, msgFleetLost, 1)[0]
		ids, _ := l.fields["ids"].([]any)
		if !slices.Contains(ids, any(id)) {
			t.Errorf("%s line %s, want it to name the pending top-up %s", msgFleetLost, l.text, id)
		}
	}

	windowEnd := first.ReceivedAt.Add(outageWindow)
	second := f.waitTopUps(time.Until(windowEnd)+waitLimit, 2)[1]
	if second.ReceivedAt.Before(windowEnd) {
		t.Errorf("a second top-up reached the account at %s, inside the window of the first (received %s, window to %s at the earliest)",
			fleetStamp(second.ReceivedAt), fleetStamp(first.ReceivedAt), fleetStamp(windowEnd))
	}
	if tops := f.topUpsBetween(failAt, backAt); len(tops) > 0 {
		t.Errorf("top-up request(s) reached the account while redis was failing: %+v", tops)
	}
	if !lost {
		if l := f.book.logs(0, msgFleetLost); len(l) > 0 {
			t.Errorf("redis restarted on its AOF, yet %s: %s", msgFleetLost, l[0].text)
		}
	}
	// The second claim went through Redis: it is in the ledger there, and
	// its window holds the other replicas.
	f.quiet(3*time.Second, "inside the window of the second top-up")
	st := f.mustLedger()
	var found bool
	for _, rec := range st.TopUps {
		found = found || (rec.MayHaveReached() && rec.ID != id && !rec.At.After(second.ReceivedAt) && rec.At.After(windowEnd.Add(-time.Second)))
	}
	if !found {
		t.Errorf("no claim of the second top-up (received %s) in the redis ledger: %+v", fleetStamp(second.ReceivedAt), st.TopUps)
	}
	if lost {
		if rec := record(st, id); rec == nil {
			t.Errorf("the first top-up %s, which redis lost, was not written back: %+v", id, st.TopUps)
		}
	}
	o.ticksShared(backAt)
	t.Logf("first top-up %s at %s; redis failed %s after it for %s; second top-up %s after the first",
		id, fleetStamp(first.ReceivedAt), failAt.Sub(first.ReceivedAt).Round(time.Millisecond),
		backAt.Sub(failAt).Round(time.Millisecond), second.ReceivedAt.Sub(first.ReceivedAt).Round(time.Millisecond))
}

// linesOf is what process n wrote in [from, to), for failure messages.
func (f *fleet) linesOf(n int, from, to time.Time) string {
	var out []byte
	for _, l := range f.book.find(func(l line) bool { return l.proc == n && !l.at.Before(from) && l.at.Before(to) }) {
		out = append(out, "  "...)
		out = append(out, l.text...)
		out = append(out, '\n')
	}
	return string(out)
}
