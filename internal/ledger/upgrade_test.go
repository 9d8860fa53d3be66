package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// During a rolling upgrade, a replica of the previous release (178b463)
// decodes the reading key strictly into a Reading (its decodeSnapshot:
// unmarshalStrict(readingRaw, &rd)); a value it cannot decode is, to it, no
// last reading. Once a replica of this release holds the tick, the value
// holds "readings", and every old replica that does not hold the tick shows
// topup_watchdog_balance_eur 0 and answers /readyz 503 "no balance read by
// the fleet yet" for as long as the rollout lasts (seen with both binaries
// on one redis-server).
func TestTheReadingKeyThisReleaseWritesIsReadableByThePreviousOne(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	r := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-new" })
	seedLedger(t, srv, r)
	for i := 3; i >= 0; i-- {
		if err := r.Update(ctx, check(fleetReading(r, time.Duration(i)*30*time.Second, "50"))); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := srv.Client().Get(ctx, r.keys.reading).Result()
	if err != nil {
		t.Fatal(err)
	}
	var old Reading // the previous release's value of the reading key
	if err := unmarshalStrict([]byte(raw), &old); err != nil {
		t.Errorf("the previous release cannot read the reading key this one writes (%s): %v", raw, err)
	}
}
