package h2test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// start starts a Server that closes when the test ends.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client is an http.Client on a fresh s.Transport, closed when the test
// ends (before s).
func client(t *testing.T, s *Server) *http.Client {
	tr := s.Transport()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// echo answers "METHOD /path?query body", with the protocol in X-Proto.
func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Proto", r.Proto)
	w.Header().Set("X-Big", r.Header.Get("X-Big"))
	w.WriteHeader(http.StatusTeapot)
	_, _ = fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), b)
}

// oneShot is a body http.NewRequest cannot rewind: no GetBody.
type oneShot struct{ io.Reader }

func post(t *testing.T, c *http.Client, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, oneShot{strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func TestAnswersThroughTheBackend(t *testing.T) {
	s := start(t, Config{Backend: http.HandlerFunc(echo)})
	c := client(t, s)
	big := strings.Repeat("x", 40000) // HEADERS + CONTINUATION both ways
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/top-up?a=1", strings.NewReader("trx=1"))
	req.Header.Set("X-Big", big)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || resp.ProtoMajor != 2 || string(body) != "POST /top-up?a=1 trx=1" {
		t.Errorf("answer: %s over HTTP/%d, body %q", resp.Status, resp.ProtoMajor, body)
	}
	if resp.Header.Get("X-Proto") != "HTTP/2.0" || resp.Header.Get("X-Big") != big {
		t.Errorf("answer headers: X-Proto %q, X-Big of %d bytes", resp.Header.Get("X-Proto"), len(resp.Header.Get("X-Big")))
	}
	reqs := s.Requests()
	if len(reqs) != 1 || s.Received() != 1 || s.Answered() != 1 || s.Resets() != 0 {
		t.Fatalf("recorded %d requests (%d received, %d answered, %d resets), want 1 answered",
			len(reqs), s.Received(), s.Answered(), s.Resets())
	}
	r := reqs[0]
	if r.Seq != 1 || r.Conn != 1 || r.Method != "POST" || r.Path != "/top-up?a=1" || string(r.Body) != "trx=1" ||
		r.Header.Get("X-Big") != big || r.Time.IsZero() || r.Authority != strings.TrimPrefix(s.URL(), "https://") {
		t.Errorf("recorded %+v", r)
	}
}

func TestLargeAnswerBodiesAreSplitIntoFrames(t *testing.T) {
	want := strings.Repeat("0123456789", 6000)
	s := start(t, Config{Backend: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, want)
	})})
	resp, err := client(t, s).Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != want || resp.ContentLength != int64(len(want)) {
		t.Errorf("got %d bytes (Content-Length %d), want %d", len(body), resp.ContentLength, len(want))
	}
}

func TestResetsTheStreamWithTheChosenCode(t *testing.T) {
	for _, code := range []ErrCode{ProtocolError, RefusedStream, InternalError} {
		for _, action := range []Action{Reset, ResetAndClose} {
			t.Run(action.String()+"/"+code.String(), func(t *testing.T) {
				s := start(t, Config{Backend: http.HandlerFunc(echo), Decide: Always(Decision{Action: action, Code: code})})
				_, err := post(t, client(t, s), s.URL()+"/", "once")
				if err == nil || !strings.Contains(err.Error(), code.String()) {
					t.Errorf("error %v does not name %s", err, code)
				}
				if s.Received() != 1 || s.Resets() != 1 || s.Answered() != 0 {
					t.Errorf("%d received, %d resets, %d answered; want 1, 1, 0", s.Received(), s.Resets(), s.Answered())
				}
			})
		}
	}
}

// TestServerMakesTheTransportResendARewindablePost shows the hazard the
// package exists for: given a body it can rewind (GetBody, which
// http.NewRequest sets for a strings.Reader), net/http sends a POST again
// when its stream is reset with PROTOCOL_ERROR, on a new connection each
// time. (The third reset also stops the server accepting, which ends the
// loop; otherwise it goes on until the request's context ends.)
func TestServerMakesTheTransportResendARewindablePost(t *testing.T) {
	rac := Decision{Action: ResetAndClose, Code: ProtocolError}
	s := start(t, Config{Decide: Sequence(rac, rac, Decision{Action: ResetAndRefuse, Code: ProtocolError})})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/", strings.NewReader("again"))
	if _, err := client(t, s).Do(req); err == nil {
		t.Fatal("want an error")
	}
	if n := s.Received(); n < 3 {
		t.Errorf("server received %d requests, want the transport to have re-sent it until refused", n)
	}
	t.Logf("a rewindable POST arrived %d times over %d connections", s.Received(), s.Conns())
}

