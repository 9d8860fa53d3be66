package e2e

import (
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// TestFaultStorm runs the binary against an account that drains in bursts,
// with random faults on both endpoints, random SIGKILLs and restarts, random
// pauses (SIGSTOP for up to two windows, some of them between a claim and
// its request, through TOPUP_TEST_PAUSE_AT, some ended with SIGKILL), random
// steps of the binary's wall clock (TOPUP_TEST_CLOCK_FILE), and half of the
// starts talking to the account through a hostile HTTP/2 front that resets
// streams before and after forwarding them, for a bounded time, then checks
// the account's own record against the contract's invariants (see
// checkStorm). Set E2E_STORM_SEED to replay a storm; the seed is logged.
func TestFaultStorm(t *testing.T) {
	t.Parallel()
	faultStorm(t, stormPolicy{refill: checkRefill})
}

// stormPolicy is what a storm of one binary changes in the storm's world:
// the settings env adds to the storm's, the balance it starts from (the
// storm's own when zero), and refill, its invariant 3.
type stormPolicy struct {
	env    map[string]string
	start  decimal.Decimal
	refill refillCheck
}

// faultStorm runs the storm of one binary under policy.
func faultStorm(t *testing.T, policy stormPolicy) {
	seed := stormSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x570e))
	duration := stormLength()

	acct, env := stormAccount(rng, seed, duration)
	maps.Copy(env, policy.env)
	if !policy.start.IsZero() {
		acct.Balance = policy.start
	}
	run := &stormRun{seed: seed, balance: acct.Balance, bursts: acct.Bursts}
	clockFile := filepath.Join(t.TempDir(), "clock")
	env["TOPUP_TEST_CLOCK_FILE"] = clockFile
	r := newWorld(t, worldOptions{account: acct, env: env})
	armStorm(t, r, run, rng)
	s := &stormer{t: t, r: r, rng: rng, run: run, clockFile: clockFile}
	run.start = time.Now()
	s.startProc()
	s.storm(duration)
	run.end = time.Now()
	s.stop()

	checkStorm(t, r, run, policy.refill)
	run.checkSwept(t, r.sweep)
}

// checkSwept fails a storm whose sweep saw no metrics or no notification:
// the secret sweep would have checked nothing there.
func (run *stormRun) checkSwept(t *testing.T, sw *secrettest.Sweep) {
	t.Helper()
	if run.scrapes == 0 {
		t.Errorf("no /metrics scrape succeeded: the sweep of metrics saw nothing")
	}
	if sw.Seen("notification") == 0 {
		t.Errorf("no notification reached the receiver: the sweep of notifications saw nothing")
	}
}

// stormer runs one storm: the process running now, and the storm's timers.
type stormer struct {
	t         *testing.T
	r         *world
	rng       *rand.Rand
	run       *stormRun
	clockFile string
	offset    time.Duration // in the clock file

	p *proc
	// paused is the pause in force, nil if none.
	paused *stormPause
	// pending is the clock step the watchdog has not yet applied to its
	// ledger, nil if none. No kill, pause or other step comes while one is
	// pending, so that every step is seen by the running watchdog and
	// checked as such (checkClock). A step that a killed watchdog had not
	// written is found by its restart through the ledger's clock mark: the
	// internal/watchdog tests prove that; here the storm checks that no
	// restart finds one it did not make.
	pending *clockStep
	// killDue is set when a kill came due while a step was pending: it
	// happens once the step is applied.
	killDue bool
	// ending is set once the storm's time is up: it waits for a pending
	// step to be applied, and ends every pause at once.
	ending bool
	seen   int // the logbook's lines scanned

	kill, pause, cont, step *time.Timer
}

// startProc starts the binary (see drawStormProc).
func (s *stormer) startProc() {
	sp, extra := drawStormProc(s.rng, s.run.front, false)
	s.p = s.r.start(extra)
	s.run.procs = append(s.run.procs, sp)
}

