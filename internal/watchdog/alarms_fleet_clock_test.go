package watchdog

import (
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// Redis's clock steps an hour ahead and back (an NTP correction).
// A replica that loses every tick followed a reading dated an hour ahead;
// the fleet's later readings, dated right, must still be followed.
func TestAReplicaFollowsTheFleetAfterRedisClockStepsBack(t *testing.T) {
	var srv *redistest.Server
	step := redistest.WithClockShim(t, func() { srv = redistest.Start(t) })
	api := &fakeVonage{balance: eur("50"), autoReload: true}
	a, b := newAlarmReplica(t, srv, api, fleetSettings), newAlarmReplica(t, srv, api, fleetSettings)
	b.check()
	a.check()
	step(time.Hour)
	afterLease()
	api.mu.Lock()
	api.autoReload = false
	api.mu.Unlock()
	b.check()
	a.check()
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs B to have it")
	}
	wantReplicaAlarms(t, "A after the step ahead", a, msgAutoReloadOff)
	step(0)
	afterLease()
	api.mu.Lock()
	api.autoReload = true
	api.mu.Unlock()
	b.check()
	wantReplicaAlarms(t, "B", b, msgAutoReloadOff, msgAutoReloadOn)
	a.check()
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs B to have it")
	}
	wantReplicaAlarms(t, "A after the step back", a, msgAutoReloadOff, msgAutoReloadOn)
}
