package e2e

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The storm's settings. The account drains fast enough that it needs a
// top-up every few seconds and more than the daily cap over the storm, so
// the cap is reached and must hold across restarts for the rest of it.
const (
	stormDuration    = 70 * time.Second
	stormShort       = 20 * time.Second // with -short
	stormWindow      = 8 * time.Second
	stormInterval    = time.Second // TOPUP_SCHEDULE
	stormTimeout     = time.Second // TOPUP_REQUEST_TIMEOUT: at most a quarter of the window, as the config requires
	stormCap         = 6
	stormCreditDelay = 1500 * time.Millisecond
	// stormFlight is how long after its intent a top-up may still be in
	// flight: no attempt starts after a quarter of the window, and one
	// lasts at most the request timeout. A top-up's window counts from the
	// end of its last attempt, or from its intent plus stormFlight while
	// that end is unknown.
	stormFlight = stormWindow/4 + stormTimeout
	// The pauses (SIGSTOP, then SIGCONT or SIGKILL) last up to two windows.
	stormMaxPause = 2 * stormWindow
	// The binary's wall clock is stepped to offsets of up to four windows
	// either way from the real time.
	stormMaxOffset = 4 * stormWindow
)

var (
	stormStart     = eur("24")
	stormThreshold = eur("20")
	stormTarget    = eur("40")
	stormTopUp     = eur("20") // no more than target-threshold: a refill takes two
	stormDrain     = eur("0.6")
)

// faultProfiles are the weather of the storm, switched at random: every
// fault the account can inject, answers slow enough that some outlast the
// request timeout, and calm spells. The top-up endpoint gets its faults from
// a script first (stormTopUpScript); its latency comes from the weather.
// Behind the HTTP/2 front the account's TCP resets become answers that never
// come (noAbort), and the front adds its own stream resets.
var faultProfiles = []struct {
	name   string
	faults sim.Faults
	front  frontRates // the HTTP/2 front's resets, before and after forwarding
}{
	{"mixed", sim.Faults{
		Latency: 10 * time.Millisecond, LatencyJitter: 250 * time.Millisecond,
		ServerError: 0.05, RateLimit: 0.05, RetryAfter: time.Second,
		ResetBeforeApply: 0.03, ResetAfterApply: 0.04, NoAnswer: 0.02, AppliedNoAnswer: 0.03,
		AppliedServerError: 0.04, MalformedBody: 0.04,
	}, frontRates{before: 0.04, after: 0.05}},
	{"flaky", sim.Faults{
		LatencyJitter: 100 * time.Millisecond,
		ServerError:   0.1, RateLimit: 0.1, RetryAfter: time.Second,
		ResetBeforeApply: 0.05, ResetAfterApply: 0.06, AppliedNoAnswer: 0.05,
		AppliedServerError: 0.06, MalformedBody: 0.06,
	}, frontRates{before: 0.08, after: 0.08}},
	{"slow", sim.Faults{
		Latency: 500 * time.Millisecond, LatencyJitter: 700 * time.Millisecond,
		ServerError: 0.03, RateLimit: 0.03, RetryAfter: time.Second,
	}, frontRates{before: 0.02, after: 0.02}},
	{"calm", sim.Faults{}, frontRates{}},
}

// stormRun is what the storm did, for the checks and the report.
type stormRun struct {
	seed   uint64
	start  time.Time
	end    time.Time // the final SIGTERM
	bursts []sim.Burst
	kills  []time.Time
	// downtimes are the spans when no watchdog ran: from a kill to the next
	// start, and every pause (from the stop to its SIGCONT or SIGKILL).
	downtimes [][2]time.Time
	pauses    []stormPause
	steps     []clockStep
	// spurious are the clock steps the watchdog logged that the storm did
	// not make.
	spurious []line
	procs    []stormProc // by process number - 1
	front    *h2Front
	phases   []string
	scrapes  int
}

// stormProc is how one start of the binary was configured.
type stormProc struct {
	h2   bool // through the HTTP/2 front, over TLS
	hook bool // TOPUP_TEST_PAUSE_AT=after_intent
}

// stormPause is one stop of a running process.
type stormPause struct {
	proc     int
	from, to time.Time
	// hook: the process stopped itself between a claim and its request.
	hook bool
	// killed: the pause ended with SIGKILL (and a restart), not SIGCONT.
	killed bool
}

