package e2e

import (
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The world both storms share (TestFaultStorm with one binary,
// TestFaultStormFleet with three replicas on one Redis): the account and
// its weather, the HTTP/2 front, the seed, and the starts, kills and stops
// of the binary.

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

// stormSeed is E2E_STORM_SEED, or a new seed; it is logged so that a
// failed storm can be replayed.
func stormSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_STORM_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("E2E_STORM_SEED: %v", err)
		}
	}
	t.Logf("storm seed %d (E2E_STORM_SEED=%d replays the same weather, kills, pauses, steps and bursts; their timing is the machine's)", seed, seed)
	return seed
}

// stormLength is the storm's duration: shorter with -short.
func stormLength() time.Duration {
	if testing.Short() {
		return stormShort
	}
	return stormDuration
}

// stormAccount is the account of a storm of the given duration, with its
// bursts drawn from rng, and the binary's settings for it (beside the
// world's).
func stormAccount(rng *rand.Rand, seed uint64, duration time.Duration) (sim.Config, map[string]string) {
	acct := sim.Config{
		Balance: stormStart, AutoReload: true, TopUpAmount: stormTopUp, CreditDelay: stormCreditDelay,
		DrainPerSecond: stormDrain, Bursts: stormBursts(rng, duration), Faults: faultProfiles[0].faults, Seed: int64(seed),
	}
	env := map[string]string{
		"TOPUP_THRESHOLD":       stormThreshold.String(),
		"TOPUP_TARGET":          stormTarget.String(),
		"TOPUP_WINDOW":          stormWindow.String(),
		"TOPUP_MAX_PER_DAY":     strconv.Itoa(stormCap),
		"TOPUP_SCHEDULE":        "@every " + stormInterval.String(),
		"TOPUP_REQUEST_TIMEOUT": stormTimeout.String(),
	}
	return acct, env
}

// armStorm scripts the top-up faults of the world's account and starts the
// HTTP/2 front in the first weather: what a storm needs once its world is
// built on stormAccount's account.
func armStorm(t *testing.T, r *world, run *stormRun, rng *rand.Rand) {
	t.Helper()
	if err := r.acct.Script(sim.EndpointTopUp, stormTopUpScript(rng)...); err != nil {
		t.Fatal(err)
	}
	run.front = startFront(t, r, run.seed)
	run.front.setRates(faultProfiles[0].front)
	run.front.scriptTopUps(rng)
	run.phases = append(run.phases, faultProfiles[0].name)
}

// switchWeather draws the next weather for the account and the front.
func switchWeather(t *testing.T, r *world, run *stormRun, rng *rand.Rand) {
	t.Helper()
	f := faultProfiles[rng.IntN(len(faultProfiles))]
	if err := r.acct.SetFaults(f.faults); err != nil {
		t.Fatal(err)
	}
	run.front.setRates(f.front)
	run.phases = append(run.phases, f.name)
}

// nextWeather is when the weather changes next.
func nextWeather(rng *rand.Rand) time.Duration {
	return randDuration(rng, 5*time.Second, 15*time.Second)
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

// drawStormProc draws how the next start of the binary talks to the
// account: through the HTTP/2 front or straight, at even odds; with the
// pause hook (TOPUP_TEST_PAUSE_AT=after_intent) one time in three, or
// always when hook is set. It returns the start and its extra settings.
func drawStormProc(rng *rand.Rand, front *h2Front, hook bool) (stormProc, map[string]string) {
	sp := stormProc{h2: rng.IntN(2) == 0, hook: rng.IntN(3) == 0 || hook}
	extra := map[string]string{}
	if sp.h2 {
		extra = front.env()
	}
	if sp.hook {
		extra["TOPUP_TEST_PAUSE_AT"] = "after_intent"
	}
	return sp, extra
}

// killStormProc kills p (SIGKILL), waits for it to die of it, and returns
// when the signal went.
func killStormProc(t *testing.T, p *proc) time.Time {
	t.Helper()
	at := time.Now()
	p.kill(t)
	return at
}

// stopStormProc stops p with SIGTERM and checks the clean stop of the
// contract, exit 0. The pause hook may stop the process (SIGSTOP) at a
// check that was under way when the storm's time ran out, before or after
// the SIGTERM: such a stop is ended with SIGCONT, as often as it happens.
func stopStormProc(t *testing.T, p *proc) {
	t.Helper()
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

// hookPauseLength draws how long a stop of the pause hook lasts: a third
// shorter than a quarter of the window (the request goes out late), the
// rest longer (it must not go out at all), up to two windows.
// (The draws' order is the first storm's, so that its seeds replay.)
func hookPauseLength(rng *rand.Rand) time.Duration {
	length := randDuration(rng, 0, stormWindow/4-500*time.Millisecond)
	if rng.IntN(3) != 0 {
		length = randDuration(rng, stormWindow/4+500*time.Millisecond, stormMaxPause)
	}
	return length
}

// pauseLength draws how long a SIGSTOP of a running process lasts: 50ms
// to 3s, or one in three one to two windows.
func pauseLength(rng *rand.Rand) time.Duration {
	length := randDuration(rng, 50*time.Millisecond, 3*time.Second)
	if rng.IntN(3) == 0 {
		length = randDuration(rng, stormWindow, stormMaxPause)
	}
	return length
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

// drawOffset draws a clock offset within four windows of the real time
// and at least 2s (twice the watchdog's step tolerance) from last.
func drawOffset(rng *rand.Rand, last time.Duration) time.Duration {
	offset := last
	for (offset - last).Abs() < 2*time.Second {
		offset = randDuration(rng, -stormMaxOffset, stormMaxOffset).Round(time.Millisecond)
	}
	return offset
}
