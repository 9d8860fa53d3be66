package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// With TOPUP_REDIS_MIN_REPLICAS=1 and a Redis that has no replica, every
// claim is undone and no top-up can go out: /readyz must say so rather than
// answer 200 while the account sits under the threshold. (Found by an
// outside review: it answered "ready".)
func TestFleetUnmetMinReplicasIsNotReady(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: 2 * time.Second},
		env: map[string]string{"TOPUP_REDIS_MIN_REPLICAS": "1"}})
	reps := f.startReplicas(1, nil)
	f.waitUp(reps...)
	f.book.waitFor(t, waitLimit, "three undone claims", func() bool {
		return len(f.book.logs(reps[0].n, "ledger write failed")) >= 3
	})
	status, body := f.get(reps[0], "/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "the ledger could not be written for") ||
		!strings.Contains(body, "TOPUP_REDIS_MIN_REPLICAS") {
		t.Errorf("/readyz %d %q, want 503 naming the ledger and TOPUP_REDIS_MIN_REPLICAS", status, body)
	}
	if n := f.acct.Stats().TopUpRequests; n != 0 {
		t.Errorf("%d top-ups reached the account without a Redis replica to hold their claim, want 0", n)
	}
	f.end()
}
