package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The fleet's clock lines that no pod clock step may cause: the fleet's
// times are Redis's.
var fleetNoClockLines = []string{
	"system clock stepped",
	"redis clock stepped",
	"ledger record dated ahead of the clock: counted as written now",
	"system clock stepped while no watchdog watched: the ledger's times moved by the step",
}

// podClockTolerance is how far a logged offset of a pod clock from Redis's
// may be from the offset the storm gave it: half a round trip to Redis on
// a loaded machine.
const podClockTolerance = 250 * time.Millisecond

// checkFleetStorm checks the fleet's storm: the invariants of every storm
// (checkInvariants, with checkFleetRefill for invariant 3) against the
// ledger in Redis, then that the fleet's times are Redis's whatever the pod
// clocks said (checkFleetClock), and what Redis's kills must leave
// (checkFleetRedis).
func checkFleetStorm(t *testing.T, f *fleet, run *stormRun) {
	t.Helper()
	fr := run.fleet
	st := f.mustLedger()
	refill := func(t *testing.T, reads []read, _ []line, tops []sim.TopUp, owner []int, intents []ledger.Record) {
		t.Helper()
		fr.stalest = checkFleetRefill(t, reads, f.book.all(), tops, owner, intents)
	}
	rec := checkInvariants(t, f.world, run, st.TopUps, refill)
	checkFleetClock(t, f, run, rec)
	checkFleetRedis(t, f, run)
	sweepAOF(f)
	rec.report(t, f.world, run)
	reportFleet(t, f, run, rec)
}

// checkFleetClock checks that the pod clock steps changed nothing: no
// replica logged a step of its clock or of Redis's, or moved a record; the
// ledger's times are real, as the account's are (an intent is no later
// than its first request, its end no earlier than its last, its
// confirmation no earlier than its credit); and each replica named its pod
// clock's offset from Redis once it differed by more than 2s.
func checkFleetClock(t *testing.T, f *fleet, run *stormRun, rec *stormRecord) {
	t.Helper()
	for _, msg := range fleetNoClockLines {
		for _, l := range f.book.logs(0, msg) {
			t.Errorf("fleet clock: process %d logged %q, but only pod clocks stepped, which are not the fleet's: %s", l.proc, msg, l.text)
		}
	}
	slack := fleetClockSlack
	for i, tu := range rec.tops {
		if rec.owner[i] < 0 {
			continue
		}
		in := rec.intents[rec.owner[i]]
		if !in.FinishedAt.IsZero() && in.FinishedAt.Before(tu.ReceivedAt.Add(-slack)) {
			t.Errorf("fleet clock: intent %s ended at %s, before its top-up #%d reached the account at %s: the ledger's times are not real",
				in.ID, stamp(in.FinishedAt), tu.Seq, stamp(tu.ReceivedAt))
		}
		if tu.Applied && in.Confirmed() && in.ConfirmedAt.Before(tu.CreditAt.Add(-slack)) {
			t.Errorf("fleet clock: intent %s was confirmed at %s, before the credit of its top-up #%d at %s: the ledger's times are not real",
				in.ID, stamp(in.ConfirmedAt), tu.Seq, stamp(tu.CreditAt))
		}
	}
	for _, in := range rec.intents {
		if in.At.Before(run.start.Add(-time.Second)) || in.At.After(time.Now()) {
			t.Errorf("fleet clock: intent %s is dated %s, outside the storm (%s to now): the ledger's times are not real",
				in.ID, stamp(in.At), stamp(run.start))
		}
	}
	checkPodClockLines(t, f, run)
}

// checkPodClockLines checks the replicas' "pod clock differs from redis"
// lines: each names the offset its pod clock had (within
// podClockTolerance), and a replica that finished a round trip to Redis
// while its pod clock was over 2.5s off had logged one by then.
func checkPodClockLines(t *testing.T, f *fleet, run *stormRun) {
	t.Helper()
	fr := run.fleet
	offsetAt := func(slot int, at time.Time) time.Duration {
		var o time.Duration
		for _, p := range fr.offsets[slot] {
			if p.at.After(at) {
				break
			}
			o = p.offset
		}
		return o
	}
	warned := map[int]time.Time{} // the first warning of each process, on its logger's clock
	for _, l := range f.book.logs(0, msgFleetPodClock) {
		if at, err := time.Parse(time.RFC3339Nano, l.str("ts")); err == nil && warned[l.proc].IsZero() {
			warned[l.proc] = at
		}
		ms, _ := l.fields["offset_ms"].(float64)
		logged := time.Duration(ms) * time.Millisecond
		slot := fr.slotOf[l.proc]
		ok := false
		for _, at := range []time.Time{l.at.Add(-3 * time.Second), l.at} {
			ok = ok || (logged-offsetAt(slot, at)).Abs() <= podClockTolerance
		}
		for _, p := range fr.offsets[slot] {
			if p.at.After(l.at.Add(-3*time.Second)) && !p.at.After(l.at) {
				ok = ok || (logged-p.offset).Abs() <= podClockTolerance
			}
		}
		if !ok {
			t.Errorf("fleet clock: process %d logged its pod clock %s from Redis's, but the storm had set it %s off: %s",
				l.proc, logged, offsetAt(slot, l.at), l.text)
		}
	}
	// The round trips to Redis: a decision whose ledger update was written,
	// and a tick taken by another replica.
	type trip struct {
		at   time.Time
		proc int
	}
	var trips []trip
	for _, d := range fleetDecisions(f.book.all()) {
		if d.committed {
			trips = append(trips, trip{d.at, d.proc})
		}
	}
	for _, l := range f.book.logs(0, msgFleetTickTaken) {
		if at, err := time.Parse(time.RFC3339Nano, l.str("ts")); err == nil {
			trips = append(trips, trip{at, l.proc})
		}
	}
	for _, tr := range trips {
		slot := fr.slotOf[tr.proc]
		o := offsetAt(slot, tr.at)
		if o.Abs() <= 2500*time.Millisecond || offsetAt(slot, tr.at.Add(-500*time.Millisecond)) != o {
			continue
		}
		if w, ok := warned[tr.proc]; !ok || w.After(tr.at.Add(100*time.Millisecond)) {
			t.Errorf("fleet clock: process %d wrote or read the ledger in Redis at %s with its pod clock %s off, and had not logged %q",
				tr.proc, stamp(tr.at), o, msgFleetPodClock)
			warned[tr.proc] = tr.at // once per process
		}
	}
}

