package watchdog

import (
	"time"

	"golang.org/x/sys/unix"
)

var monoOrigin = time.Now()

// SystemMonotonic reads CLOCK_BOOTTIME: monotonic, never stepped, and unlike
// Go's own monotonic clock (CLOCK_MONOTONIC) it goes on while the machine
// is suspended, so a suspend is not mistaken for a step of the wall clock.
func SystemMonotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Since(monoOrigin) // only before Linux 2.6.39
	}
	return time.Duration(ts.Nano())
}
