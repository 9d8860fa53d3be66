// Package clocktest names, for the tests that have always used it, the
// simulated clock of internal/replay/clock: time moves only when the test
// says so, so a window of minutes or a month passes in a line. The clock
// and its tests live there; replays outside tests use it too.
package clocktest

import (
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/replay/clock"
)

// Clock is clock.Clock.
type Clock = clock.Clock

// New returns a clock standing at t.
func New(t time.Time) *Clock { return clock.New(t) }
