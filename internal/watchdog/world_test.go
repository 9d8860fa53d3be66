package watchdog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/shopspring/decimal"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/logging"
	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The account's credentials. Distinctive, so a leak is easy to find.
const (
	apiKey    = "abcd1234"
	apiSecret = "Sup3r-S3cret/+=value"
	trx       = "8ef2447e69604f642ae59363aa5f781b"
)

// world is a simulated account on loopback and the thing under test: the
// real client, the real file ledger and a watchdog over them. Everything it
// wrote (log lines, the state file, the events) is swept for the secrets
// when the test ends.
type world struct {
	t        *testing.T
	clock    *clocktest.Clock
	acct     *sim.Account
	srv      *httptest.Server
	opts     worldOptions
	stateDir string
	logs     *syncBuffer
	led      *ledger.File
	w        *watchdog.Watchdog
	newID    func() string // shared by every start, so ids never repeat
	sweep    *secrettest.Sweep
	swept    bool

	mu     sync.Mutex
	events []watchdog.Event
	waits  []time.Duration // the waits between attempts, with recordWaits
}

// worldOptions are what a test changes from the defaults.
type worldOptions struct {
	settings  policy.Settings
	amount    decimal.Decimal // Options.Amount; zero: unknown
	dryRun    bool
	auth      vonage.Auth
	secret    string
	timeout   time.Duration
	transport http.RoundTripper
	handler   http.Handler         // replaces the simulated account
	backoff   func() retry.Backoff // of reads and top-ups; nil: fastBackoff
	// recordWaits records the waits between attempts (world.waits) instead
	// of sleeping them.
	recordWaits bool
	infoLogs    bool // log at info, as in production, instead of debug
}

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// defaultAccount is an account at 50 EUR with auto-reload on, 50 EUR a top-up
// credited a minute after it is applied, and no drain.
func defaultAccount() sim.Config {
	return sim.Config{
		APIKey: apiKey, APISecret: apiSecret, TRX: trx,
		Balance: eur("50"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: time.Minute,
	}
}

func newWorld(t *testing.T, acct sim.Config, edit ...func(*worldOptions)) *world {
	t.Helper()
	r := &world{t: t, clock: clocktest.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)),
		stateDir: t.TempDir(), logs: &syncBuffer{}, newID: counter()}
	r.opts = worldOptions{
		settings: policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 15 * time.Minute, MaxPerDay: 5},
		auth:     vonage.AuthQuery, secret: apiSecret, timeout: 2 * time.Second, backoff: fastBackoff,
	}
	for _, e := range edit {
		e(&r.opts)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(apiKey + ":" + r.opts.secret))
	r.sweep = secrettest.New(apiSecret, trx, r.opts.secret, basic)
	t.Cleanup(r.checkSweep) // first registered, so it runs last: after the ledger is closed
	acct.Now = r.clock.Now
	a, err := sim.New(acct)
	if err != nil {
		t.Fatal(err)
	}
	r.acct = a
	h := r.opts.handler
	if h == nil {
		h = a.Handler()
	}
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	r.start()
	return r
}

func counter() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("intent-%d", n) }
}

// start opens the ledger and builds a watchdog over it, as a process does.
func (r *world) start() {
	r.t.Helper()
	client, err := vonage.New(vonage.Options{
		BaseURL: r.srv.URL, APIKey: apiKey, APISecret: r.opts.secret, TRX: trx, Auth: r.opts.auth,
		Timeout: r.opts.timeout, UserAgent: "topup-watchdog/test", Transport: r.opts.transport,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.led, err = ledger.Open(r.stateFile())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = r.led.Close() })
	level := zapcore.DebugLevel
	if r.opts.infoLogs {
		level = zapcore.InfoLevel
	}
	// No redaction here: the sweep proves the lines hold no secret by themselves.
	log := logging.New(r.logs, level, logging.FormatJSON, nil)
	o := watchdog.Options{
		Settings: r.opts.settings, DryRun: r.opts.dryRun, Amount: r.opts.amount, Log: log, Now: r.clock.Now,
		ReadBackoff: r.opts.backoff, SendBackoff: r.opts.backoff, NewID: r.newID,
		Observer: watchdog.ObserverFunc(func(e watchdog.Event) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, e)
		}),
	}
	if r.opts.recordWaits {
		o.Sleep = func(_ context.Context, d time.Duration) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.waits = append(r.waits, d)
			return nil
		}
	}
	r.w = watchdog.New(client, r.led, o)
}

