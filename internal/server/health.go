package server

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// FailedChecksNotReady is how many failed checks in a row make the watchdog
// not ready.
const FailedChecksNotReady = 3

// Health answers the probes from the watchdog's events. It is a
// watchdog.Observer; its methods are safe for concurrent use.
//
// Liveness: alive while a check started within the staleness allowed (three
// schedule intervals plus the request timeout); before the first check, for
// that long after NewHealth. Readiness: ready once a balance read has
// succeeded and while the last reads succeed; not ready before the first
// success, while Vonage rejects the credentials, after FailedChecksNotReady
// failed checks in a row, or after FailedChecksNotReady checks in a row whose
// ledger write failed (a ledger that refuses every claim: corrupt, full, or
// TOPUP_REDIS_MIN_REPLICAS unmet). A Decided or a LedgerFailed event counts as
// a successful read; a CheckFailed as a failed one; a recorded Decided ends
// a run of ledger failures.
//
// In a fleet, a TickSkipped is the fleet's read for this replica: with a
// reading no older than the staleness it counts as a successful read; with
// none, or an older one, the watchdog is not ready until a balance read
// succeeds (here or in the fleet; a failed check here does not clear it).
// The reading's age is taken between the two times of the event, both on the
// fleet's clock, never on h's. A fresh reading taken before this replica's
// last failed check is no read since that failure, whose rules still apply:
// rejected credentials stay not ready until a later read succeeds. From a
// RedisUnreachable until a RedisReachable the watchdog is not ready,
// whatever its reads, unless Vonage rejects the credentials. TickWon and
// TickFailed change nothing: a read follows them.
type Health struct {
	now       func() time.Time
	staleness time.Duration

	mu          sync.Mutex
	lastStarted time.Time
	everRead    bool
	consecutive int
	credentials bool
	lastErr     string
	// lastFailed is the time of the last CheckFailed, on the watchdog's
	// clock (the fleet's, in a fleet).
	lastFailed time.Time
	// fleet is why the fleet's reading of the last skipped tick is no
	// read; "" once a read succeeded.
	fleet string
	// redisDown is set from a RedisUnreachable to a RedisReachable;
	// redisErr is its error, on one line.
	redisDown bool
	redisErr  string
	// ledgerFailed counts the checks in a row whose ledger write failed
	// (no top-up could be sent); ledgerErr is the last one's error.
	ledgerFailed int
	ledgerErr    string
}

var _ watchdog.Observer = (*Health)(nil)

// NewHealth returns a Health for a scheduler that starts a check every
// interval, each balance read attempt bounded by requestTimeout. now is the
// clock; nil means time.Now.
func NewHealth(interval, requestTimeout time.Duration, now func() time.Time) *Health {
	if now == nil {
		now = time.Now
	}
	return &Health{
		now:         now,
		staleness:   3*interval + requestTimeout,
		lastStarted: now(),
	}
}

// Staleness is how long after the last check start the watchdog is alive,
// and how old the fleet's last reading may be on a skipped tick.
func (h *Health) Staleness() time.Duration { return h.staleness }

// Observe updates the probes' state from one watchdog event. The time of a
// check start is read from h's clock when the event arrives, so that the
// watchdog's clock and h's cannot disagree.
func (h *Health) Observe(e watchdog.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch e := e.(type) {
	case watchdog.CheckStarted:
		h.lastStarted = h.now()
	case watchdog.CheckFailed:
		h.consecutive = e.Consecutive
		if h.consecutive <= 0 {
			h.consecutive = 1
		}
		h.credentials = e.CredentialsRejected
		h.lastFailed = e.At
		h.lastErr = ""
		if e.Err != nil {
			h.lastErr = oneLine(e.Err.Error())
		}
	case watchdog.Decided:
		h.readSucceeded()
		if e.Recorded {
			h.ledgerFailed, h.ledgerErr = 0, ""
		}
	case watchdog.LedgerFailed:
		// A check writes the ledger only after it has read a balance.
		h.readSucceeded()
		h.ledgerFailed++
		h.ledgerErr = ""
		if e.Err != nil {
			h.ledgerErr = oneLine(e.Err.Error())
		}
	case watchdog.TickSkipped:
		h.tickSkipped(e)
	case watchdog.RedisUnreachable:
		h.redisDown = true
		h.redisErr = ""
		if e.Err != nil {
			h.redisErr = oneLine(e.Err.Error())
		}
	case watchdog.RedisReachable:
		h.redisDown = false
		h.redisErr = ""
	}
}

func (h *Health) readSucceeded() {
	h.everRead = true
	h.consecutive = 0
	h.credentials = false
	h.lastErr = ""
	h.fleet = ""
}

// tickSkipped takes the fleet's last reading as this replica's read when it
// is fresh and newer than this replica's last failed check. Its age is
// between two times on the fleet's clock (Redis's), which this pod's clock
// may not agree with.
func (h *Health) tickSkipped(e watchdog.TickSkipped) {
	if e.Last == nil {
		h.fleet = "not ready: no balance read by the fleet yet"
		return
	}
	age := e.At.Sub(e.Last.At)
	switch {
	case age > h.staleness:
		h.fleet = fmt.Sprintf("not ready: the fleet's last balance reading is %s old (allowed %s)",
			age.Round(time.Second), h.staleness)
	case !e.Last.At.After(h.lastFailed):
		// Read before this replica's failure: the failure still speaks.
		h.fleet = ""
	default:
		h.readSucceeded()
		h.ledgerFailed, h.ledgerErr = 0, "" // the holder wrote its reading: the ledger works
	}
}

// Alive reports whether the scheduler is alive, with a one-line reason.
func (h *Health) Alive() (bool, string) {
	h.mu.Lock()
	since := h.now().Sub(h.lastStarted)
	h.mu.Unlock()
	if since > h.staleness {
		return false, fmt.Sprintf("not alive: no check started for %s (allowed %s)",
			since.Round(time.Second), h.staleness)
	}
	return true, "alive"
}

// Ready reports whether the watchdog is ready, with a one-line reason.
func (h *Health) Ready() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.credentials:
		return false, "not ready: vonage rejected the credentials"
	case h.redisDown && h.redisErr != "":
		return false, "not ready: redis unreachable: " + h.redisErr
	case h.redisDown:
		return false, "not ready: redis unreachable"
	case h.ledgerFailed >= FailedChecksNotReady:
		return false, fmt.Sprintf("not ready: the ledger could not be written for %d checks in a row, no top-up can be sent: %s",
			h.ledgerFailed, h.ledgerErr)
	case h.fleet != "":
		return false, h.fleet
	case !h.everRead && h.lastErr != "":
		return false, "not ready: no balance read yet: " + h.lastErr
	case !h.everRead:
		return false, "not ready: no balance read yet"
	case h.consecutive >= FailedChecksNotReady:
		return false, fmt.Sprintf("not ready: %d checks failed in a row: %s", h.consecutive, h.lastErr)
	}
	return true, "ready"
}

// oneLine folds s onto one line, for a probe body.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
