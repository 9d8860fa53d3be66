package e2e

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The fleet's storm: three replica slots on one redis-server, which keeps
// its ledger in an AOF written with fsync before every reply, so that a
// kill of Redis loses nothing it acknowledged.
const (
	fleetSlots = 3
	// fleetRedisDownMin and fleetRedisDownMax bound an outage of Redis,
	// from its SIGKILL to its restart (as scheduled: a storm busy with
	// another fault may restart it later).
	fleetRedisDownMin = 500 * time.Millisecond
	fleetRedisDownMax = 4 * time.Second
)

// fleetRedisArgs persist every write before Redis answers it.
var fleetRedisArgs = []string{"--appendonly", "yes", "--appendfsync", "always"}

// fleetRun is what only the fleet's storm does.
type fleetRun struct {
	slotOf   map[int]int // the slot of each process
	outages  []redisOutage
	notes    []stormNote
	allDown  spans // when no replica ran
	redisOff spans // when Redis was down
	// offsets are the clock offsets each slot's pod had, in order.
	offsets [][]podOffset
	// stalest is how long before its intent the stalest balance a top-up
	// was decided on was answered (checkFleetRefill).
	stalest time.Duration
}

// redisOutage is one SIGKILL of Redis and its restart.
type redisOutage struct {
	from, to time.Time
	// proc is the process that the pause hook had stopped between its
	// claim and its request when Redis was killed, 0 for none; pending are
	// the intents pending in the ledger then, which the restart must keep.
	proc    int
	pending []string
}

// podOffset is a pod clock's offset from the real time from at on.
type podOffset struct {
	at     time.Time
	offset time.Duration
}

// stormNote is an event of the fleet's storm, for the timeline.
type stormNote struct {
	at   time.Time
	text string
}

// TestFaultStormFleet is TestFaultStorm for a fleet: three replica slots
// share one redis-server (TOPUP_REDIS_URL, with a password). Beside the
// account's weather and the HTTP/2 front of the single storm, it kills
// random replicas (SIGKILL) and restarts them, some at once and some after
// a while; pauses them (SIGSTOP), some through the pause hook between a
// claim and its request; steps the pod clock of single replicas, which
// must change nothing, as the fleet's times are Redis's; and kills Redis
// itself (SIGKILL) and restarts it from its AOF, once at least while a
// replica stopped by the hook holds a pending intent. Then it checks the
// invariants of the single storm (checkInvariants) against the ledger in
// Redis, with no need counted while Redis was down (no top-up can be
// claimed) or no replica ran, and the fleet's own (checkFleetStorm). Set
// E2E_STORM_SEED to replay a storm's draws (the seed is logged),
// E2E_STORM_VERBOSE=1 to log its timeline, and E2E_STORM_LOG to a file
// name to write every line the replicas logged there.
func TestFaultStormFleet(t *testing.T) {
	t.Parallel()
	seed := stormSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0xf1ee7))
	duration := stormLength()

	acct, env := stormAccount(rng, seed, duration)
	run := &stormRun{seed: seed, balance: acct.Balance, bursts: acct.Bursts, fleet: &fleetRun{slotOf: map[int]int{}}}
	// The world's secret sweep looks for the Redis password too (secrets).
	f := newFleet(t, fleetOptions{account: acct, env: env, redisArgs: fleetRedisArgs})
	armStorm(t, f.world, run, rng)

	s := newFleetStormer(t, f, rng, run)
	run.start = time.Now()
	for _, sl := range s.slots {
		s.startSlot(sl)
	}
	s.storm(duration)
	run.end = time.Now()
	s.stop()

	checkFleetStorm(t, f, run)
	run.checkSwept(t, f.sweep)
}

// stormSlot is one replica slot: a pod whose container the storm kills and
// restarts, with its own pod clock.
type stormSlot struct {
	i         int
	rep       *replica // nil while it is down
	clockFile string
	offset    time.Duration
	paused    *stormPause
	downFrom  time.Time // while rep is nil
	downs     spans     // when it did not run: from a kill to the next start, and its pauses
	// gen counts the slot's starts and pauses, so that a due event of an
	// earlier one is dropped.
	gen int
}

// dueKind is what a due event does.
type dueKind int

const (
	dueKill dueKind = iota
	dueRestart
	duePause
	dueCont
	dueStep
	dueRedisKill
	dueRedisRestart
	duePhase
)

