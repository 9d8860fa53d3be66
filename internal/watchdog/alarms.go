package watchdog

import (
	"time"

	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// alarms are the states that need a person, each logged once when it
// begins and once when it ends, not at every check while it lasts (the
// decision, check failed and topup lines still come at every check). They
// live in memory: a restarted process that is still in a state logs its
// begin line again, at its first check that sees it, so that the log of
// every process says what it is waiting on. Read and written under
// Watchdog.mu, as every step of a check.
type alarms struct {
	// autoReloadOff: the last balance read said auto-reload is off, so the
	// policy blocks every top-up it wants (auto_reload_disabled).
	autoReloadOff bool
	// credentials: Vonage answered "authentication failed" to a read or a
	// top-up, and no read has succeeded since.
	credentials bool
	// rejected: a rejected top-up blocks new ones (recently_rejected).
	rejected bool
	// rejectedUntil is when the rejection that began the rejected state
	// stops blocking; a lost tick ends that state no sooner (followFleet).
	rejectedUntil time.Time
	// followed is the fleet's reading a lost tick last followed: a reading
	// is followed once, when it first shows (followFleet).
	followed *ledger.Reading
}

// rejection is a rejected top-up that blocks new ones until its window
// has passed; the zero value is none.
type rejection struct {
	id    string
	err   string    // the answer, redacted, as the ledger keeps it
	until time.Time // when it stops blocking
}

func (r rejection) holds() bool { return !r.until.IsZero() }

// holdingRejection is the rejected top-up of st that blocks new ones at now
// for the longest, as the policy's recently_rejected rule counts a
// rejection: for window after its answer.
func holdingRejection(st *ledger.State, now time.Time, window time.Duration) rejection {
	var out rejection
	for i := range st.TopUps {
		r := &st.TopUps[i]
		if r.Outcome != ledger.Rejected {
			continue
		}
		if until := r.PolicyTopUp().At.Add(window); now.Before(until) && until.After(out.until) {
			out = rejection{id: r.ID, err: r.Error, until: until}
		}
	}
	return out
}

// noteDecided follows the states that a decision shows: the auto-reload
// flag of the balance read, and, when the ledger was read (fromLedger), the
// rejection that blocks top-ups. A decision taken on this process's last
// view of the ledger (the ledger could not be read) may not know of the
// latest outcome: it neither begins nor ends a rejection.
func (w *Watchdog) noteDecided(autoReload bool, c claim, fromLedger bool) {
	w.noteAutoReload(autoReload)
	if fromLedger {
		w.noteRejection(c.rejection)
	}
}

// noteAutoReload follows the auto-reload flag of a balance reading; fields
// are added to the line that logs a change.
func (w *Watchdog) noteAutoReload(on bool, fields ...zap.Field) {
	switch a := &w.alarms; {
	case !on && !a.autoReloadOff:
		a.autoReloadOff = true
		w.log.Warn(msgAutoReloadOff, fields...)
	case on && a.autoReloadOff:
		a.autoReloadOff = false
		w.log.Info(msgAutoReloadOn, fields...)
	}
}

// followFleet follows the states a lost tick shows to a replica of a fleet
// that reads nothing, so that a replica that began a state and then loses
// every tick still logs its end:
//   - the auto-reload flag of the fleet's last reading, once for each new
//     reading (one that differs from the one followed last; not one dated
//     later, since Redis's clock can step back);
//   - the rejection the ledger holds: it begins the rejected state, and
//     ends it only once the rejection that began it is past its window,
//     for a ledger Redis lost holds no rejection (a rejected record is not
//     one a replica puts back) though the account still refuses.
//
// The credentials are not followed: a replica's are its own (a pod may run
// with an old VONAGE_API_SECRET during a rotation, on the same ledger), and
// another replica's accepted read says nothing of them. The lines name the
// replica that read (holder).
func (w *Watchdog) followFleet(t ledger.Tick, now time.Time) {
	if r := t.Last; r != nil && !sameReading(r, w.alarms.followed) {
		w.alarms.followed = r
		w.noteAutoReload(r.AutoReload, zap.String(fieldHolder, r.Replica))
	}
	st := ledger.State{TopUps: t.TopUps}
	r := holdingRejection(&st, now, w.opts.Settings.Window)
	if !r.holds() && w.alarms.rejected && now.Before(w.alarms.rejectedUntil) {
		return // the ledger lost the rejection before its window ended
	}
	w.noteRejection(r)
}

// sameReading reports whether a and b are the same reading: taken by the
// same replica at the same time.
func sameReading(a, b *ledger.Reading) bool {
	return a != nil && b != nil && a.At.Equal(b.At) && a.Replica == b.Replica
}

// noteRejection follows the rejection that blocks top-ups: r, or none.
func (w *Watchdog) noteRejection(r rejection) {
	switch a := &w.alarms; {
	case r.holds() && !a.rejected:
		a.rejected, a.rejectedUntil = true, r.until
		w.log.Error(msgTopUpRejected, zap.String(fieldIntentID, r.id), zap.String(fieldError, r.err),
			zap.Time(fieldUntil, r.until))
	case !r.holds() && a.rejected:
		a.rejected = false
		w.log.Info(msgRejectionOver)
	}
}

// noteCredentials follows what Vonage said of the credentials in its answer
// to op: err is the answer's error, nil for a success. An answer that says
// nothing of them (a 5xx, no answer) changes nothing.
func (w *Watchdog) noteCredentials(op string, err error) {
	switch a := &w.alarms; {
	case err != nil && !a.credentials && isAuthFailure(err): // in this order: AsError allocates
		a.credentials = true
		w.log.Error(msgCredentialsRejected, zap.String(fieldOp, op), zap.String(fieldError, err.Error()))
	case err == nil && a.credentials:
		a.credentials = false
		w.log.Info(msgCredentialsAccepted, zap.String(fieldOp, op))
	}
}

// noteTopUp follows the states a top-up's outcome shows. A rejection is a
// state only once the ledger holds it (recorded): an outcome that could not
// be written leaves the intent pending, which holds the window instead.
func (w *Watchdog) noteTopUp(ev TopUpFinished, recorded bool) {
	w.noteCredentials(OpTopUp, ev.Err)
	if ev.Outcome == ledger.Rejected && recorded {
		w.noteRejection(rejection{id: ev.IntentID, err: errorText(ev.Err), until: ev.At.Add(w.opts.Settings.Window)})
	}
}
