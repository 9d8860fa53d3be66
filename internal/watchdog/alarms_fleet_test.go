package watchdog

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// A replica of a fleet that began an alarm and then loses every tick to
// another replica reads nothing itself; it must still log the alarm's end
// when the fleet's reading or ledger shows it, or its log says forever that
// auto-reload is off, the credentials rejected or top-ups blocked. Real
// redis-server; fakes for Vonage (what matters is who has the tick).

// alarmLease is the tick lease of these tests: short, so that a replica can
// take the next tick soon.
const alarmLease = 300 * time.Millisecond

// failingReads answers every balance read "authentication failed" while
// fail is set.
type failingReads struct {
	*fakeVonage
	fail atomic.Bool
}

func (f *failingReads) GetBalance(ctx context.Context) (vonage.Balance, error) {
	if f.fail.Load() {
		return vonage.Balance{}, vonageErr(vonage.KindAuthFailed, 401, true)
	}
	return f.fakeVonage.GetBalance(ctx)
}

type alarmReplica struct {
	w    *Watchdog
	logs *observer.ObservedLogs
	lost bool // the last check lost the tick
}

func newAlarmReplica(t *testing.T, srv *redistest.Server, api Vonage, s policy.Settings) *alarmReplica {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	led, err := ledger.OpenRedis(context.Background(), ledger.RedisOptions{
		URL: srv.URL(), Account: "abcd1234", Keep: policy.Day + s.Window, Log: log, Monotonic: SystemMonotonic,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = led.Close() })
	w := New(api, led, Options{Settings: s, Amount: eur("50"), Log: log, Fleet: led, Now: led.Now, Replica: led.Replica()})
	return &alarmReplica{w: w, logs: logs}
}

// check runs one scheduled check, with the tick's lease.
func (r *alarmReplica) check() {
	r.lost = false
	before := r.logs.FilterMessage(msgTickTaken).Len()
	r.w.check(context.Background(), alarmLease)
	r.lost = r.logs.FilterMessage(msgTickTaken).Len() > before
}

// alarms are the alarm lines this replica logged, in order.
func (r *alarmReplica) alarms() []string {
	var out []string
	for _, e := range r.logs.All() {
		switch e.Message {
		case msgAutoReloadOff, msgAutoReloadOn, msgCredentialsRejected, msgCredentialsAccepted, msgTopUpRejected, msgRejectionOver:
			out = append(out, e.Message)
		}
	}
	return out
}

// skipped reports whether the replica's last check lost the tick.
func (r *alarmReplica) skipped() bool { return r.lost }

func wantReplicaAlarms(t *testing.T, name string, r *alarmReplica, want ...string) {
	t.Helper()
	if got := r.alarms(); !slices.Equal(got, want) {
		t.Errorf("replica %s alarm lines\n%q\nwant\n%q", name, got, want)
	}
}

// afterLease waits for the tick's lease to pass.
func afterLease() { time.Sleep(alarmLease + 100*time.Millisecond) }

func TestAReplicaThatLosesTheTickEndsAutoReloadOff(t *testing.T) {
	srv := redistest.Start(t)
	api := &fakeVonage{balance: eur("50"), autoReload: false}
	a, b := newAlarmReplica(t, srv, api, fleetSettings), newAlarmReplica(t, srv, api, fleetSettings)
	a.check() // A reads: auto-reload off
	afterLease()
	api.mu.Lock()
	api.autoReload = true
	api.mu.Unlock()
	b.check() // B reads: on
	a.check() // A loses the tick
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs B to have it")
	}
	wantReplicaAlarms(t, "A", a, msgAutoReloadOff, msgAutoReloadOn)
	wantReplicaAlarms(t, "B", b)
}

// A replica that loses the tick also begins the state the fleet's reading
// shows: the log of every replica says what the fleet waits on.
func TestAReplicaThatLosesTheTickBeginsAutoReloadOff(t *testing.T) {
	srv := redistest.Start(t)
	api := &fakeVonage{balance: eur("50"), autoReload: false}
	a, b := newAlarmReplica(t, srv, api, fleetSettings), newAlarmReplica(t, srv, api, fleetSettings)
	b.check()
	a.check()
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs B to have it")
	}
	wantReplicaAlarms(t, "A", a, msgAutoReloadOff)
	a.check() // still off: nothing more
	wantReplicaAlarms(t, "A", a, msgAutoReloadOff)
}

