package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync/atomic"
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

// crashTransport kills the process once a top-up request has left it,
// before its answer is read. httptrace's WroteRequest fires when the request
// is in the transport's write buffer, not yet on the wire: it only arms the
// connection, which dies after its next write, the flush.
type crashTransport struct {
	base  http.RoundTripper
	armed *atomic.Bool
}

func (t crashTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/account/top-up") {
		trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				t.armed.Store(true)
			}
		}}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	}
	return t.base.RoundTrip(req)
}

// crashConn dies after the write that follows an armed WroteRequest.
type crashConn struct {
	net.Conn
	armed *atomic.Bool
}

func (c crashConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.armed.Load() {
		die()
	}
	return n, err
}

// crashTransportFor returns the transport for step, or nil for the default.
func crashTransportFor(step string) http.RoundTripper {
	if step != crashAfterSend {
		return nil
	}
	armed := new(atomic.Bool)
	base := http.DefaultTransport.(*http.Transport).Clone()
	dial := base.DialContext
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return crashConn{Conn: conn, armed: armed}, nil
	}
	return crashTransport{base: base, armed: armed}
}