// checkFleetRedis checks what the kills of Redis left: no replica found
// records lost (the AOF kept every write Redis acknowledged), Redis was
// killed at least once while a replica held a pending intent, and each
// outage that replicas lived through unpaused was named in the log. A
// replica names an outage only when one of its round trips fails: a tick,
// an update, or the ping it makes every lockCheckInterval (5s) between
// them; an outage of a second or two can fall while every replica is in
// the middle of a slow balance read. So each outage of more than
// fleetNamedOutage with no pause and no span without replicas is held to
// it, and the shorter ones together: at least one of them is named.
func checkFleetRedis(t *testing.T, f *fleet, run *stormRun) {
	t.Helper()
	fr := run.fleet
	for _, l := range f.book.logs(0, msgFleetLost) {
		t.Errorf("fleet: process %d logged %q, but Redis persisted every write before acknowledging it: %s", l.proc, msgFleetLost, l.text)
	}
	held := 0
	for _, o := range fr.outages {
		if o.proc != 0 {
			held++
		}
	}
	if held == 0 {
		t.Errorf("fleet: Redis was never killed while a replica held a pending intent: the pause hook stopped no replica after its claim")
	}
	down := f.book.logs(0, msgFleetRedisDown)
	if len(fr.outages) > 0 && len(down) == 0 {
		// Outages are mostly shorter than fleetNamedOutage; over a storm's
		// ten or so, some round trip always falls in one.
		t.Errorf("fleet: Redis was down %d times and no replica ever logged %q", len(fr.outages), msgFleetRedisDown)
	}
	for _, o := range fr.outages {
		span := spans{{o.from, o.to}}
		if o.to.Sub(o.from) < fleetNamedOutage || len(intersect(span, fr.allDown)) > 0 || pausedDuring(run, o.from, o.to) {
			continue
		}
		named := false
		for _, l := range down {
			named = named || (!l.at.Before(o.from) && l.at.Before(o.to.Add(2*time.Second)))
		}
		if !named {
			t.Errorf("fleet: Redis was down from %s to %s and no replica logged %q", stamp(o.from), stamp(o.to), msgFleetRedisDown)
		}
	}
}

// fleetNamedOutage is the shortest outage of Redis that some replica must
// name: the 5s between two pings, and 1.5s for the ping itself to fail.
const fleetNamedOutage = 6500 * time.Millisecond

// pausedDuring reports whether a pause of any replica overlapped from..to.
func pausedDuring(run *stormRun, from, to time.Time) bool {
	for _, p := range run.pauses {
		if p.from.Before(to) && p.to.After(from) {
			return true
		}
	}
	return false
}

// sweepAOF adds Redis's AOF, the fleet's ledger as Redis wrote it to disk,
// to the sweep.
func sweepAOF(f *fleet) {
	dir := filepath.Join(f.redis.Dir, "appendonlydir")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.t.Errorf("redis AOF: %v: the storm runs Redis with --appendonly yes", err)
		return
	}
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			f.sweep.Add("redis AOF "+e.Name(), data)
		}
	}
}

// reportFleet logs what only the fleet's storm did.
func reportFleet(t *testing.T, f *fleet, run *stormRun, rec *stormRecord) {
	t.Helper()
	fr := run.fleet
	var redisDown, noneRan time.Duration
	held := 0
	for _, o := range fr.outages {
		redisDown += o.to.Sub(o.from)
		if o.proc != 0 {
			held++
		}
	}
	for _, s := range fr.allDown {
		noneRan += s[1].Sub(s[0])
	}
	hooked := 0
	for _, p := range run.pauses {
		if p.hook {
			hooked++
		}
	}
	count := func(msg string) int { return len(f.book.logs(0, msg)) }
	t.Logf("fleet storm: %d slots, %d starts, %d SIGKILLs of replicas, %d pauses (%d by the hook), %d pod clock steps; %d kills of Redis (%d while a replica stopped by the hook held a pending intent), Redis down %s in all, no replica running %s in all",
		fleetSlots, len(run.procs), len(run.kills), len(run.pauses), hooked, len(run.steps), len(fr.outages), held,
		redisDown.Round(time.Millisecond), noneRan.Round(time.Millisecond))
	t.Logf("fleet storm: logged %d %q, %d %q, %d claims lost, %d ticks taken by another replica, %d ticks failed, %d pod clocks differing, %d ledgers that lost records, %d intents too old to send",
		count(msgFleetRedisDown), "redis unreachable", count(msgFleetRedisBack), "redis reachable again", count(msgFleetClaimLost),
		count(msgFleetTickTaken), count(msgFleetTickFailed), count(msgFleetPodClock), count(msgFleetLost), count(msgFleetTooOld))
	t.Logf("fleet storm: %d top-up requests reached the account while Redis was down (claimed before); the stalest balance a top-up was decided on was answered %s before its intent",
		fr.topUpsWhileDown(rec.tops), fr.stalest.Round(time.Millisecond))
}
