package e2e

import (
	"strings"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// The fleet storm's faults: kills, pauses and pod clock steps of its
// replicas, the stops of the pause hook, and kills of Redis.

// scheduleRestart schedules the restart of a killed slot: the time a
// supervisor takes, up to 400ms, or one in four times 1 to 4 seconds.
func (s *fleetStormer) scheduleRestart(sl *stormSlot) {
	d := randDuration(s.rng, 0, 400*time.Millisecond)
	if s.rng.IntN(4) == 0 {
		d = randDuration(s.rng, time.Second, 4*time.Second)
	}
	s.schedule(d, dueRestart, sl)
}

// kill kills the slot's replica (SIGKILL) and waits for it to die.
func (s *fleetStormer) kill(sl *stormSlot) {
	n := sl.rep.n
	at := killStormProc(s.t, sl.rep.proc)
	s.run.kills = append(s.run.kills, stormKill{at: at, proc: n})
	sl.rep, sl.downFrom = nil, at
	sl.gen++
	s.note("slot %d: process %d killed", sl.i, n)
}

// scrape reads a replica's /metrics (and /readyz while Redis is down) into
// the sweep.
func (s *fleetStormer) scrape(sl *stormSlot) {
	if sl == nil || sl.rep == nil || sl.paused != nil {
		return
	}
	status, _ := s.f.get(sl.rep, "/metrics")
	if status == 200 {
		s.run.scrapes++
	}
	if status != 0 && s.outage != nil {
		s.f.get(sl.rep, "/readyz")
	}
}

// pause stops a running replica (SIGSTOP) until its dueCont.
func (s *fleetStormer) pause(sl *stormSlot) {
	at, ok := sl.rep.pause(s.t)
	if !ok {
		s.t.Fatalf("process %d ended instead of stopping; last output:\n%s", sl.rep.n, s.f.book.tail(30))
	}
	sl.paused = &stormPause{proc: sl.rep.n, from: at}
	sl.gen++
	s.schedule(pauseLength(s.rng), dueCont, sl)
	s.note("slot %d: process %d SIGSTOP", sl.i, sl.rep.n)
}

// endPause ends the slot's pause with SIGCONT, or with SIGKILL and a
// restart.
func (s *fleetStormer) endPause(sl *stormSlot, kill bool) {
	pa := sl.paused
	sl.paused = nil
	if kill && !s.ending {
		pa.killed = true
		s.kill(sl)
		pa.to = s.run.kills[len(s.run.kills)-1].at
		s.scheduleRestart(sl)
	} else {
		pa.to = sl.rep.resume()
		sl.gen++
		s.note("slot %d: process %d SIGCONT", sl.i, sl.rep.n)
	}
	s.run.pauses = append(s.run.pauses, *pa)
	sl.downs = union(sl.downs, spans{{pa.from, pa.to}})
}

// stepClock steps the pod clock of the slot's replica.
func (s *fleetStormer) stepClock(sl *stormSlot) {
	offset := drawOffset(s.rng, sl.offset)
	writeClock(s.t, sl.clockFile, offset)
	now := time.Now()
	s.run.steps = append(s.run.steps, clockStep{at: now, proc: sl.rep.n, offset: offset, step: offset - sl.offset})
	s.fr.offsets[sl.i] = append(s.fr.offsets[sl.i], podOffset{at: now, offset: offset})
	sl.offset = offset
}

// scan reads the lines logged since the last scan for the stops of the
// pause hook: a replica that stopped itself between its claim and its
// request.
func (s *fleetStormer) scan() {
	lines, next := s.f.book.since(s.seen)
	s.seen = next
	for _, l := range lines {
		if l.stream != "stderr" || !strings.Contains(l.text, pauseMarker) {
			continue
		}
		i, ok := s.fr.slotOf[l.proc]
		if !ok {
			continue
		}
		sl := s.slots[i]
		if sl.rep == nil || sl.rep.n != l.proc || sl.rep.exited() {
			continue // killed since
		}
		if sl.paused != nil { // a SIGSTOP of the storm's own came first
			sl.paused.hook = true
			continue
		}
		if !sl.rep.waitStopped(s.t, waitLimit) {
			continue // killed meanwhile
		}
		sl.paused = &stormPause{proc: sl.rep.n, from: time.Now(), hook: true}
		sl.gen++
		s.note("slot %d: process %d stopped by the pause hook after its intent", sl.i, sl.rep.n)
		if s.ending {
			s.endPause(sl, false)
			continue
		}
		s.schedule(hookPauseLength(s.rng), dueCont, sl)
		if s.outage == nil && (s.hookKills == 0 || s.rng.IntN(2) == 0) {
			s.killRedis(sl)
		}
	}
}

// killRedis kills Redis (SIGKILL) and schedules its restart. With held,
// the slot whose replica the hook stopped after its claim, it first reads
// the intents pending in the ledger, which the restart must keep.
func (s *fleetStormer) killRedis(held *stormSlot) {
	o := &redisOutage{}
	if held != nil {
		o.proc = held.rep.n
		st, ok := s.f.redisLedger()
		for _, rec := range st.TopUps {
			if rec.Outcome == ledger.Pending {
				o.pending = append(o.pending, rec.ID)
			}
		}
		if !ok || len(o.pending) == 0 {
			s.t.Errorf("process %d stopped itself after its intent, but the ledger in Redis holds no pending intent: the claim was not durable before the request", o.proc)
		}
		s.hookKills++
	}
	s.scrape(s.pick())
	o.from = time.Now()
	s.f.redis.Kill()
	s.outage = o
	s.note("redis killed (pending intents %v, held by process %d)", o.pending, o.proc)
	s.schedule(randDuration(s.rng, fleetRedisDownMin, fleetRedisDownMax), dueRedisRestart, nil)
}

// restartRedis starts Redis again from its AOF, and checks that it kept the
// pending intents of its kill.
func (s *fleetStormer) restartRedis() {
	o := s.outage
	s.scrape(s.pick()) // readiness while Redis is down, for the sweep
	began := time.Now()
	s.f.redis.Restart()
	o.to = time.Now()
	s.outage = nil
	s.fr.outages = append(s.fr.outages, *o)
	s.fr.redisOff = union(s.fr.redisOff, spans{{o.from, o.to}})
	s.note("redis restarted (in %s)", o.to.Sub(began).Round(time.Millisecond))
	if len(o.pending) == 0 {
		return
	}
	st, _ := s.f.redisLedger()
	for _, id := range o.pending {
		if record(st, id) == nil {
			s.t.Errorf("redis restarted from its AOF without the intent %s that was pending when it was killed", id)
		}
	}
}
