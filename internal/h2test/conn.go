package h2test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// How long the server waits for a TLS handshake and the client preface, and
// for the client to go away once the server closed its side.
const (
	handshakeTimeout = 5 * time.Second
	drainTimeout     = 2 * time.Second
)

// conn is one accepted connection. Its serve goroutine reads every frame;
// writes go through write, which backend goroutines share.
type conn struct {
	srv *Server
	nc  net.Conn
	n   int

	tc    *tls.Conn
	state tls.ConnectionState
	fr    *http2.Framer
	// streams are the requests still being read, by stream ID.
	streams map[uint32]*stream
	// cancels end the contexts of the requests passed to the backend.
	cancels map[uint32]context.CancelFunc
	// closing is set once the server decided to close: from then on
	// requests are still recorded but nothing more is written.
	closing bool

	wmu      sync.Mutex
	wclosed  bool
	enc      *hpack.Encoder
	encBuf   bytes.Buffer
	backends sync.WaitGroup
}

// stream is a request being read.
type stream struct {
	req  Request
	body bytes.Buffer
}

// serve runs the connection until it fails or is closed.
func (c *conn) serve() {
	ctx, cancel := context.WithCancel(c.srv.ctx)
	defer func() {
		cancel()
		_ = c.nc.Close()
		c.backends.Wait()
	}()
	if err := c.start(ctx); err != nil {
		return
	}
	c.streams = make(map[uint32]*stream)
	c.cancels = make(map[uint32]context.CancelFunc)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) && !c.closing {
				c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(se.StreamID, se.Code) })
				continue
			}
			return
		}
		if !c.handle(ctx, f) {
			return
		}
	}
}

// start does the TLS handshake, insists on "h2", reads the client preface
// and sends the server's SETTINGS.
func (c *conn) start(ctx context.Context) error {
	c.tc = tls.Server(c.nc, c.srv.cert.serverConfig())
	_ = c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := c.tc.HandshakeContext(hctx); err != nil {
		return err
	}
	c.state = c.tc.ConnectionState()
	if c.state.NegotiatedProtocol != "h2" {
		return errors.New("h2test: client did not negotiate h2")
	}
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c.tc, preface); err != nil {
		return err
	}
	if string(preface) != http2.ClientPreface {
		return errors.New("h2test: bad client preface")
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.fr = http2.NewFramer(c.tc, c.tc)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.encBuf)
	return c.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
}

// handle acts on one frame; false ends the connection.
func (c *conn) handle(ctx context.Context, f http2.Frame) bool {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			c.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			c.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
		}
	case *http2.MetaHeadersFrame:
		c.headers(ctx, f)
	case *http2.DataFrame:
		c.data(ctx, f)
	case *http2.RSTStreamFrame:
		delete(c.streams, f.StreamID)
		if stop, ok := c.cancels[f.StreamID]; ok {
			stop()
		}
	case *http2.GoAwayFrame:
		return false
	}
	return true
}

// headers starts a request, completing it when it has no body.
func (c *conn) headers(ctx context.Context, f *http2.MetaHeadersFrame) {
	if st, ok := c.streams[f.StreamID]; ok {
		// Trailers, which end the request.
		delete(c.streams, f.StreamID)
		c.complete(ctx, st)
		return
	}
	st := &stream{req: Request{Conn: c.n, StreamID: f.StreamID, Header: make(http.Header)}}
	for _, hf := range f.Fields {
		switch hf.Name {
		case ":method":
			st.req.Method = hf.Value
		case ":path":
			st.req.Path = hf.Value
		case ":authority":
			st.req.Authority = hf.Value
		case ":scheme":
		default:
			st.req.Header.Add(http.CanonicalHeaderKey(hf.Name), hf.Value)
		}
	}
	if st.req.Authority == "" {
		st.req.Authority = st.req.Header.Get("Host")
	}
	if f.StreamEnded() {
		c.complete(ctx, st)
		return
	}
	c.streams[f.StreamID] = st
}

// data adds a DATA frame to its request, returns the flow control credit
// and completes the request at END_STREAM.
func (c *conn) data(ctx context.Context, f *http2.DataFrame) {
	st, ok := c.streams[f.StreamID]
	if n := f.Header().Length; n > 0 {
		c.write(func(fr *http2.Framer) error {
			if ok && !f.StreamEnded() {
				if err := fr.WriteWindowUpdate(f.StreamID, n); err != nil {
					return err
				}
			}
			return fr.WriteWindowUpdate(0, n)
		})
	}
	if !ok {
		return
	}
	st.body.Write(f.Data())
	if f.StreamEnded() {
		delete(c.streams, f.StreamID)
		c.complete(ctx, st)
	}
}

// complete records a request received whole and carries out the decision.
func (c *conn) complete(ctx context.Context, st *stream) {
	st.req.Body = bytes.Clone(st.body.Bytes())
	st.req.Time = time.Now()
	r := c.srv.record(st.req)
	if c.closing {
		return
	}
	d := c.srv.decide(r)
	switch d.Action {
	case Answer:
		c.srv.answered.Add(1)
		c.startBackend(ctx, r)
	case Reset, ResetAndClose, ResetAndRefuse:
		if d.Action == ResetAndRefuse {
			c.srv.StopAccepting()
		}
		c.srv.resets.Add(1)
		c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(r.StreamID, d.Code) })
		if d.Action != Reset {
			c.closeGracefully()
		}
	case GoAway:
		c.srv.goAways.Add(1)
		last := uint32(0)
		if r.StreamID > 2 {
			last = r.StreamID - 2
		}
		c.write(func(fr *http2.Framer) error { return fr.WriteGoAway(last, d.Code, nil) })
		c.closeGracefully()
	}
}

// closeGracefully closes the server's side of the connection (TLS
// close_notify, then a TCP FIN) and lets the client close its own, so that
// it reads every frame already written rather than a TCP reset. The serve
// loop goes on reading, and recording, until the client goes away or the
// drain timeout passes.
func (c *conn) closeGracefully() {
	c.closing = true
	c.wmu.Lock()
	c.wclosed = true
	_ = c.tc.CloseWrite()
	c.wmu.Unlock()
	_ = c.nc.SetReadDeadline(time.Now().Add(drainTimeout))
}

// write runs fn with the framer under the write lock, unless the server's
// side is closed. A failed write closes the connection.
func (c *conn) write(fn func(*http2.Framer) error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return
	}
	if err := fn(c.fr); err != nil {
		c.wclosed = true
		_ = c.nc.Close()
	}
}

// hopByHop are the header fields HTTP/2 forbids.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "content-length": true,
}

// lowerHeader is h with lower-case names, without the fields HTTP/2 forbids
// (and Content-Length, which the writer sets).
func lowerHeader(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, vs := range h {
		if k = strings.ToLower(k); !hopByHop[k] {
			out[k] = vs
		}
	}
	return out
}
