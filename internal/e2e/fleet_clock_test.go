package e2e

import (
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/simcheck"
)

// Redis's own clock steps (its host's NTP, a VM restore): the fleet's clock
// is Redis's TIME, so the ledger's times must move with it. redis-server
// runs under an LD_PRELOAD shim (internal/redistest/testdata/redisclock.c) that adds
// the offset, in seconds, written to a file to its wall clock; its
// monotonic clock is left alone. The replicas are the real binaries.

// steppedFleet starts a fleet whose redis-server's wall clock the returned
// function steps. It skips without gcc.
func steppedFleet(t *testing.T, o fleetOptions) (*fleet, func(d time.Duration)) {
	t.Helper()
	// Only redis-server starts with the shim: the replicas get exactly
	// their own environment (proc_test.go).
	var f *fleet
	step := redistest.WithClockShim(t, func() { f = newFleet(t, o) })
	return f, step
}

// Redis's clock steps forward an hour while a top-up is applied and
// uncredited inside its window: the ledger's times move with it, so the
// window holds and no second top-up goes out for the same need.
func TestFleetRedisClockStepForwardKeepsTheWindow(t *testing.T) {
	const window = 30 * time.Second
	f, step := steppedFleet(t, fleetOptions{
		account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: 40 * time.Second},
		env:     map[string]string{"TOPUP_WINDOW": window.String(), "TOPUP_AMOUNT": "50"},
	})
	reps := f.startReplicas(3, nil)
	f.waitUp(reps...)
	f.waitTopUps(waitLimit, 1)
	time.Sleep(2 * time.Second)
	step(time.Hour)
	f.quiet(8*time.Second, "after Redis's clock stepped forward an hour, while the first top-up was uncredited in its window")
	simcheck.Report(t, simcheck.Requests(f.acct.TopUps(), window).NoDouble())
	if n := len(f.book.logs(0, "redis clock stepped: the ledger's times moved by the step")); n != 1 {
		t.Errorf("%d replicas logged that they moved the ledger's times by the step, want 1", n)
	}
	f.end()
}

// Redis's clock steps back an hour while a top-up is applied and
// uncredited: the ledger's times move back with it, so its window ends when
// it would have, and the next top-up for the unmet need goes out then. (Not
// moved, the intent would lie an hour ahead, and the watchdog would redate
// it to the first check after the step: a window 5s too long here.)
func TestFleetRedisClockStepBackKeepsTheWindowItsLength(t *testing.T) {
	const window = 8 * time.Second
	f, step := steppedFleet(t, fleetOptions{
		account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: time.Minute},
		env:     map[string]string{"TOPUP_WINDOW": window.String(), "TOPUP_AMOUNT": "50"},
	})
	reps := f.startReplicas(3, nil)
	f.waitUp(reps...)
	first := f.waitTopUps(waitLimit, 1)[0]
	time.Sleep(5 * time.Second)
	step(-time.Hour)
	tops := f.waitTopUps(waitLimit+window, 2)
	if d := tops[1].ReceivedAt.Sub(first.ReceivedAt); d < window || d > window+3*time.Second {
		t.Errorf("the second top-up came %v after the first, want it once the window of %v ended (a check and a flight later at most)", d, window)
	}
	simcheck.Report(t, simcheck.Requests(tops, window).NoDouble())
	if n := len(f.book.logs(0, "redis clock stepped: the ledger's times moved by the step")); n != 1 {
		t.Errorf("%d replicas logged that they moved the ledger's times by the step, want 1", n)
	}
	f.end()
}
