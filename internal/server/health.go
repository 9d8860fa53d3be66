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
// success, while Vonage rejects the credentials, or after FailedChecksNotReady
// failed checks in a row. A Decided or a LedgerFailed event counts as a
// successful read; a CheckFailed as a failed one.
type Health struct {
	now       func() time.Time
	staleness time.Duration

	mu          sync.Mutex
	lastStarted time.Time
	everRead    bool
	consecutive int
	credentials bool
	lastErr     string
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

// Staleness is how long after the last check start the watchdog is alive.
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
		h.lastErr = ""
		if e.Err != nil {
			h.lastErr = oneLine(e.Err.Error())
		}
	case watchdog.Decided, watchdog.LedgerFailed:
		// A check writes the ledger only after it has read a balance.
		h.readSucceeded()
	}
}

func (h *Health) readSucceeded() {
	h.everRead = true
	h.consecutive = 0
	h.credentials = false
	h.lastErr = ""
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