// clockStep is one step of the binary's wall clock.
type clockStep struct {
	at     time.Time // when the clock file was written
	proc   int       // the process running then
	offset time.Duration
	step   time.Duration
	// logged is the step the watchdog logged ("system clock stepped"), 0
	// until it did.
	logged time.Duration
	// applied is set once the watchdog wrote its ledger after logging the
	// step: the ledger's times moved by it.
	applied bool
}

// ledgerOffset is how far the ledger's times are from the real time: the
// sum of the clock steps the watchdog applied to it. Every record is written
// at the watchdog's time, real plus the offset of the clock file then, and
// moved by every step applied after.
func (run *stormRun) ledgerOffset() time.Duration {
	var d time.Duration
	for _, s := range run.steps {
		if s.applied {
			d += s.step
		}
	}
	return d
}

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
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_STORM_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("E2E_STORM_SEED: %v", err)
		}
	}
	t.Logf("storm seed %d (E2E_STORM_SEED=%d replays the same weather, kills, pauses, steps and bursts; their timing is the machine's)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x570e))
	duration := stormDuration
	if testing.Short() {
		duration = stormShort
	}

	run := &stormRun{seed: seed, bursts: stormBursts(rng, duration)}
	clockFile := filepath.Join(t.TempDir(), "clock")
	r := newRig(t, rigOptions{
		account: sim.Config{
			Balance: stormStart, AutoReload: true, TopUpAmount: stormTopUp, CreditDelay: stormCreditDelay,
			DrainPerSecond: stormDrain, Bursts: run.bursts, Faults: faultProfiles[0].faults, Seed: int64(seed),
		},
		env: map[string]string{
			"TOPUP_THRESHOLD":       stormThreshold.String(),
			"TOPUP_TARGET":          stormTarget.String(),
			"TOPUP_WINDOW":          stormWindow.String(),
			"TOPUP_MAX_PER_DAY":     strconv.Itoa(stormCap),
			"TOPUP_SCHEDULE":        "@every " + stormInterval.String(),
			"TOPUP_REQUEST_TIMEOUT": stormTimeout.String(),
			"TOPUP_TEST_CLOCK_FILE": clockFile,
		},
	})
	if err := r.acct.Script(sim.EndpointTopUp, stormTopUpScript(rng)...); err != nil {
		t.Fatal(err)
	}
	run.front = startFront(t, r, seed)
	run.front.setRates(faultProfiles[0].front)
	run.front.scriptTopUps(rng)
	run.phases = append(run.phases, faultProfiles[0].name)
	s := &stormer{t: t, r: r, rng: rng, run: run, clockFile: clockFile}
	run.start = time.Now()
	s.startProc()
	s.storm(duration)
	run.end = time.Now()
	s.stop()

	checkStorm(t, r, run)
	if run.scrapes == 0 {
		t.Errorf("no /metrics scrape succeeded: the sweep of metrics saw nothing")
	}
	if r.sweep.notifications() == 0 {
		t.Errorf("no notification reached the receiver: the sweep of notifications saw nothing")
	}
}

// stormBursts draws the account's bursts: a drop of 3 to 15 EUR every 6 to
// 14 seconds.
func stormBursts(rng *rand.Rand, duration time.Duration) []sim.Burst {
	var out []sim.Burst
	for at := randDuration(rng, 6*time.Second, 14*time.Second); at < duration; at += randDuration(rng, 6*time.Second, 14*time.Second) {
		out = append(out, sim.Burst{At: at, Amount: decimal.NewFromInt(int64(3 + rng.IntN(13)))})
	}
	return out
}

// topUpFaults are the faults scripted on the top-up endpoint, so that the
// few top-ups of a storm meet them: four of the first eight requests get
// one of four distinct faults, and two in five of the later ones get one.
var topUpFaults = []sim.Fault{
	sim.FaultAppliedNoAnswer, sim.FaultResetAfterApply, sim.FaultAppliedServerError, sim.FaultMalformed,
	sim.FaultServerError, sim.FaultUnavailable, sim.FaultRateLimit, sim.FaultReset, sim.FaultNoAnswer,
}

func stormTopUpScript(rng *rand.Rand) []sim.Fault {
	kinds := slices.Clone(topUpFaults)
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	first := append(kinds[:4:4], sim.FaultNone, sim.FaultNone, sim.FaultNone, sim.FaultNone)
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	out := make([]sim.Fault, 60)
	copy(out, first)
	for i := len(first); i < len(out); i++ {
		if rng.IntN(5) < 2 {
			out[i] = topUpFaults[rng.IntN(len(topUpFaults))]
		}
	}
	return out
}

