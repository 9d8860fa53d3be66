package h2test

import (
	"bytes"
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawClient is an HTTP/2 client made of a bare Framer, to send frames one
// by one.
type rawClient struct {
	t  *testing.T
	fr *http2.Framer
}

func dialRaw(t *testing.T, s *Server) *rawClient {
	t.Helper()
	cfg := s.Cert().ClientConfig()
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", s.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, fr: http2.NewFramer(conn, conn)}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// await reads frames until one satisfies ok, and returns it.
func (c *rawClient) await(what string, ok func(http2.Frame) bool) http2.Frame {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(f) {
			return f
		}
	}
}

// sync sends a PING and waits for its ack: the server has handled every
// frame sent before it.
func (c *rawClient) sync() {
	c.t.Helper()
	data := [8]byte{'s', 'y', 'n', 'c'}
	if err := c.fr.WritePing(false, data); err != nil {
		c.t.Fatal(err)
	}
	c.await("ping ack", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == data
	})
}

// headerBlock encodes a POST to path with a header of n bytes.
func headerBlock(path string, n int) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, hf := range []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "127.0.0.1"}, {Name: ":path", Value: path},
		{Name: "x-padding", Value: strings.Repeat("p", n)},
	} {
		_ = enc.WriteField(hf)
	}
	return buf.Bytes()
}

func TestRecordsARequestOnlyOnceItArrivedWhole(t *testing.T) {
	s := start(t, Config{Decide: Always(Decision{Action: Reset, Code: InternalError})})
	c := dialRaw(t, s)
	c.await("server settings", func(f http2.Frame) bool { _, ok := f.(*http2.SettingsFrame); return ok })
	block := headerBlock("/top-up", 300)
	// No other frame may come between HEADERS and its CONTINUATIONs, so
	// the first check is after the whole header block.
	steps := []func() error{
		func() error {
			err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:100]})
			if err == nil {
				err = c.fr.WriteContinuation(1, false, block[100:200])
			}
			if err == nil {
				err = c.fr.WriteContinuation(1, true, block[200:])
			}
			return err
		},
		func() error { return c.fr.WriteData(1, false, []byte("trx=")) },
		func() error { return c.fr.WriteData(1, false, nil) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		c.sync()
		if n := s.Received(); n != 0 {
			t.Fatalf("after frame %d of the request, %d requests recorded, want 0", i+1, n)
		}
	}
	if err := c.fr.WriteData(1, true, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	f := c.await("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
	if rst := f.(*http2.RSTStreamFrame); rst.StreamID != 1 || rst.ErrCode != InternalError {
		t.Errorf("reset stream %d with %s, want 1 with INTERNAL_ERROR", rst.StreamID, rst.ErrCode)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/top-up" || string(reqs[0].Body) != "trx=abc" ||
		len(reqs[0].Header.Get("X-Padding")) != 300 {
		t.Errorf("recorded %+v, want the POST /top-up with body trx=abc", reqs)
	}
}

func TestAcknowledgesSettingsAndReturnsFlowControlCredit(t *testing.T) {
	s := start(t, Config{})
	c := dialRaw(t, s)
	c.await("settings ack", func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
		BlockFragment: headerBlock("/", 0)}); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteData(1, true, []byte("12345")); err != nil {
		t.Fatal(err)
	}
	f := c.await("connection WINDOW_UPDATE", func(f http2.Frame) bool {
		w, ok := f.(*http2.WindowUpdateFrame)
		return ok && w.StreamID == 0
	})
	if w := f.(*http2.WindowUpdateFrame); w.Increment != 5 {
		t.Errorf("window update of %d, want 5", w.Increment)
	}
	c.await("404 answer", func(f http2.Frame) bool { h, ok := f.(*http2.HeadersFrame); return ok && h.StreamID == 1 })
}
