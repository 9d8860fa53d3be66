package watchdog_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// Retry waits go through Options.Sleep, so that a replay in simulated time
// carries them on its clock: a read that fails twice and a top-up refused
// twice with a 429 (its Retry-After above the backoff) wait there, and
// nowhere else.
func TestRetryWaitsGoThroughOptionsSleep(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	acct.Faults.RetryAfter = 9 * time.Second
	r := newWorld(t, acct, func(o *worldOptions) {
		o.backoff = func() retry.Backoff { return retry.WithMaxRetries(4, retry.NewConstant(7*time.Second)) }
		o.recordWaits = true
	})
	r.script(sim.EndpointBalance, sim.FaultUnavailable, sim.FaultServerError)
	r.script(sim.EndpointTopUp, sim.FaultRateLimit, sim.FaultRateLimit)
	r.check()
	want := []time.Duration{7 * time.Second, 7 * time.Second, 9 * time.Second, 9 * time.Second}
	if w := r.recorded(); !slices.Equal(w, want) {
		t.Errorf("waits = %v, want %v (two read retries, then two 429s honouring Retry-After)", w, want)
	}
	if s := r.acct.Stats(); s.TopUpRequests != 3 || s.TopUpsApplied != 1 {
		t.Errorf("stats %+v, want 3 top-up attempts: two 429s and the one applied", s)
	}
}
