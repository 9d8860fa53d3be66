package main

import (
	"os"
	"runtime"
	"syscall"
)

// stopSelf stops the process with SIGSTOP, directed at the calling thread
// (tgkill), and returns once a SIGCONT has let it go on.
//
// kill(getpid(), SIGSTOP) would not do: a signal sent to the process is
// delivered to its main thread, which starts the stop of every thread when
// the scheduler next runs it, and meanwhile the caller goes on (for several
// milliseconds on a loaded machine: far enough into a top-up to start its
// request). A stop signal sent to the calling thread stops it as the
// syscall returns, and it stops the others.
func stopSelf() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSTOP)
}
