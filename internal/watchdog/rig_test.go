package watchdog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/shopspring/decimal"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/logging"
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

// rig is the real client, the real file ledger and a watchdog, against a
// simulated account on loopback.
type rig struct {
	t        *testing.T
	clock    *clocktest.Clock
	acct     *sim.Account
	srv      *httptest.Server
	opts     rigOptions
	stateDir string
	logs     *syncBuffer
	led      *ledger.File
	w        *watchdog.Watchdog
	// topUpTimes are the wall-clock arrival times of top-up requests.
	mu         sync.Mutex
	topUpTimes []time.Time
}

type rigOptions struct {
	settings  policy.Settings
	dryRun    bool
	auth      vonage.Auth
	secret    string
	timeout   time.Duration
	transport http.RoundTripper
	handler   http.Handler // replaces the simulated account
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

func newRig(t *testing.T, acct sim.Config, edit ...func(*rigOptions)) *rig {
	t.Helper()
	r := &rig{t: t, clock: clocktest.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)),
		stateDir: t.TempDir(), logs: &syncBuffer{}}
	r.opts = rigOptions{
		settings: policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 15 * time.Minute, MaxPerDay: 5},
		auth:     vonage.AuthQuery, secret: apiSecret, timeout: 2 * time.Second,
	}
	for _, e := range edit {
		e(&r.opts)
	}
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
	r.srv = httptest.NewServer(r.recordTopUps(h))
	t.Cleanup(r.srv.Close)
	r.start()
	return r
}

// recordTopUps notes the wall-clock time of every top-up request.
func (r *rig) recordTopUps(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/account/top-up" {
			r.mu.Lock()
			r.topUpTimes = append(r.topUpTimes, time.Now())
			r.mu.Unlock()
		}
		next.ServeHTTP(w, req)
	})
}

// start opens the ledger and builds a watchdog over it, as a process does.
func (r *rig) start() {
	r.t.Helper()
	client, err := vonage.New(vonage.Options{
		BaseURL: r.srv.URL, APIKey: apiKey, APISecret: r.opts.secret, TRX: trx, Auth: r.opts.auth,
		Timeout: r.opts.timeout, UserAgent: "topup-watchdog/test", Transport: r.opts.transport,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.led, err = ledger.Open(filepath.Join(r.stateDir, "state.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = r.led.Close() })
	// No redaction here: the test proves the lines hold no secret by themselves.
	log := logging.New(r.logs, zapcore.DebugLevel, logging.FormatJSON, nil)
	r.w = watchdog.New(client, r.led, watchdog.Options{
		Settings: r.opts.settings, DryRun: r.opts.dryRun, Log: log, Now: r.clock.Now,
		ReadBackoff: fastBackoff, SendBackoff: fastBackoff,
	})
}

// restart closes the ledger and starts again on the same state file.
func (r *rig) restart() {
	r.t.Helper()
	if err := r.led.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.start()
}

func fastBackoff() retry.Backoff {
	return retry.WithMaxRetries(3, retry.NewConstant(time.Millisecond))
}

func (r *rig) check() { r.w.Check(context.Background()) }

// every checks n times, advancing the clock by d after each.
func (r *rig) every(d time.Duration, n int) {
	for range n {
		r.check()
		r.clock.Advance(d)
	}
}

// lines returns the log lines with message msg.
func (r *rig) lines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(r.logs.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			r.t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// decisions returns "action/reason" of every decision line.
func (r *rig) decisions() []string {
	var out []string
	for _, m := range r.lines("decision") {
		out = append(out, m["action"].(string)+"/"+m["reason"].(string))
	}
	return out
}

func (r *rig) topUpRequests() int { return r.acct.Stats().TopUpRequests }

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
