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

// The storm's settings. The account drains fast enough that it needs a
// top-up every few seconds and more than the daily cap over the storm, so
// the cap is reached and must hold across restarts for the rest of it.
const (
	stormDuration    = 70 * time.Second
	stormShort       = 20 * time.Second // with -short
	stormWindow      = 8 * time.Second
	stormInterval    = time.Second // TOPUP_SCHEDULE
	stormTimeout     = time.Second // TOPUP_REQUEST_TIMEOUT
	stormCap         = 6
	stormCreditDelay = 1500 * time.Millisecond
)

var (
	stormStart     = eur("35")
	stormThreshold = eur("20")
	stormTarget    = eur("40")
	stormTopUp     = eur("20") // no more than target-threshold: a refill takes two
	stormDrain     = eur("0.6")
)

// faultProfiles are the weather of the storm, switched at random: every
// fault the account can inject, answers slow enough that some outlast the
// request timeout, and calm spells. The top-up endpoint gets its faults from
// a script first (stormTopUpScript); its latency comes from the weather.
var faultProfiles = []struct {
	name   string
	faults sim.Faults
}{
	{"mixed", sim.Faults{
		Latency: 10 * time.Millisecond, LatencyJitter: 250 * time.Millisecond,
		ServerError: 0.05, RateLimit: 0.05, RetryAfter: time.Second,
		ResetBeforeApply: 0.03, ResetAfterApply: 0.04, NoAnswer: 0.02, AppliedNoAnswer: 0.03,
		AppliedServerError: 0.04, MalformedBody: 0.04,
	}},
	{"flaky", sim.Faults{
		LatencyJitter: 100 * time.Millisecond,
		ServerError:   0.1, RateLimit: 0.1, RetryAfter: time.Second,
		ResetBeforeApply: 0.05, ResetAfterApply: 0.06, AppliedNoAnswer: 0.05,
		AppliedServerError: 0.06, MalformedBody: 0.06,
	}},
	{"slow", sim.Faults{
		Latency: 500 * time.Millisecond, LatencyJitter: 700 * time.Millisecond,
		ServerError: 0.03, RateLimit: 0.03, RetryAfter: time.Second,
	}},
	{"calm", sim.Faults{}},
}

// stormRun is what the storm did, for the checks and the report.
type stormRun struct {
	seed      uint64
	start     time.Time
	end       time.Time // the final SIGTERM
	bursts    []sim.Burst
	kills     []time.Time
	downtimes [][2]time.Time // from a kill to the next start
	phases    []string
	scrapes   int
}

// TestFaultStorm runs the binary against an account that drains in bursts,
// with random faults on both endpoints and random SIGKILLs and restarts, for
// a bounded time, then checks the account's own record against the
// contract's invariants (see checkStorm). Set E2E_STORM_SEED to replay a
// storm; the seed is logged.
func TestFaultStorm(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_STORM_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("E2E_STORM_SEED: %v", err)
		}
	}
	t.Logf("storm seed %d (E2E_STORM_SEED=%d replays the same weather, kills and bursts)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x570e))
	duration := stormDuration
	if testing.Short() {
		duration = stormShort
	}

	run := &stormRun{seed: seed, bursts: stormBursts(rng, duration)}
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
		},
	})
	if err := r.acct.Script(sim.EndpointTopUp, stormTopUpScript(rng)...); err != nil {
		t.Fatal(err)
	}
	run.phases = append(run.phases, faultProfiles[0].name)
	run.start = time.Now()
	p := r.start(nil)
	p = run.storm(t, r, rng, p, duration)
	run.end = time.Now()
	p.stop(t)

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

// storm kills the running binary every 1.5 to 7 seconds and starts it again
// after a pause of up to 400ms, and switches the account's faults every 5 to
// 15 seconds, until duration has passed. It returns the running process.
func (run *stormRun) storm(t *testing.T, r *rig, rng *rand.Rand, p *proc, duration time.Duration) *proc {
	t.Helper()
	deadline := time.NewTimer(duration)
	defer deadline.Stop()
	kill := time.NewTimer(randDuration(rng, 1500*time.Millisecond, 7*time.Second))
	defer kill.Stop()
	phase := time.NewTimer(randDuration(rng, 5*time.Second, 15*time.Second))
	defer phase.Stop()
	for {
		select {
		case <-deadline.C:
			if r.scrape() {
				run.scrapes++
			}
			return p
		case <-p.done:
			t.Fatalf("process %d exited on its own (%v); last output:\n%s", p.n, p.state, r.book.tail(30))
		case <-phase.C:
			f := faultProfiles[rng.IntN(len(faultProfiles))]
			if err := r.acct.SetFaults(f.faults); err != nil {
				t.Fatal(err)
			}
			run.phases = append(run.phases, f.name)
			phase.Reset(randDuration(rng, 5*time.Second, 15*time.Second))
		case <-kill.C:
			if r.scrape() {
				run.scrapes++
			}
			killedAt := time.Now()
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			st := p.wait(t, waitLimit)
			if sig, ok := signalOf(st); !ok || sig != syscall.SIGKILL {
				t.Fatalf("process %d: %v after SIGKILL, want signal: killed", p.n, st)
			}
			run.kills = append(run.kills, killedAt)
			if data, err := os.ReadFile(r.stateFile()); err == nil {
				r.sweep.add("ledger after kill", data)
			}
			// The pause is the time a supervisor takes to restart the
			// container: a schedule, not a wait for something.
			time.Sleep(randDuration(rng, 0, 400*time.Millisecond))
			p = r.start(nil)
			run.downtimes = append(run.downtimes, [2]time.Time{killedAt, p.started})
			kill.Reset(randDuration(rng, 1500*time.Millisecond, 7*time.Second))
		}
	}
}
