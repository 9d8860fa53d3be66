//go:build !linux

package main

import (
	"os"
	"syscall"
)

// stopSelf stops the process with SIGSTOP and returns once a SIGCONT has
// let it go on. The process may run on briefly after the call (see the
// Linux version); the end-to-end tests run on Linux.
func stopSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
}