// stormDue is an event the storm has scheduled; slot and gen are those of
// the slot it is for.
type stormDue struct {
	at   time.Time
	kind dueKind
	slot int
	gen  int
}

// fleetStormer runs the fleet's storm.
type fleetStormer struct {
	t     *testing.T
	f     *fleet
	rng   *rand.Rand
	run   *stormRun
	fr    *fleetRun
	slots []*stormSlot
	due   []stormDue
	seen  int // the logbook's lines scanned
	// outage is Redis's outage under way, nil while it runs.
	outage *redisOutage
	// hookKills counts the kills of Redis while a replica stopped by the
	// hook held a pending intent; until one, every start has the hook.
	hookKills int
	ending    bool
}

func newFleetStormer(t *testing.T, f *fleet, rng *rand.Rand, run *stormRun) *fleetStormer {
	s := &fleetStormer{t: t, f: f, rng: rng, run: run, fr: run.fleet}
	dir := t.TempDir()
	for i := range fleetSlots {
		s.slots = append(s.slots, &stormSlot{i: i, clockFile: filepath.Join(dir, fmt.Sprintf("clock-%d", i))})
		s.fr.offsets = append(s.fr.offsets, []podOffset{{at: time.Now()}})
	}
	return s
}

// note records an event for the timeline.
func (s *fleetStormer) note(format string, args ...any) {
	s.fr.notes = append(s.fr.notes, stormNote{at: time.Now(), text: fmt.Sprintf(format, args...)})
}

// schedule adds an event due after d.
func (s *fleetStormer) schedule(d time.Duration, kind dueKind, sl *stormSlot) {
	e := stormDue{at: time.Now().Add(d), kind: kind, slot: -1}
	if sl != nil {
		e.slot, e.gen = sl.i, sl.gen
	}
	s.due = append(s.due, e)
}

// next removes and returns the earliest due event, if one is due by now;
// else it returns when the earliest is due (zero if none).
func (s *fleetStormer) next() (e stormDue, ok bool, wait time.Duration) {
	if len(s.due) == 0 {
		return stormDue{}, false, time.Hour
	}
	k := 0
	for i, d := range s.due {
		if d.at.Before(s.due[k].at) {
			k = i
		}
	}
	if w := time.Until(s.due[k].at); w > 0 {
		return stormDue{}, false, w
	}
	e = s.due[k]
	s.due = append(s.due[:k], s.due[k+1:]...)
	return e, true, 0
}

// startSlot starts the slot's replica: through the HTTP/2 front or not
// (drawStormProc), with its own pod clock, and with the pause hook always
// until Redis has been killed under a pending intent.
func (s *fleetStormer) startSlot(sl *stormSlot) {
	sp, extra := drawStormProc(s.rng, s.run.front, s.hookKills == 0)
	extra["TOPUP_TEST_CLOCK_FILE"] = sl.clockFile
	sl.rep = s.f.startReplica(extra)
	sl.gen++
	s.run.procs = append(s.run.procs, sp)
	s.fr.slotOf[sl.rep.n] = sl.i
	if !sl.downFrom.IsZero() {
		sl.downs = union(sl.downs, spans{{sl.downFrom, sl.rep.started}})
	} else {
		sl.downs = union(sl.downs, spans{{s.run.start, sl.rep.started}})
	}
	sl.downFrom = time.Time{}
	s.note("slot %d: process %d started (h2 %v, hook %v)", sl.i, sl.rep.n, sp.h2, sp.hook)
}

// running returns the slots whose replica runs and is not paused.
func (s *fleetStormer) running() []*stormSlot {
	var out []*stormSlot
	for _, sl := range s.slots {
		if sl.rep != nil && sl.paused == nil {
			out = append(out, sl)
		}
	}
	return out
}

// pick returns a random running slot, or nil.
func (s *fleetStormer) pick() *stormSlot {
	run := s.running()
	if len(run) == 0 {
		return nil
	}
	return run[s.rng.IntN(len(run))]
}

