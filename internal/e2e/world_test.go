package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// world is what one test runs the binary in: a simulated account and a
// notification receiver on loopback, the binary's configuration, every
// start of the binary (proc), and everything the binary wrote, for the
// secret sweep.
type world struct {
	t       *testing.T
	acct    *sim.Account
	vonage  *httptest.Server
	book    *logbook
	env     map[string]string
	metrics string // base URL of the binary's HTTP server
	procs   []*proc
	sweep   *secrettest.Sweep

	mu    sync.Mutex
	reads []read // balance answers the account gave
}

// read is a balance the account answered in full (200, a parsable body).
type read struct {
	at    time.Time
	value decimal.Decimal
}

// worldOptions are what a test changes from the defaults.
type worldOptions struct {
	account  sim.Config // credentials are filled in
	env      map[string]string
	stateDir string // default: a fresh temporary folder
	// processEveryTopUp has the account process every top-up it has read in
	// full, even when the client has gone away meanwhile, as a server that
	// does not watch its client would (see newWorld).
	processEveryTopUp bool
	// beforeTopUp, if set, is called as each top-up request arrives, before
	// the account reads it.
	beforeTopUp func()
}

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// newWorld starts the account and the receiver and prepares the binary's
// configuration: a check every second, query authentication and debug logs
// (the most revealing settings), metrics on a loopback port and
// notifications to the receiver.
func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	cfg := o.account
	cfg.APIKey, cfg.APISecret, cfg.TRX = testKey, testSecret, testTRX
	acct, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &world{t: t, acct: acct, book: newLogbook(), sweep: newSweep()}
	h := acct.Handler()
	if o.processEveryTopUp {
		h = detachTopUps(h)
	}
	if o.beforeTopUp != nil {
		h = beforeTopUps(h, o.beforeTopUp)
	}
	r.vonage = httptest.NewServer(r.recordReads(h))
	t.Cleanup(func() {
		r.vonage.CloseClientConnections()
		r.vonage.Close()
	})
	notifyURL := r.startReceiver()

	dir := o.stateDir
	if dir == "" {
		dir = t.TempDir()
	}
	port := freePort(t)
	r.metrics = "http://127.0.0.1:" + strconv.Itoa(port)
	r.env = map[string]string{
		"VONAGE_API_KEY":        testKey,
		"VONAGE_API_SECRET":     testSecret,
		"VONAGE_TOPUP_TRX":      testTRX,
		"VONAGE_BASE_URL":       r.vonage.URL,
		"VONAGE_AUTH":           "query",
		"TOPUP_THRESHOLD":       "10",
		"TOPUP_SCHEDULE":        "@every 1s",
		"TOPUP_WINDOW":          "5s",
		"TOPUP_REQUEST_TIMEOUT": "1s",
		"TOPUP_STATE_FILE":      filepath.Join(dir, "state.json"),
		"TOPUP_LISTEN_ADDR":     "127.0.0.1:" + strconv.Itoa(port),
		"TOPUP_LOG_LEVEL":       "debug",
		"TOPUP_NOTIFY_URL":      notifyURL,
	}
	for k, v := range o.env {
		r.env[k] = v
	}
	t.Cleanup(r.finish)
	return r
}

// stateFile is the ledger's path.
func (r *world) stateFile() string { return r.env["TOPUP_STATE_FILE"] }

// start starts the binary with the world's configuration plus extra.
func (r *world) start(extra map[string]string) *proc {
	r.t.Helper()
	env := make(map[string]string, len(r.env)+len(extra))
	for k, v := range r.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	p := startProc(r.t, r.book, len(r.procs)+1, env)
	r.procs = append(r.procs, p)
	return p
}

// ledger reads the state file, adds it to the sweep, and decodes it.
func (r *world) ledger() ledger.State {
	r.t.Helper()
	data, err := os.ReadFile(r.stateFile())
	if err != nil {
		r.t.Fatalf("read the ledger: %v", err)
	}
	r.sweep.Add("ledger "+r.stateFile(), data)
	s, err := ledger.Decode(data)
	if err != nil {
		r.t.Fatalf("decode the ledger: %v\n%s", err, data)
	}
	return s
}

