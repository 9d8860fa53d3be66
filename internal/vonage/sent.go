package vonage

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http/httptrace"
	"sync"
)

// sendTracker follows one call through net/http/httptrace to tell whether
// any byte of the request may have been written to a connection.
//
// The transport calls GetConn at the start of every attempt and GotConn once
// a connection is bound to the request, always before the first byte of the
// request is written (HTTP/1 and HTTP/2 alike), and synchronously, so that
// after RoundTrip returns no later write can belong to an attempt that never
// got its connection. Binding is the point of no return: from then on a
// cancellation can race with the transport's writer, so the request counts as
// possibly sent even before WroteHeaders or WroteRequest fire.
//
// The rule is sticky, for every method: once any connection was bound to the
// request, or wrote any of it, the request stays possibly sent, whatever
// later attempts of the same call do. A new GetConn (the transport trying
// again, on a connection that is then refused, say) never proves that an
// earlier attempt sent nothing. Go's HTTP/2 transport re-sends a request
// whose stream the server reset with REFUSED_STREAM or PROTOCOL_ERROR, or
// that a GOAWAY disowned, after the server had received it whole
// (http2shouldRetryRequest and http2canRetryError in net/http's
// h2_bundle.go), and any intermediary in front of Vonage may send such
// frames. Its HTTP/1 path also retries on a new connection (a GET, or a
// request it believes it wrote nothing of and can rewind). The client keeps
// the top-up from being re-sent at all (see oneShotBody); this rule keeps
// Error.Sent true for it whatever a transport does, and is what makes a
// re-sent GET (harmless) count as sent.
type sendTracker struct {
	mu sync.Mutex
	// traced is set once any hook fired: the RoundTripper honours httptrace.
	traced bool
	// bound is set once any attempt got a connection or wrote; never
	// cleared.
	bound bool
}

// clientTrace returns the hooks that feed t.
func (t *sendTracker) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn:      func(string) { t.newAttempt() },
		GotConn:      func(httptrace.GotConnInfo) { t.markBound() },
		WroteHeaders: t.markBound,
		WroteRequest: func(httptrace.WroteRequestInfo) { t.markBound() },
	}
}

// newAttempt notes that the transport starts an attempt. It keeps what
// earlier attempts saw: see sendTracker.
func (t *sendTracker) newAttempt() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.traced = true
}

func (t *sendTracker) markBound() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.traced = true
	t.bound = true
}

// mayHaveSent reports whether a call that failed with err, without an
// answer, may have written any byte of its request. When the RoundTripper
// reported nothing through httptrace, only an error that cannot happen after
// a connection was made (DNS, dial, certificate) proves that nothing was sent.
func (t *sendTracker) mayHaveSent(err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bound {
		return true
	}
	if t.traced {
		return false
	}
	return !failedBeforeConnection(err)
}

// failedBeforeConnection reports errors that only happen before a
// connection exists: name resolution, dialing, certificate verification.
func failedBeforeConnection(err error) bool {
	var (
		dnsErr      *net.DNSError
		opErr       *net.OpError
		verifyErr   *tls.CertificateVerificationError
		authority   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &dnsErr), errors.As(err, &verifyErr),
		errors.As(err, &authority), errors.As(err, &hostname), errors.As(err, &invalidCert):
		return true
	case errors.As(err, &opErr):
		return opErr.Op == "dial"
	}
	return false
}
