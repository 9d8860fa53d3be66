package vonage

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// checkTransportError asserts a call that got no answer.
func checkTransportError(t *testing.T, err error, wantSent bool) *Error {
	t.Helper()
	e := asError(t, err)
	if e.Kind != KindTransport || e.Status != 0 || e.Sent != wantSent {
		t.Errorf("error = %v: kind %s, status %d, sent %t; want transport, status 0, sent %t",
			e, e.Kind, e.Status, e.Sent, wantSent)
	}
	return e
}

// refusedURL is the URL of a loopback port that nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

func TestNotSentWhenTheConnectionIsRefused(t *testing.T) {
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			c := newTestClient(t, testOptions(refusedURL(t)))
			e := checkTransportError(t, callEndpoint(t.Context(), t, c, endpoint), false)
			if !strings.Contains(e.Error(), "connection refused") {
				t.Errorf("error %q does not say the connection was refused", e)
			}
		})
	}
}

func TestNotSentWhenTheCertificateIsUntrusted(t *testing.T) {
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			f := &fakeVonage{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				f.calls.Add(1)
				answerFor(endpoint)(w, r)
			}))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			t.Cleanup(srv.Close)

			c := newTestClient(t, testOptions(srv.URL))
			e := checkTransportError(t, callEndpoint(t.Context(), t, c, endpoint), false)
			if !strings.Contains(e.Error(), "certificate") {
				t.Errorf("error %q does not name the certificate", e)
			}
			if n := f.calls.Load(); n != 0 {
				t.Errorf("server saw %d requests, want 0", n)
			}
		})
	}
}

func TestNotSentWhenTheNameDoesNotResolve(t *testing.T) {
	resolver := &net.Resolver{PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no name server in tests")
		}}
	o := testOptions("https://vonage.invalid")
	o.Transport = &http.Transport{DialContext: (&net.Dialer{Resolver: resolver}).DialContext}
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			c := newTestClient(t, o)
			e := checkTransportError(t, callEndpoint(t.Context(), t, c, endpoint), false)
			var dnsErr *net.DNSError
			if !errors.As(e, &dnsErr) {
				t.Errorf("error %q does not wrap a *net.DNSError", e)
			}
		})
	}
}

func TestNotSentWhenCancelledBeforeTheCall(t *testing.T) {
	f := newFake(t, answerFor(EndpointTopUp))
	c := newTestClient(t, testOptions(f.URL))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, endpoint := range allEndpoints() {
		e := checkTransportError(t, callEndpoint(ctx, t, c, endpoint), false)
		if !errors.Is(e, context.Canceled) {
			t.Errorf("error %q is not context.Canceled", e)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestNotSentWhenCancelledWhileConnecting(t *testing.T) {
	dialing := make(chan struct{}, 1)
	o := testOptions("http://vonage.test")
	o.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dialing <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	c := newTestClient(t, o)
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				<-dialing
				cancel()
			}()
			e := checkTransportError(t, callEndpoint(ctx, t, c, endpoint), false)
			if !errors.Is(e, context.Canceled) {
				t.Errorf("error %q is not context.Canceled", e)
			}
		})
	}
}

// hangingFake reads each request whole, tells arrived, and never answers:
// it returns when the client goes away or the test ends. (The server only
// notices a client going away once the request body has been read.)
func hangingFake(t *testing.T) (*fakeVonage, <-chan struct{}) {
	arrived := make(chan struct{}, 1)
	f := newFake(t, hangUntilGone(t, arrived))
	return f, arrived
}

// hangUntilGone is a handler that never answers; see hangingFake.
func hangUntilGone(t *testing.T, arrived chan<- struct{}) http.HandlerFunc {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestSentWhenTheAnswerTimesOut(t *testing.T) {
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			f, arrived := hangingFake(t)
			o := testOptions(f.URL)
			o.Timeout = 200 * time.Millisecond
			c := newTestClient(t, o)
			e := checkTransportError(t, callEndpoint(t.Context(), t, c, endpoint), true)
			<-arrived
			if !errors.Is(e, context.DeadlineExceeded) || !strings.Contains(e.Error(), "no answer within 200ms") {
				t.Errorf("error %q is not a timeout", e)
			}
		})
	}
}

func TestSentWhenCancelledAfterTheServerGotTheRequest(t *testing.T) {
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			f, arrived := hangingFake(t)
			c := newTestClient(t, testOptions(f.URL))
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				<-arrived
				cancel()
			}()
			e := checkTransportError(t, callEndpoint(ctx, t, c, endpoint), true)
			if !errors.Is(e, context.Canceled) {
				t.Errorf("error %q is not context.Canceled", e)
			}
		})
	}
}

// rawServer is a TCP listener that reads each request whole, reports it on
// got, and closes the connection without answering, with an RST if reset.
func rawServer(t *testing.T, reset bool) (string, <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
				_, _ = io.Copy(io.Discard, req.Body)
				got <- req.Method + " " + req.URL.Path
			}
			if tcp, ok := conn.(*net.TCPConn); ok && reset {
				_ = tcp.SetLinger(0)
			}
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	return "http://" + l.Addr().String(), got
}

func TestSentWhenTheConnectionDropsAfterTheRequest(t *testing.T) {
	for _, reset := range []bool{false, true} {
		for _, endpoint := range allEndpoints() {
			name := map[bool]string{false: "close/", true: "reset/"}[reset] + endpoint
			t.Run(name, func(t *testing.T) {
				url, got := rawServer(t, reset)
				c := newTestClient(t, testOptions(url))
				checkTransportError(t, callEndpoint(t.Context(), t, c, endpoint), true)
				if n := len(got); n != 1 {
					t.Errorf("server read %d requests, want 1", n)
				}
			})
		}
	}
}
