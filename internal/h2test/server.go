// Package h2test is test support, not production code: a hostile HTTP/2
// server over TLS on loopback, standing in for an intermediary (CDN, load
// balancer, proxy) in front of an HTTP API.
//
// The server speaks real HTTP/2 with the framing of golang.org/x/net/http2:
// it negotiates "h2" through ALPN (and nothing else), reads the client
// preface and SETTINGS and acknowledges them, and reads each request WHOLE
// (HEADERS and CONTINUATION, then DATA up to END_STREAM) before it records
// it and asks the caller's Decide function what to do with it: answer it
// through a backend http.Handler, reset its stream with a chosen error code,
// reset it and close the connection, reset it and stop accepting
// connections, or send a GOAWAY that disowns it. Every request that arrived
// whole is recorded and counted, whatever was done with it, so a test can
// tell how many times a client sent the same request.
//
// Its certificate is generated at start for 127.0.0.1 and ::1; see Cert.
package h2test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// ErrCode is an HTTP/2 error code, as sent in RST_STREAM and GOAWAY.
type ErrCode = http2.ErrCode

// The error codes a hostile intermediary typically sends.
const (
	NoError       ErrCode = http2.ErrCodeNo
	ProtocolError ErrCode = http2.ErrCodeProtocol
	InternalError ErrCode = http2.ErrCodeInternal
	RefusedStream ErrCode = http2.ErrCodeRefusedStream
	Cancel        ErrCode = http2.ErrCodeCancel
)

// Action is what the server does with a request it received whole.
type Action int

// The actions.
const (
	// Answer passes the request to Config.Backend and writes its answer.
	Answer Action = iota
	// Reset resets the request's stream with Decision.Code and keeps the
	// connection open.
	Reset
	// ResetAndClose resets the stream, then closes the connection.
	ResetAndClose
	// ResetAndRefuse closes the listener, resets the stream and closes the
	// connection: every later dial is refused.
	ResetAndRefuse
	// GoAway sends a GOAWAY with Decision.Code whose last stream ID is
	// below the request's, claiming that the request was not processed,
	// then closes the connection.
	GoAway
)

// String names the action.
func (a Action) String() string {
	switch a {
	case Answer:
		return "answer"
	case Reset:
		return "reset"
	case ResetAndClose:
		return "reset and close"
	case ResetAndRefuse:
		return "reset and refuse"
	case GoAway:
		return "goaway"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Decision is what to do with one request. The zero Decision answers it.
type Decision struct {
	Action Action
	// Code is the RST_STREAM or GOAWAY error code.
	Code ErrCode
}

// Request is a request the server received whole.
type Request struct {
	// Seq numbers the requests from 1 in the order they arrived whole.
	Seq int
	// Conn numbers the connections from 1 in the order they were accepted.
	Conn     int
	StreamID uint32
	Method   string
	// Path is the :path pseudo-header, with its query.
	Path      string
	Authority string
	Header    http.Header
	Body      []byte
	// Time is when the last frame of the request was read.
	Time time.Time
}

// Always returns a Decide function that decides d for every request.
func Always(d Decision) func(Request) Decision {
	return func(Request) Decision { return d }
}

// Sequence returns a Decide function that decides ds[n-1] for the n-th
// request, and the last of ds for every request after them.
func Sequence(ds ...Decision) func(Request) Decision {
	return func(r Request) Decision {
		switch {
		case len(ds) == 0:
			return Decision{}
		case r.Seq > len(ds):
			return ds[len(ds)-1]
		}
		return ds[r.Seq-1]
	}
}

// Config configures a Server.
type Config struct {
	// Addr is the loopback address to listen on; empty means 127.0.0.1:0.
	// Use [::1]:0 for IPv6.
	Addr string
	// Cert is the server's certificate; nil means a new one.
	Cert *Cert
	// Backend answers the requests decided Answer; nil answers 404. It runs
	// on its own goroutine, gets a request whose context ends when the
	// client resets the stream or the connection or Server ends, and must
	// return by then. Answers must fit in 64 KiB, the initial HTTP/2 flow
	// control window (the server does not wait for WINDOW_UPDATE).
	Backend http.Handler
	// Decide is called once per request received whole, on the
	// connection's goroutine; nil answers every request. A request that
	// arrives on a connection the server is closing (after ResetAndClose,
	// ResetAndRefuse or GoAway) is recorded and dropped without a call.
	Decide func(Request) Decision
}

// Server is a running hostile HTTP/2 server.
type Server struct {
	cert    *Cert
	backend http.Handler
	decide  func(Request) Decision
	ln      net.Listener
	url     string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stopLn sync.Once

	mu       sync.Mutex
	closed   bool
	conns    map[*conn]struct{}
	requests []Request

	received, answered, resets, goAways, accepted atomic.Int64
}

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Server, error) {
	cert := cfg.Cert
	if cert == nil {
		var err error
		if cert, err = NewCert(); err != nil {
			return nil, err
		}
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("h2test: listen: %w", err)
	}
	s := &Server{cert: cert, backend: cfg.Backend, decide: cfg.Decide, ln: ln,
		url: "https://" + ln.Addr().String(), conns: make(map[*conn]struct{})}
	if s.backend == nil {
		s.backend = http.NotFoundHandler()
	}
	if s.decide == nil {
		s.decide = Always(Decision{})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// serve accepts connections until the listener is closed.
func (s *Server) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{srv: s, nc: nc, n: int(s.accepted.Add(1))}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// StopAccepting closes the listener: later dials are refused. Connections
// already accepted stay open.
func (s *Server) StopAccepting() {
	s.stopLn.Do(func() { _ = s.ln.Close() })
}

// Close stops accepting, closes every connection, ends every backend
// request's context and waits for every goroutine the server started.
// It may be called more than once.
func (s *Server) Close() error {
	s.StopAccepting()
	s.cancel()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// record numbers r, keeps it and returns it.
func (s *Server) record(r Request) Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Seq = int(s.received.Add(1))
	s.requests = append(s.requests, r)
	return r
}

// URL is https://host:port of the server, an IP literal.
func (s *Server) URL() string { return s.url }

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Cert is the server's certificate.
func (s *Server) Cert() *Cert { return s.cert }

// Transport returns a new transport configured as a clone of
// http.DefaultTransport (HTTP/1.1 and HTTP/2 through ALPN) that trusts only
// the server's certificate.
func (s *Server) Transport() *http.Transport {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		t = &http.Transport{ForceAttemptHTTP2: true}
	}
	t = t.Clone()
	t.TLSClientConfig = s.cert.ClientConfig()
	return t
}

// Requests returns every request received whole so far, in order. Their
// Header and Body are shared: read them, do not modify them.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Received counts the requests received whole.
func (s *Server) Received() int64 { return s.received.Load() }

// Answered counts the requests passed to the backend.
func (s *Server) Answered() int64 { return s.answered.Load() }

// Resets counts the streams the server reset.
func (s *Server) Resets() int64 { return s.resets.Load() }

// GoAways counts the GOAWAY frames the server sent for requests.
func (s *Server) GoAways() int64 { return s.goAways.Load() }

// Conns counts the connections accepted.
func (s *Server) Conns() int64 { return s.accepted.Load() }
