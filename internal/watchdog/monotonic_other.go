//go:build !linux

package watchdog

import "time"

var monoOrigin = time.Now()

// SystemMonotonic is Go's monotonic clock, elsewhere than on Linux.
func SystemMonotonic() time.Duration { return time.Since(monoOrigin) }