// The credentials are each replica's own (TestAReplicaWithItsOwnBadSecret
// IsNotToldItsCredentialsAreAccepted): another replica's good read does
// not end them; this replica's own accepted read does.
func TestAReplicaThatLosesTheTickKeepsItsCredentialsStateUntilItsOwnRead(t *testing.T) {
	srv := redistest.Start(t)
	api := &failingReads{fakeVonage: &fakeVonage{balance: eur("50"), autoReload: true}}
	api.fail.Store(true)
	a, b := newAlarmReplica(t, srv, api, fleetSettings), newAlarmReplica(t, srv, api, fleetSettings)
	a.check() // A: rejected
	afterLease()
	api.fail.Store(false)
	b.check() // B: accepted
	a.check() // A loses the tick
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs B to have it")
	}
	wantReplicaAlarms(t, "A", a, msgCredentialsRejected)
	afterLease()
	a.check() // A reads itself: accepted
	if a.skipped() {
		t.Fatal("replica A lost the tick; the test needs it to read")
	}
	wantReplicaAlarms(t, "A", a, msgCredentialsRejected, msgCredentialsAccepted)
}

func TestAReplicaThatLosesTheTickEndsARejection(t *testing.T) {
	srv := redistest.Start(t)
	seedLedger(t, srv)
	s := fleetSettings
	s.Window = 2 * time.Second
	api := &fakeVonage{balance: eur("5"), autoReload: true, amount: eur("50"),
		topUpErr: []error{vonageErr(vonage.KindClient, 401, true)}}
	a, b := newAlarmReplica(t, srv, api, s), newAlarmReplica(t, srv, api, s)
	a.check() // A: the top-up is rejected
	wantReplicaAlarms(t, "A", a, msgTopUpRejected)
	time.Sleep(s.Window + 200*time.Millisecond)
	api.mu.Lock()
	api.balance = eur("50") // no top-up wanted any more
	api.mu.Unlock()
	b.check()
	a.check() // A loses the tick, after the rejection's window
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs B to have it")
	}
	wantReplicaAlarms(t, "A", a, msgTopUpRejected, msgRejectionOver)
}

// Replica A's own credentials are rejected (its pod has an old
// VONAGE_API_SECRET, as during a rotation: same API key, so same ledger);
// replica B reads fine. A losing the tick must not log "credentials
// accepted again": its own credentials were never accepted, and the next
// tick it wins logs them rejected again (the alarm flaps).
func TestAReplicaWithItsOwnBadSecretIsNotToldItsCredentialsAreAccepted(t *testing.T) {
	srv := redistest.Start(t)
	apiA := &failingReads{fakeVonage: &fakeVonage{balance: eur("50"), autoReload: true}}
	apiA.fail.Store(true) // A's secret is wrong, for good
	apiB := &fakeVonage{balance: eur("50"), autoReload: true}
	a, b := newAlarmReplica(t, srv, apiA, fleetSettings), newAlarmReplica(t, srv, apiB, fleetSettings)
	a.check() // A: rejected
	afterLease()
	b.check() // B: a good reading, newer than A's failure
	a.check() // A loses the tick
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs B to have it")
	}
	afterLease()
	a.check() // A wins and fails again
	wantReplicaAlarms(t, "A", a, msgCredentialsRejected)
}

// Redis loses the ledger while a rejection B recorded still blocks
// top-ups; a fresh replica C (B restarted) then holds the tick. A, which
// followed the rejection from the ledger, must not log it over before its
// window ends.
func TestALostLedgerDoesNotEndARejectionEarly(t *testing.T) {
	srv := redistest.Start(t)
	seedLedger(t, srv)
	s := fleetSettings
	s.Window = 20 * time.Second
	apiB := &fakeVonage{balance: eur("5"), autoReload: true, amount: eur("50"),
		topUpErr: []error{vonageErr(vonage.KindClient, 401, true)}}
	apiA := &fakeVonage{balance: eur("5"), autoReload: true, amount: eur("50")}
	a, b := newAlarmReplica(t, srv, apiA, s), newAlarmReplica(t, srv, apiB, s)
	b.check() // B: its top-up is rejected
	wantReplicaAlarms(t, "B", b, msgTopUpRejected)
	a.check() // A loses the tick and follows the rejection
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs B to have it")
	}
	wantReplicaAlarms(t, "A", a, msgTopUpRejected)
	srv.FlushAll()
	afterLease()
	apiC := &fakeVonage{balance: eur("50"), autoReload: true, amount: eur("50")}
	c := newAlarmReplica(t, srv, apiC, s)
	c.check()
	a.check()
	if !a.skipped() {
		t.Fatal("replica A had the tick; the test needs C to have it")
	}
	wantReplicaAlarms(t, "A", a, msgTopUpRejected)
}
