//go:build !linux

package watchdog

import "time"

var monoOrigin = time.Now()

// systemMono is Go's monotonic clock, elsewhere than on Linux.
func systemMono() time.Duration { return time.Since(monoOrigin) }
