package vonage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
	"time"
)

// TestSendTrackerFollowsTheTransportsAttempts checks the sticky rule, the
// same for every method: a new attempt (GetConn) never clears what an
// earlier one bound or wrote.
func TestSendTrackerFollowsTheTransportsAttempts(t *testing.T) {
	type hook func(*httptrace.ClientTrace)
	var (
		getConn      hook = func(tr *httptrace.ClientTrace) { tr.GetConn("vonage:443") }
		gotConn      hook = func(tr *httptrace.ClientTrace) { tr.GotConn(httptrace.GotConnInfo{Reused: true}) }
		wroteHeaders hook = func(tr *httptrace.ClientTrace) { tr.WroteHeaders() }
		wrote        hook = func(tr *httptrace.ClientTrace) { tr.WroteRequest(httptrace.WroteRequestInfo{}) }
		writeFailed  hook = func(tr *httptrace.ClientTrace) {
			tr.WroteRequest(httptrace.WroteRequestInfo{Err: errors.New("broken pipe")})
		}
	)
	dnsErr := &net.DNSError{Err: "no such host", Name: "vonage.invalid", IsNotFound: true}
	for _, tc := range []struct {
		name  string
		hooks []hook
		err   error
		want  bool
	}{
		{name: "refused", hooks: []hook{getConn}, want: false},
		{name: "refused twice", hooks: []hook{getConn, getConn}, want: false},
		{name: "connection bound", hooks: []hook{getConn, gotConn}, want: true},
		{name: "headers written", hooks: []hook{getConn, gotConn, wroteHeaders}, want: true},
		{name: "request written", hooks: []hook{getConn, gotConn, wroteHeaders, wrote}, want: true},
		{name: "write failed", hooks: []hook{getConn, gotConn, writeFailed}, want: true},
		{name: "re-sent after a failed write, then refused",
			hooks: []hook{getConn, gotConn, wroteHeaders, writeFailed, getConn}, want: true},
		{name: "re-sent after a whole write, then refused",
			hooks: []hook{getConn, gotConn, wroteHeaders, wrote, getConn}, want: true},
		{name: "bound, then refused", hooks: []hook{getConn, gotConn, getConn}, want: true},
		{name: "re-sent and written again",
			hooks: []hook{getConn, gotConn, writeFailed, getConn, gotConn, wrote}, want: true},
		{name: "HTTP/2 retry on the same connection", hooks: []hook{getConn, gotConn, wrote, gotConn}, want: true},
		{name: "traced, dial error", hooks: []hook{getConn},
			err: &net.OpError{Op: "dial", Err: errors.New("refused")}, want: false},
		{name: "traced, bound, dial error on the retry", hooks: []hook{getConn, gotConn, getConn},
			err: &net.OpError{Op: "dial", Err: errors.New("refused")}, want: true},
		{name: "no trace, unknown error", err: errors.New("boom"), want: true},
		{name: "no trace, timeout", err: context.DeadlineExceeded, want: true},
		{name: "no trace, DNS error", err: dnsErr, want: false},
		{name: "no trace, dial error", err: &net.OpError{Op: "dial", Err: errors.New("refused")}, want: false},
		{name: "no trace, read error", err: &net.OpError{Op: "read", Err: errors.New("reset")}, want: true},
		{name: "no trace, certificate error", err: x509.UnknownAuthorityError{}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tracker := &sendTracker{}
			trace := tracker.clientTrace()
			for _, h := range tc.hooks {
				h(trace)
			}
			err := tc.err
			if err == nil {
				err = errors.New("failed")
			}
			if got := tracker.mayHaveSent(err); got != tc.want {
				t.Errorf("mayHaveSent = %t, want %t", got, tc.want)
			}
		})
	}
}

// untracedTransport fails every request without calling any httptrace hook.
type untracedTransport struct{ err error }

func (u untracedTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, u.err }

func TestSentWithATransportThatDoesNotTrace(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{name: "unknown failure", err: errors.New("connection lost"), want: true},
		{name: "DNS failure", err: &net.DNSError{Err: "no such host", Name: "vonage.invalid"}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions("https://rest.nexmo.com")
			o.Transport = untracedTransport{err: tc.err}
			c := newTestClient(t, o)
			checkTransportError(t, c.TopUp(t.Context()), tc.want)
		})
	}
}

// retryingTransport plays a transport that bound a connection to the
// request, then started another attempt whose dial was refused: what
// net/http does after an HTTP/2 reset when the server then refuses
// connections.
type retryingTransport struct{}

func (retryingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	trace := httptrace.ContextClientTrace(req.Context())
	trace.GetConn("rest.nexmo.com:443")
	trace.GotConn(httptrace.GotConnInfo{})
	trace.WroteHeaders()
	trace.WroteRequest(httptrace.WroteRequestInfo{})
	trace.GetConn("rest.nexmo.com:443")
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
}

func TestSentSticksAcrossTheTransportsAttempts(t *testing.T) {
	o := testOptions("https://rest.nexmo.com")
	o.Transport = retryingTransport{}
	c := newTestClient(t, o)
	for _, endpoint := range allEndpoints() {
		t.Run(endpoint, func(t *testing.T) {
			checkTransportError(t, callEndpoint(t.Context(), t, c, endpoint), true)
		})
	}
}

// http2Fake starts a TLS server that speaks HTTP/2 and a transport that
// trusts it.
func http2Fake(t *testing.T, h http.HandlerFunc) (*httptest.Server, http.RoundTripper) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return srv, tr
}

func TestSentOverHTTP2(t *testing.T) {
	protos := make(chan int, 2)
	hang := hangUntilGone(t, make(chan struct{}, 1))
	srv, tr := http2Fake(t, func(w http.ResponseWriter, r *http.Request) {
		protos <- r.ProtoMajor
		if r.URL.Path == PathTopUp {
			hang(w, r)
			return
		}
		answerFor(EndpointGetBalance)(w, r)
	})
	o := testOptions(srv.URL)
	o.Transport = tr
	o.Timeout = 200 * time.Millisecond
	c := newTestClient(t, o)

	if _, err := c.GetBalance(t.Context()); err != nil {
		t.Fatalf("GetBalance over HTTP/2: %v", err)
	}
	checkTransportError(t, c.TopUp(t.Context()), true)
	for range 2 {
		if p := <-protos; p != 2 {
			t.Errorf("request went over HTTP/%d, want HTTP/2", p)
		}
	}
}