// waitAccount waits until cond holds for the account's counts.
func (r *world) waitAccount(limit time.Duration, what string, cond func(sim.Stats) bool) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := r.acct.Wait(ctx, cond); err != nil {
		r.t.Fatalf("waited %s for the account to see %s (stats %+v): %v; last output:\n%s",
			limit, what, r.acct.Stats(), err, r.book.tail(30))
	}
}

// scrape reads the binary's /metrics into the sweep; it reports whether
// the server answered.
func (r *world) scrape() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.metrics+"/metrics", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	r.sweep.Add("metrics", body)
	return true
}

// waitScrape scrapes /metrics once the running binary's server listens.
func (r *world) waitScrape(p *proc) {
	r.t.Helper()
	r.book.waitLines(r.t, waitLimit, p.n, "http server listening", 1)
	if !r.scrape() {
		r.t.Fatalf("no answer from %s/metrics", r.metrics)
	}
}

// finish sweeps everything the binary wrote.
func (r *world) finish() {
	r.sweep.Add("stdout and stderr", []byte(r.book.text()))
	dir := filepath.Dir(r.stateFile())
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				r.sweep.Add("state folder "+e.Name(), data)
			}
		}
	}
	r.sweep.Check(r.t)
}

// startReceiver serves a notification webhook on loopback whose path holds
// a token; every body it gets goes to the sweep.
func (r *world) startReceiver() string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.sweep.Add("notification", body) // not its path: that holds the token
		w.WriteHeader(http.StatusNoContent)
	}))
	r.t.Cleanup(srv.Close)
	return srv.URL + "/hooks/" + notifyToken
}

// beforeTopUps calls hook as each top-up request arrives, then serves it.
func beforeTopUps(next http.Handler, hook func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == sim.PathTopUp {
			hook()
		}
		next.ServeHTTP(w, req)
	})
}

// recordReads records every balance the account answered in full, with the
// instant the answer was written.
func (r *world) recordReads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != sim.PathBalance {
			next.ServeHTTP(w, req)
			return
		}
		rw := &recordingWriter{ResponseWriter: w}
		next.ServeHTTP(rw, req) // a fault may panic with http.ErrAbortHandler: nothing to record
		if rw.status != http.StatusOK {
			return
		}
		var b struct {
			Value json.Number `json:"value"`
		}
		if json.Unmarshal(rw.body, &b) != nil {
			return // a malformed answer: the watchdog saw no balance either
		}
		v, err := decimal.NewFromString(b.Value.String())
		if err != nil {
			return
		}
		r.mu.Lock()
		r.reads = append(r.reads, read{at: rw.at, value: v})
		r.mu.Unlock()
	})
}

func (r *world) balanceReads() []read {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]read(nil), r.reads...)
}

// recordingWriter keeps the status and body of an answer. It passes
// Hijack through, so the account's connection resets stay TCP resets.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   []byte
	at     time.Time // before the answer left: no client can act on it earlier
}

func (w *recordingWriter) WriteHeader(status int) {
	if w.at.IsZero() {
		w.at = time.Now()
	}
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.body = append(w.body, p...)
	return w.ResponseWriter.Write(p)
}

func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("not hijackable")
	}
	return hj.Hijack()
}

// detachTopUps hands the account top-up requests whose context does not end
// when the client goes away. The simulated account treats a client that left
// before the request was processed as "not processed"; a process killed just
// after writing its request races with that check. A real server that has
// read the whole request may well apply it, and that is the case the
// after_send crash point is about, so the crash tests make it certain.
func detachTopUps(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == sim.PathTopUp {
			req = req.WithContext(context.WithoutCancel(req.Context()))
		}
		next.ServeHTTP(w, req)
	})
}

// freePort returns a loopback port that was free a moment ago and that no
// other world of this test run has taken, below the usual ephemeral range so
// that no outgoing connection takes it between two starts of the binary.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if portsTaken[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = ln.Close()
			portsTaken[port] = true
			return port
		}
	}
	t.Fatal("no free loopback port in 20000-31999")
	return 0
}

// portsTaken are the ports freePort has handed out: a world's binary binds its
// port only when it starts, and again at every restart.
var (
	portsMu    sync.Mutex
	portsTaken = map[int]bool{}
)

// decisions returns decision lines as "action/reason".
func decisions(lines []line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fmt.Sprintf("%s/%s", l.str("action"), l.str("reason"))
	}
	return out
}