func TestResetAndRefuseStopsAccepting(t *testing.T) {
	s := start(t, Config{Decide: Sequence(Decision{Action: ResetAndRefuse, Code: ProtocolError})})
	if _, err := post(t, client(t, s), s.URL()+"/", "once"); err == nil {
		t.Fatal("want an error")
	}
	if s.Received() != 1 || s.Resets() != 1 {
		t.Errorf("%d received, %d resets; want 1 and 1", s.Received(), s.Resets())
	}
	conn, err := net.Dial("tcp", s.Addr().String())
	if err == nil {
		_ = conn.Close()
		t.Fatal("dial succeeded after reset and refuse")
	}
	_, err = client(t, s).Get(s.URL() + "/")
	if !strings.Contains(fmt.Sprint(err), "connection refused") {
		t.Errorf("GET after reset and refuse: %v, want connection refused", err)
	}
}

func TestGoAwayDisownsTheRequest(t *testing.T) {
	s := start(t, Config{Backend: http.HandlerFunc(echo),
		Decide: Sequence(Decision{}, Decision{Action: GoAway, Code: NoError})})
	c := client(t, s)
	if resp, err := c.Get(s.URL() + "/first"); err != nil {
		t.Fatal(err)
	} else {
		_ = resp.Body.Close()
	}
	if _, err := post(t, c, s.URL()+"/second", "once"); err == nil {
		t.Fatal("want an error")
	}
	if s.Received() != 2 || s.GoAways() != 1 || s.Answered() != 1 {
		t.Errorf("%d received, %d goaways, %d answered; want 2, 1, 1", s.Received(), s.GoAways(), s.Answered())
	}
}

func TestRefusesClientsWithoutH2(t *testing.T) {
	s := start(t, Config{Backend: http.HandlerFunc(echo)})
	tr := s.Transport()
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	t.Cleanup(tr.CloseIdleConnections)
	if _, err := (&http.Client{Transport: tr}).Get(s.URL() + "/"); err == nil {
		t.Fatal("an HTTP/1.1 client got an answer")
	}
	if s.Received() != 0 {
		t.Errorf("received %d requests, want 0", s.Received())
	}
}

func TestServesIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	_ = ln.Close()
	s := start(t, Config{Addr: "[::1]:0", Backend: http.HandlerFunc(echo)})
	resp, err := client(t, s).Get(s.URL() + "/v6")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if !strings.HasPrefix(s.URL(), "https://[::1]:") || resp.ProtoMajor != 2 {
		t.Errorf("URL %s, HTTP/%d", s.URL(), resp.ProtoMajor)
	}
}

func TestCloseEndsBackendsAndConnections(t *testing.T) {
	entered := make(chan struct{})
	s, err := Start(Config{Backend: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, s)
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(s.URL() + "/hang")
		done <- err
	}()
	<-entered
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("the hanging request got an answer")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSequence(t *testing.T) {
	a, b := Decision{Action: Reset, Code: RefusedStream}, Decision{}
	d := Sequence(a, b)
	for seq, want := range map[int]Decision{1: a, 2: b, 3: b, 10: b} {
		if got := d(Request{Seq: seq}); got != want {
			t.Errorf("request %d: %+v, want %+v", seq, got, want)
		}
	}
	if got := Sequence()(Request{Seq: 1}); got != (Decision{}) {
		t.Errorf("empty sequence: %+v, want answer", got)
	}
	if Always(a)(Request{Seq: 7}) != a {
		t.Error("Always does not repeat its decision")
	}
}

func TestABackendThatAbortsGetsItsStreamReset(t *testing.T) {
	s := start(t, Config{Backend: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })})
	c := client(t, s)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/account/get-balance", nil)
	resp, err := c.Do(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("an aborted answer arrived: %s", resp.Status)
	}
	if !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Errorf("error %q, want a stream reset with INTERNAL_ERROR", err)
	}
}
