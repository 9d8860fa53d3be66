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

// stepTransport runs its action (die, or a pause: see testhooks.go) once a
// top-up request has left the process, before its answer is read.
//
// httptrace's WroteRequest fires when the whole request has been handed to
// the connection, not necessarily written to it: it only arms the
// connection, whose next write or read fires the action. A request whose
// body net/http does not hold in memory (the client's one-shot top-up body)
// has its headers flushed first and its body copied straight to the
// connection, before WroteRequest; no write follows, and the first read
// that returns after it (the answer arriving, before the transport parses
// it) fires the action. A body held in memory is buffered with the headers
// and flushed after WroteRequest: that flush, once written, fires it.
type stepTransport struct {
	base  http.RoundTripper
	armed *atomic.Bool
}

func (t stepTransport) RoundTrip(req *http.Request) (*http.Response, error) {
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

// stepConn fires act at the first write or read that ends after an armed
// WroteRequest.
type stepConn struct {
	net.Conn
	armed *atomic.Bool
	act   func()
}

func (c stepConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.fire()
	return n, err
}

func (c stepConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.fire()
	return n, err
}

func (c stepConn) fire() {
	if c.armed.CompareAndSwap(true, false) {
		c.act()
	}
}

// newStepTransport returns a clone of the default transport that runs act
// once a top-up request has left (see stepTransport).
func newStepTransport(act func()) http.RoundTripper {
	armed := new(atomic.Bool)
	base := http.DefaultTransport.(*http.Transport).Clone()
	dial := base.DialContext
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return stepConn{Conn: conn, armed: armed, act: act}, nil
	}
	return stepTransport{base: base, armed: armed}
}
