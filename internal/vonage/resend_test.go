package vonage

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/h2test"
)

// hostileTimeout bounds one attempt against a hostile front: long enough
// for net/http to re-send a request dozens of times if it would.
const hostileTimeout = 3 * time.Second

// hostileH2 starts an h2test server in front of answerFor(endpoint) that
// decides with decide, and a Client that trusts it, speaking HTTP/1.1 and
// HTTP/2 like the default transport.
func hostileH2(t *testing.T, decide func(h2test.Request) h2test.Decision) (*h2test.Server, *Client) {
	t.Helper()
	s, err := h2test.Start(h2test.Config{Backend: http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == PathTopUp {
				answerFor(EndpointTopUp)(w, r)
				return
			}
			answerFor(EndpointGetBalance)(w, r)
		}), Decide: decide})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	o := testOptions(s.URL())
	o.Transport = s.Transport()
	o.Timeout = hostileTimeout
	return s, newTestClient(t, o)
}

// checkOneTopUp asserts that s received exactly one request, the top-up,
// whole and with its length.
func checkOneTopUp(t *testing.T, s *h2test.Server) {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server received %d top-ups over %d connections, want exactly 1", len(reqs), s.Conns())
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != PathTopUp || string(r.Body) != "trx="+testTRX {
		t.Errorf("server received %s %s %q, want the top-up", r.Method, r.Path, r.Body)
	}
	if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(r.Body)) {
		t.Errorf("Content-Length = %q, want %d", cl, len(r.Body))
	}
}

func TestTopUpIsSentOnceWhenTheHTTP2StreamIsReset(t *testing.T) {
	type tc struct {
		name     string
		decision h2test.Decision
	}
	var cases []tc
	for _, code := range []h2test.ErrCode{h2test.ProtocolError, h2test.RefusedStream, h2test.InternalError} {
		for _, action := range []h2test.Action{h2test.Reset, h2test.ResetAndClose, h2test.ResetAndRefuse} {
			cases = append(cases, tc{action.String() + " with " + code.String(), h2test.Decision{Action: action, Code: code}})
		}
	}
	cases = append(cases,
		tc{"goaway with NO_ERROR", h2test.Decision{Action: h2test.GoAway, Code: h2test.NoError}},
		tc{"goaway with PROTOCOL_ERROR", h2test.Decision{Action: h2test.GoAway, Code: h2test.ProtocolError}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, client := hostileH2(t, h2test.Always(c.decision))
			start := time.Now()
			e := checkTransportError(t, client.TopUp(t.Context()), true)
			checkOneTopUp(t, s)
			t.Logf("%d top-up over %d connections; %v", s.Received(), s.Conns(), e)
			if d := time.Since(start); d > hostileTimeout/2 {
				t.Errorf("TopUp took %s: the transport kept at it", d)
			}
		})
	}
}

func TestTopUpAnsweredOverTheHostileFrontSucceeds(t *testing.T) {
	s, c := hostileH2(t, nil)
	if err := c.TopUp(t.Context()); err != nil {
		t.Fatalf("TopUp over HTTP/2: %v", err)
	}
	checkOneTopUp(t, s)
}

func TestBalanceSurvivesARefusedStreamOverHTTP2(t *testing.T) {
	s, c := hostileH2(t, h2test.Sequence(
		h2test.Decision{Action: h2test.Reset, Code: h2test.RefusedStream}, h2test.Decision{}))
	b, err := c.GetBalance(t.Context())
	if err != nil {
		t.Fatalf("GetBalance after REFUSED_STREAM: %v", err)
	}
	if b.Value.String() != "10.171275" || !b.AutoReload {
		t.Errorf("balance = %+v", b)
	}
	if n := s.Received(); n != 2 || s.Answered() != 1 {
		t.Errorf("server received %d GETs and answered %d, want the transport's retry: 2 and 1", n, s.Answered())
	}
}

// h1DropServer serves HTTP/1.1 keep-alive on loopback: it answers every GET
// with the balance, and reads every POST whole, counts it and closes the
// connection without answering.
type h1DropServer struct {
	url   string
	posts atomic.Int64
	conns atomic.Int64
}

func startH1DropServer(t *testing.T) *h1DropServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &h1DropServer{url: "http://" + l.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			wg.Go(func() { s.serve(conn) })
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *h1DropServer) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if req.Method == http.MethodPost {
			s.posts.Add(1)
			return
		}
		resp := &http.Response{StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}}, ContentLength: int64(len(balanceJSON)),
			Body: io.NopCloser(strings.NewReader(balanceJSON))}
		if err := resp.Write(conn); err != nil {
			return
		}
	}
}

func TestTopUpIsSentOnceWhenAnHTTP1ConnectionDrops(t *testing.T) {
	for _, reused := range []bool{false, true} {
		t.Run(map[bool]string{false: "fresh connection", true: "reused connection"}[reused], func(t *testing.T) {
			s := startH1DropServer(t)
			o := testOptions(s.url)
			o.Timeout = hostileTimeout
			c := newTestClient(t, o)
			if reused {
				if _, err := c.GetBalance(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			checkTransportError(t, c.TopUp(t.Context()), true)
			if n := s.posts.Load(); n != 1 {
				t.Errorf("server read %d top-ups over %d connections, want exactly 1", n, s.conns.Load())
			}
		})
	}
}

func TestTopUpBodyCannotBeRewound(t *testing.T) {
	c := newTestClient(t, testOptions("https://rest.nexmo.com"))
	k := call{op: OpTopUp, endpoint: EndpointTopUp, method: http.MethodPost,
		url: c.topUpURL, path: PathTopUp, form: c.topUpBody}
	req, err := c.newRequest(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetBody != nil {
		t.Error("the top-up request has a GetBody: net/http may rewind and re-send it")
	}
	if want := int64(len("trx=" + testTRX)); req.ContentLength != want {
		t.Errorf("ContentLength = %d, want %d", req.ContentLength, want)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil || string(body) != "trx="+testTRX {
		t.Errorf("body = %q, %v", body, err)
	}
	if again, _ := io.ReadAll(req.Body); len(again) != 0 {
		t.Errorf("body read twice gave %q the second time", again)
	}
}

func TestTopUpOverHTTP1HasAContentLength(t *testing.T) {
	got := make(chan string, 1)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		got <- strconv.FormatInt(r.ContentLength, 10) + " " + strings.Join(r.TransferEncoding, ",")
		answerFor(EndpointTopUp)(w, r)
	})
	if err := newTestClient(t, testOptions(f.URL)).TopUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if g, want := <-got, strconv.Itoa(len("trx="+testTRX))+" "; g != want {
		t.Errorf("Content-Length and Transfer-Encoding = %q, want %q (no chunked encoding)", g, want)
	}
}

// A top-up is sent on a connection of its own, never on one an earlier call
// left idle, which the server may close just as it is reused: the top-up,
// which the transport cannot rewind, would then end as possibly sent.
func TestATopUpNeverRidesAnIdleConnection(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		endpoint := EndpointGetBalance
		if r.URL.Path == PathTopUp {
			endpoint = EndpointTopUp
		}
		answerFor(endpoint)(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newTestClient(t, testOptions(srv.URL))
	for range 2 {
		if _, err := c.GetBalance(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("two balance reads took %d connections, want 1 (kept alive)", n)
	}
	if err := c.TopUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("the top-up after two reads made %d connections in all, want 2: a new one of its own", n)
	}
}