// storm, until duration has passed: kills the running binary every 1.5 to
// 7 seconds of its running time and starts it again after up to 400ms;
// switches the weather every 5 to 15 seconds; pauses the binary (SIGSTOP,
// waiting until the kernel says it is stopped) 12 to 24 seconds after the
// last pause ended, for 50ms to 3s or (one in three) one to two windows,
// and lets a stop of the pause hook (TOPUP_TEST_PAUSE_AT=after_intent, a
// claim durable and its request not sent) last up to two windows too (two
// in three over a quarter of the window); ends one pause in three with
// SIGKILL rather than SIGCONT; and steps the binary's wall clock every 5
// to 12 seconds to a random offset within four windows of the real time.
// The kill timer does not run while the binary is paused. When its time is
// up it ends the pause in force with SIGCONT and waits for a pending step
// to be applied.
func (s *stormer) storm(duration time.Duration) {
	t, r, rng, run := s.t, s.r, s.rng, s.run
	t.Helper()
	deadline := time.NewTimer(duration)
	defer deadline.Stop()
	phase := time.NewTimer(nextWeather(rng))
	defer phase.Stop()
	s.kill = time.NewTimer(randDuration(rng, 1500*time.Millisecond, 7*time.Second))
	s.pause = time.NewTimer(randDuration(rng, 5*time.Second, 15*time.Second))
	s.cont = time.NewTimer(time.Hour)
	s.cont.Stop()
	s.step = time.NewTimer(randDuration(rng, 3*time.Second, 10*time.Second))
	defer func() {
		for _, tm := range []*time.Timer{s.kill, s.pause, s.cont, s.step} {
			tm.Stop()
		}
	}()
	var endBy <-chan time.Time
	for {
		changed := r.book.changes()
		s.scan()
		if s.ending && s.pending == nil && s.paused == nil {
			if r.scrape() {
				run.scrapes++
			}
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			s.ending = true
			if s.paused != nil {
				s.endPause(false)
			}
			endBy = time.After(waitLimit)
		case <-endBy:
			t.Fatalf("the storm ended with the clock step %+v not applied by process %d after %s; last output:\n%s",
				*s.pending, s.p.n, waitLimit, r.book.tail(30))
		case <-s.p.done:
			t.Fatalf("process %d exited on its own (%v); last output:\n%s", s.p.n, s.p.state, r.book.tail(30))
		case <-phase.C:
			switchWeather(t, r, run, rng)
			phase.Reset(nextWeather(rng))
		case <-s.kill.C:
			switch {
			case s.ending:
			case s.pending != nil:
				s.killDue = true
			default:
				s.killAndRestart()
			}
		case <-s.pause.C:
			if s.ending || s.paused != nil || s.pending != nil {
				s.pause.Reset(randDuration(rng, time.Second, 3*time.Second))
				break
			}
			at, ok := s.p.pause(t)
			if !ok {
				t.Fatalf("process %d ended instead of stopping; last output:\n%s", s.p.n, r.book.tail(30))
			}
			s.paused = &stormPause{proc: s.p.n, from: at}
			s.kill.Stop()
			s.cont.Reset(pauseLength(rng))
		case <-s.cont.C:
			if s.paused != nil {
				s.endPause(!s.ending && s.pending == nil && rng.IntN(3) == 0)
			}
		case <-s.step.C:
			// Only a watchdog that has read its clocks can see a step: one
			// that has not decided yet might not have.
			if s.ending || s.paused != nil || s.pending != nil || len(r.book.logs(s.p.n, "decision")) == 0 {
				s.step.Reset(randDuration(rng, time.Second, 3*time.Second))
				break
			}
			s.stepClock()
			s.step.Reset(randDuration(rng, 5*time.Second, 12*time.Second))
		}
	}
}

// scan reads the lines logged since the last scan: a stop of the pause
// hook, and the watchdog seeing and applying a clock step.
func (s *stormer) scan() {
	lines, next := s.r.book.since(s.seen)
	s.seen = next
	for _, l := range lines {
		if l.proc != s.p.n || s.p.exited() {
			continue
		}
		switch {
		case l.stream == "stderr" && strings.Contains(l.text, pauseMarker):
			if s.paused != nil { // a SIGSTOP of the storm's own came first
				s.paused.hook = true
				continue
			}
			if !s.p.waitStopped(s.t, waitLimit) {
				continue // killed meanwhile
			}
			s.paused = &stormPause{proc: s.p.n, from: time.Now(), hook: true}
			if s.ending {
				s.endPause(false)
				continue
			}
			s.kill.Stop()
			s.cont.Reset(hookPauseLength(s.rng))
		case l.msg() == "system clock stepped":
			if s.pending == nil || s.pending.logged != 0 {
				s.run.spurious = append(s.run.spurious, l)
				continue
			}
			ms, _ := l.fields["step_ms"].(float64)
			s.pending.logged = time.Duration(ms) * time.Millisecond
		case (l.msg() == "decision" || l.msg() == "topup") && s.pending != nil && s.pending.logged != 0:
			s.pending.applied = true
			s.run.steps = append(s.run.steps, *s.pending)
			s.pending = nil
			if s.killDue {
				s.killDue = false
				s.killAndRestart()
				return // the rest is the old process's
			}
		}
	}
}

// stop stops the running binary cleanly (see stopStormProc).
func (s *stormer) stop() { stopStormProc(s.t, s.p) }

// killAndRestart kills the running binary (SIGKILL), waits for it to die,
// and starts it again after the pause a supervisor takes.
func (s *stormer) killAndRestart() {
	t, r := s.t, s.r
	if r.scrape() {
		s.run.scrapes++
	}
	killedAt := killStormProc(t, s.p)
	s.run.kills = append(s.run.kills, stormKill{at: killedAt, proc: s.p.n})
	if data, err := os.ReadFile(r.stateFile()); err == nil {
		r.sweep.Add("ledger after kill", data)
	}
	// The pause is the time a supervisor takes to restart the container: a
	// schedule, not a wait for something.
	time.Sleep(randDuration(s.rng, 0, 400*time.Millisecond))
	s.startProc()
	s.run.downtimes = append(s.run.downtimes, [2]time.Time{killedAt, s.p.started})
	s.kill.Reset(randDuration(s.rng, 1500*time.Millisecond, 7*time.Second))
}

// endPause ends the pause in force with SIGCONT, or with SIGKILL and a
// restart.
func (s *stormer) endPause(kill bool) {
	pa := s.paused
	s.paused = nil
	if kill {
		pa.killed = true
		s.killAndRestart()
		pa.to = s.run.kills[len(s.run.kills)-1].at
	} else {
		pa.to = s.p.resume()
		s.kill.Reset(randDuration(s.rng, 1500*time.Millisecond, 7*time.Second))
	}
	s.run.pauses = append(s.run.pauses, *pa)
	s.run.downtimes = append(s.run.downtimes, [2]time.Time{pa.from, pa.to})
	s.pause.Reset(randDuration(s.rng, 12*time.Second, 24*time.Second))
}

// stepClock steps the binary's wall clock to a new offset from the real
// time (see drawOffset).
func (s *stormer) stepClock() {
	offset := drawOffset(s.rng, s.offset)
	writeClock(s.t, s.clockFile, offset)
	s.pending = &clockStep{at: time.Now(), proc: s.p.n, offset: offset, step: offset - s.offset}
	s.offset = offset
}
