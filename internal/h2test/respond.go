package h2test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// maxFrame is the largest frame payload the server writes: the HTTP/2
// default SETTINGS_MAX_FRAME_SIZE, which every client accepts.
const maxFrame = 16384

// startBackend passes r to the backend on its own goroutine, with a context
// that ends when the client resets the stream or the connection ends.
func (c *conn) startBackend(ctx context.Context, r Request) {
	rctx, cancel := context.WithCancel(ctx)
	c.cancels[r.StreamID] = cancel
	c.backends.Add(1)
	go func() {
		defer c.backends.Done()
		defer cancel()
		status, header, body, aborted := c.callBackend(rctx, r)
		if aborted { // as net/http's own HTTP/2 server does
			c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(r.StreamID, http2.ErrCodeInternal) })
			return
		}
		c.write(func(fr *http2.Framer) error { return c.writeAnswer(fr, r.StreamID, status, header, body) })
	}()
}

// callBackend runs the backend on r through a ResponseRecorder. A backend
// that panics with http.ErrAbortHandler, as a handler does to abort its
// answer, gets the stream reset instead of an answer (aborted).
func (c *conn) callBackend(ctx context.Context, r Request) (status int, header http.Header, body []byte, aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	u, err := url.ParseRequestURI(r.Path)
	if err != nil {
		return http.StatusBadRequest, http.Header{}, nil, false
	}
	req := (&http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        r.Header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(r.Body)),
		ContentLength: int64(len(r.Body)),
		Host:          r.Authority,
		RemoteAddr:    c.nc.RemoteAddr().String(),
		RequestURI:    r.Path,
		TLS:           &c.state,
	}).WithContext(ctx)
	rec := httptest.NewRecorder()
	c.srv.backend.ServeHTTP(rec, req)
	res := rec.Result()
	return res.StatusCode, res.Header, rec.Body.Bytes(), false
}

// writeAnswer writes the HEADERS (and CONTINUATION) and DATA frames of an
// answer. It runs under the write lock, which also keeps the HPACK
// encoder's state in the order the header blocks are written.
func (c *conn) writeAnswer(fr *http2.Framer, id uint32, status int, header http.Header, body []byte) error {
	c.encBuf.Reset()
	fields := []hpack.HeaderField{
		{Name: ":status", Value: strconv.Itoa(status)},
		{Name: "content-length", Value: strconv.Itoa(len(body))},
	}
	for k, vs := range lowerHeader(header) {
		for _, v := range vs {
			fields = append(fields, hpack.HeaderField{Name: k, Value: v})
		}
	}
	for _, hf := range fields {
		if err := c.enc.WriteField(hf); err != nil {
			return err
		}
	}
	if err := writeHeaderBlock(fr, id, c.encBuf.Bytes(), len(body) == 0); err != nil {
		return err
	}
	for len(body) > 0 {
		n := min(len(body), maxFrame)
		if err := fr.WriteData(id, n == len(body), body[:n]); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

// writeHeaderBlock writes block as a HEADERS frame followed by as many
// CONTINUATION frames as it needs.
func writeHeaderBlock(fr *http2.Framer, id uint32, block []byte, endStream bool) error {
	first := block[:min(len(block), maxFrame)]
	rest := block[len(first):]
	err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first,
		EndStream: endStream, EndHeaders: len(rest) == 0})
	for err == nil && len(rest) > 0 {
		chunk := rest[:min(len(rest), maxFrame)]
		rest = rest[len(chunk):]
		err = fr.WriteContinuation(id, len(rest) == 0, chunk)
	}
	return err
}
