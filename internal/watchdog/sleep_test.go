package watchdog

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// Retry waits go through Options.Sleep, so that a replay in simulated time
// carries them on its clock: a read that fails twice and a top-up refused
// twice with a 429 (its Retry-After above the backoff) wait there, and
// nowhere else.
func TestRetryWaitsGoThroughOptionsSleep(t *testing.T) {
	var waits []time.Duration
	h := newHarness(t, "5", func(o *Options) {
		constant := func() retry.Backoff { return retry.WithMaxRetries(4, retry.NewConstant(7*time.Second)) }
		o.ReadBackoff, o.SendBackoff = constant, constant
		o.Sleep = func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			return nil
		}
	})
	h.api.balanceErr = []error{vonageErr(vonage.KindServer, 503, true), vonageErr(vonage.KindServer, 500, true)}
	limited := &vonage.Error{Op: "top up", Kind: vonage.KindRateLimited, Status: 429, RetryAfter: 9 * time.Second}
	h.api.topUpErr = []error{limited, limited}
	h.check()
	want := []time.Duration{7 * time.Second, 7 * time.Second, 9 * time.Second, 9 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("waits = %v, want %v (two read retries, then two 429s honouring Retry-After)", waits, want)
	}
	if n := h.api.sent(); n != 3 {
		t.Errorf("%d top-up attempts, want 3: two 429s and the one that went through", n)
	}
}