// restart closes the ledger and starts again on the same state file.
func (r *world) restart() {
	r.t.Helper()
	if err := r.led.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.start()
}

func (r *world) stateFile() string { return filepath.Join(r.stateDir, "state.json") }

func fastBackoff() retry.Backoff {
	return retry.WithMaxRetries(3, retry.NewConstant(time.Millisecond))
}

func (r *world) check() { r.w.Check(context.Background()) }

// every checks n times, advancing the clock by d after each.
func (r *world) every(d time.Duration, n int) {
	for range n {
		r.check()
		r.clock.Advance(d)
	}
}

// lines returns the log lines with message msg.
func (r *world) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, m := range r.allLines() {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// allLines returns every log line.
func (r *world) allLines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(r.logs.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			r.t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// decisions returns "action/reason" of every decision line.
func (r *world) decisions() []string {
	var out []string
	for _, m := range r.lines("decision") {
		out = append(out, m["action"].(string)+"/"+m["reason"].(string))
	}
	return out
}

// lastDecision is "action/reason" of the newest decision line.
func (r *world) lastDecision() string {
	d := r.decisions()
	if len(d) == 0 {
		return ""
	}
	return d[len(d)-1]
}

func (r *world) topUpRequests() int { return r.acct.Stats().TopUpRequests }

// ledger returns what the state file holds.
func (r *world) ledger() ledger.State {
	r.t.Helper()
	s, err := r.led.View(context.Background())
	if err != nil {
		r.t.Fatalf("view the ledger: %v", err)
	}
	return s
}

// allEvents returns the events so far; recorded returns the waits.
func (r *world) allEvents() []watchdog.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]watchdog.Event(nil), r.events...)
}

func (r *world) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

func eventsOf[E watchdog.Event](events []watchdog.Event) []E {
	var out []E
	for _, e := range events {
		if x, ok := e.(E); ok {
			out = append(out, x)
		}
	}
	return out
}

// script queues faults for the next requests to ep.
func (r *world) script(ep sim.Endpoint, faults ...sim.Fault) {
	r.t.Helper()
	if err := r.acct.Script(ep, faults...); err != nil {
		r.t.Fatal(err)
	}
}

// checkSweep sweeps the log lines, the state file and the events for every
// form of every secret the world configured (internal/secrettest). It runs
// once, when the test ends or when the test calls it first.
func (r *world) checkSweep() {
	r.t.Helper()
	if r.swept {
		return
	}
	r.swept = true
	r.sweep.Add("logs", r.logs.Bytes())
	switch state, err := os.ReadFile(r.stateFile()); {
	case err == nil:
		r.sweep.Add("state file", state)
	case !errors.Is(err, fs.ErrNotExist):
		r.t.Errorf("read the state file: %v", err)
	}
	for i, e := range r.allEvents() {
		r.sweep.Add(fmt.Sprintf("event %d", i+1), fmt.Appendf(nil, "%+v", e))
	}
	r.sweep.Check(r.t)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes that can be read
// from an offset on, so that reading each check's new lines is not quadratic.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// From returns a copy of what was written from offset on.
func (b *syncBuffer) From(offset int) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()[offset:])
}

// Bytes returns a copy of everything written.
func (b *syncBuffer) Bytes() []byte { return b.From(0) }

// refuseDial makes the listed dials (counted from 1) go to a closed port, so
// the kernel refuses them; the others reach the server. Keep-alives are off
// so every request dials.
func refuseDial(t *testing.T, refused ...int) http.RoundTripper {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	var mu sync.Mutex
	n := 0
	d := &net.Dialer{}
	return &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			for _, r := range refused {
				if r == i {
					return d.DialContext(ctx, network, closed)
				}
			}
			return d.DialContext(ctx, network, addr)
		},
	}
}

// wantTopUps fails the test unless the account received n top-up requests.
func (r *world) wantTopUps(when string, n int) {
	r.t.Helper()
	if got := r.topUpRequests(); got != n {
		r.t.Fatalf("%s: the account received %d top-up requests, want %d; decisions %v", when, got, n, r.decisions())
	}
}

// wantDecisions fails the test unless the decisions so far are want.
func (r *world) wantDecisions(want ...string) {
	r.t.Helper()
	if got := r.decisions(); !slices.Equal(got, want) {
		r.t.Errorf("decisions\n%v\nwant\n%v", got, want)
	}
}

// times is n times s.
func times(n int, s string) []string { return slices.Repeat([]string{s}, n) }
