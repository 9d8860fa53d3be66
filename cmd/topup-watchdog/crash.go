package main

import (
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"syscall"

	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// crashEnv names the step of a top-up at which the process kills itself
// (SIGKILL: no deferred cleanup, no flush), for the crash-point tests. It is
// a testing hook: never set it in production.
const crashEnv = "TOPUP_TEST_CRASH_AT"

// crashAfterSend is the step between a top-up request written to the
// connection and its answer; the transport reaches it, not the watchdog.
const crashAfterSend = "after_send"

// crashPoints lists the steps crashEnv accepts.
func crashPoints() []string {
	return []string{watchdog.CrashBeforeIntent, watchdog.CrashAfterIntent, crashAfterSend, watchdog.CrashAfterAnswer}
}

// crashAt returns the step crashEnv names, or "" when it is unset.
func crashAt(lookupenv func(string) (string, bool)) string {
	v, _ := lookupenv(crashEnv)
	return strings.TrimSpace(v)
}

// die ends the process at once, as a crash or kill -9 would.
func die() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

// crashHook returns the watchdog's CrashPoint for step, or nil.
func crashHook(step string) func(string) {
	if step == "" || step == crashAfterSend {
		return nil
	}
	return func(p string) {
		if p == step {
			die()
		}
	}
}

// crashTransport kills the process once a top-up request has been written,
// before its answer is read.
type crashTransport struct{ base http.RoundTripper }

func (t crashTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/account/top-up") {
		trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				die()
			}
		}}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	}
	return t.base.RoundTrip(req)
}

// crashTransportFor returns the transport for step, or nil for the default.
func crashTransportFor(step string) http.RoundTripper {
	if step != crashAfterSend {
		return nil
	}
	return crashTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
}