func randDuration(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// stormer runs one storm: the process running now, and the storm's timers.
type stormer struct {
	t         *testing.T
	r         *rig
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

// startProc starts the binary: through the HTTP/2 front or straight to the
// account at even odds, with the pause hook one time in three.
func (s *stormer) startProc() {
	sp := stormProc{h2: s.rng.IntN(2) == 0, hook: s.rng.IntN(3) == 0}
	extra := map[string]string{}
	if sp.h2 {
		extra = s.run.front.env()
	}
	if sp.hook {
		extra["TOPUP_TEST_PAUSE_AT"] = "after_intent"
	}
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
	phase := time.NewTimer(randDuration(rng, 5*time.Second, 15*time.Second))
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
			f := faultProfiles[rng.IntN(len(faultProfiles))]
			if err := r.acct.SetFaults(f.faults); err != nil {
				t.Fatal(err)
			}
			run.front.setRates(f.front)
			run.phases = append(run.phases, f.name)
			phase.Reset(randDuration(rng, 5*time.Second, 15*time.Second))
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
			length := randDuration(rng, 50*time.Millisecond, 3*time.Second)
			if rng.IntN(3) == 0 {
				length = randDuration(rng, stormWindow, stormMaxPause)
			}
			s.cont.Reset(length)
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
			// A third shorter than a quarter of the window (the request goes
			// out late), the rest longer (it must not go out at all).
			length := randDuration(s.rng, 0, stormWindow/4-500*time.Millisecond)
			if s.rng.IntN(3) != 0 {
				length = randDuration(s.rng, stormWindow/4+500*time.Millisecond, stormMaxPause)
			}
			s.cont.Reset(length)
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

// stop stops the running binary with SIGTERM and checks the clean stop of
// the contract, exit 0. The pause hook may stop the process (SIGSTOP) at a
// check that was under way when the storm's time ran out, before or after
// the SIGTERM: such a stop is ended with SIGCONT, as often as it happens.
func (s *stormer) stop() {
	t, p := s.t, s.p
	p.waitFirstLine(t) // see proc.stop
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	for p.waitStopped(t, waitLimit) {
		p.resume()
	}
	st := p.wait(t, waitLimit)
	if st.ExitCode() != 0 {
		t.Fatalf("process %d: %v after SIGTERM, want exit 0; last output:\n%s", p.n, st, p.book.tail(20))
	}
}

// killAndRestart kills the running binary (SIGKILL), waits for it to die,
// and starts it again after the pause a supervisor takes.
func (s *stormer) killAndRestart() {
	t, r := s.t, s.r
	if r.scrape() {
		s.run.scrapes++
	}
	killedAt := time.Now()
	_ = s.p.cmd.Process.Signal(syscall.SIGKILL)
	st := s.p.wait(t, waitLimit)
	if sig, ok := signalOf(st); !ok || sig != syscall.SIGKILL {
		t.Fatalf("process %d: %v after SIGKILL, want signal: killed", s.p.n, st)
	}
	s.run.kills = append(s.run.kills, killedAt)
	if data, err := os.ReadFile(r.stateFile()); err == nil {
		r.sweep.add("ledger after kill", data)
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
		pa.to = s.run.kills[len(s.run.kills)-1]
	} else {
		pa.to = s.p.resume()
		s.kill.Reset(randDuration(s.rng, 1500*time.Millisecond, 7*time.Second))
	}
	s.run.pauses = append(s.run.pauses, *pa)
	s.run.downtimes = append(s.run.downtimes, [2]time.Time{pa.from, pa.to})
	s.pause.Reset(randDuration(s.rng, 12*time.Second, 24*time.Second))
}

// stepClock steps the binary's wall clock to a new offset from the real
// time, at least 2s (twice the watchdog's tolerance) from the last one.
func (s *stormer) stepClock() {
	offset := s.offset
	for (offset - s.offset).Abs() < 2*time.Second {
		offset = randDuration(s.rng, -stormMaxOffset, stormMaxOffset).Round(time.Millisecond)
	}
	writeClock(s.t, s.clockFile, offset)
	s.pending = &clockStep{at: time.Now(), proc: s.p.n, offset: offset, step: offset - s.offset}
	s.offset = offset
}

// writeClock writes the offset to the clock file that TOPUP_TEST_CLOCK_FILE
// names, by renaming a new file over it: the binary reads it again when its
// inode changes.
func writeClock(t *testing.T, path string, offset time.Duration) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(offset.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
