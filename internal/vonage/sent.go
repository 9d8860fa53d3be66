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
// net/http re-sends a request that it may not replay (a POST without an
// Idempotency-Key header, which this package never sets) only when nothing of
// it was written (HTTP/1) or the server refused it unprocessed (HTTP/2
// REFUSED_STREAM or GOAWAY). So for such a request a new GetConn proves the
// previous attempt sent nothing, and clears what it saw; WroteRequest fires
// once per attempt. For a request the transport may replay (GET) nothing is
// ever cleared: once possibly sent, always possibly sent.
type sendTracker struct {
	// retryProvesUnsent is set for requests net/http never replays after a
	// write.
	retryProvesUnsent bool

	mu sync.Mutex
	// traced is set once any hook fired: the RoundTripper honours httptrace.
	traced bool
	// bound is set once the current attempt got a connection or wrote.
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

func (t *sendTracker) newAttempt() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.traced = true
	if t.retryProvesUnsent {
		t.bound = false
	}
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
