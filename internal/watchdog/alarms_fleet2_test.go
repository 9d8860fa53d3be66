package watchdog

import (
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

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