// storm, until duration has passed: every 1 to 4 seconds kills a random
// running replica and restarts it after up to 400ms, or (one in four)
// after 1 to 4 seconds; every 4 to 10 seconds pauses one (SIGSTOP) for
// pauseLength, and ends a pause with SIGKILL and a restart one time in
// three; lets a stop of the pause hook last hookPauseLength; every 3 to 8
// seconds steps the pod clock of one replica (drawOffset); every 8 to 16
// seconds of Redis's running time kills Redis and restarts it after 0.5 to
// 4 seconds, and kills it too when the hook stops a replica (always the
// first time, then one time in two); and switches the weather. When its
// time is up it restarts what is down and ends every pause.
func (s *fleetStormer) storm(duration time.Duration) {
	t, rng := s.t, s.rng
	t.Helper()
	deadline := time.NewTimer(duration)
	defer deadline.Stop()
	s.schedule(nextWeather(rng), duePhase, nil)
	s.schedule(randDuration(rng, time.Second, 4*time.Second), dueKill, nil)
	s.schedule(randDuration(rng, 3*time.Second, 8*time.Second), duePause, nil)
	s.schedule(randDuration(rng, 2*time.Second, 6*time.Second), dueStep, nil)
	s.schedule(randDuration(rng, 5*time.Second, 12*time.Second), dueRedisKill, nil)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := s.f.book.changes()
		s.scan()
		s.checkAlive()
		if s.ending && len(s.running()) == len(s.slots) && s.outage == nil {
			s.scrape(s.pick())
			return
		}
		e, ok, wait := s.next()
		if ok {
			s.do(e)
			continue
		}
		timer.Reset(wait)
		select {
		case <-changed:
		case <-timer.C:
		case <-deadline.C:
			s.end()
		}
		timer.Stop()
	}
}

// end ends the storm: what is due is dropped, Redis and every replica that
// is down start again, and every pause ends with SIGCONT.
func (s *fleetStormer) end() {
	s.ending = true
	s.due = nil
	if s.outage != nil {
		s.restartRedis()
	}
	for _, sl := range s.slots {
		switch {
		case sl.rep == nil:
			s.startSlot(sl)
		case sl.paused != nil:
			s.endPause(sl, false)
		}
	}
}

// checkAlive fails the test when a replica exited on its own.
func (s *fleetStormer) checkAlive() {
	for _, sl := range s.slots {
		if sl.rep != nil && sl.rep.exited() {
			s.t.Fatalf("process %d (slot %d) exited on its own (%v); last output:\n%s",
				sl.rep.n, sl.i, sl.rep.state, s.f.book.tail(30))
		}
	}
}

// do runs a due event.
func (s *fleetStormer) do(e stormDue) {
	rng := s.rng
	var sl *stormSlot
	if e.slot >= 0 {
		sl = s.slots[e.slot]
		if sl.gen != e.gen {
			return // for an earlier start or pause of the slot
		}
	}
	switch e.kind {
	case duePhase:
		switchWeather(s.t, s.f.world, s.run, rng)
		s.schedule(nextWeather(rng), duePhase, nil)
	case dueKill:
		if v := s.pick(); v != nil {
			s.scrape(v)
			s.kill(v)
			s.scheduleRestart(v)
		}
		s.schedule(randDuration(rng, time.Second, 4*time.Second), dueKill, nil)
	case dueRestart:
		s.startSlot(sl)
	case duePause:
		if v := s.pick(); v != nil {
			s.pause(v)
		}
		s.schedule(randDuration(rng, 4*time.Second, 10*time.Second), duePause, nil)
	case dueCont:
		s.endPause(sl, rng.IntN(3) == 0)
	case dueStep:
		if v := s.pick(); v != nil {
			s.stepClock(v)
		}
		s.schedule(randDuration(rng, 3*time.Second, 8*time.Second), dueStep, nil)
	case dueRedisKill:
		if s.outage == nil {
			s.killRedis(nil)
		}
	case dueRedisRestart:
		if s.outage != nil {
			s.restartRedis()
		}
		s.schedule(randDuration(rng, 8*time.Second, 16*time.Second), dueRedisKill, nil)
	}
}

// stop stops every replica cleanly, and works out when none ran.
func (s *fleetStormer) stop() {
	for _, sl := range s.slots {
		stopStormProc(s.t, sl.rep.proc)
	}
	all := spans{{s.run.start, s.run.end}}
	for _, sl := range s.slots {
		all = intersect(all, sl.downs)
	}
	s.fr.allDown = all
	s.run.downtimes = union(all, s.fr.redisOff)
}

// topUpsWhileDown counts the top-up requests that reached the account while
// Redis was down: claimed before it went down, sent after.
func (fr *fleetRun) topUpsWhileDown(tops []sim.TopUp) int {
	n := 0
	for _, tu := range tops {
		for _, o := range fr.outages {
			if tu.ReceivedAt.After(o.from) && tu.ReceivedAt.Before(o.to) {
				n++
			}
		}
	}
	return n
}
