package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/goleak"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

const (
	interval       = 30 * time.Second
	requestTimeout = 10 * time.Second
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// running starts a Server on loopback and returns it with a function that
// stops it and checks that Run returned nil.
func running(t *testing.T, h *Health, metrics http.Handler) (*Server, func()) {
	t.Helper()
	s := New("127.0.0.1:0", h, metrics, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Listening():
	case <-time.After(5 * time.Second):
		t.Fatal("server did not listen")
	}
	if s.Addr() == "" {
		cancel()
		t.Fatalf("server failed to listen: %v", <-done)
	}
	return s, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}
}

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + s.Addr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func expect(t *testing.T, s *Server, path string, code int, body string) {
	t.Helper()
	gotCode, gotBody := get(t, s, path)
	if gotCode != code || gotBody != body+"\n" {
		t.Errorf("GET %s = %d %q, want %d %q", path, gotCode, gotBody, code, body+"\n")
	}
}

func decided() watchdog.Decided {
	return watchdog.Decided{At: t0, AutoReload: true,
		Decision: policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK}}
}

func failed(n int, credentials bool) watchdog.CheckFailed {
	return watchdog.CheckFailed{At: t0, Consecutive: n, CredentialsRejected: credentials,
		Err: errors.New("vonage: get balance: server error (HTTP 503)\nsecond line")}
}

func TestReadyzFollowsTheBalanceReads(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := NewHealth(interval, requestTimeout, nil)
	s, stop := running(t, h, nil)
	defer stop()

	expect(t, s, "/readyz", 503, "not ready: no balance read yet")
	h.Observe(failed(1, true))
	expect(t, s, "/readyz", 503, "not ready: vonage rejected the credentials")
	h.Observe(decided())
	expect(t, s, "/readyz", 200, "ready")
	h.Observe(failed(1, false))
	h.Observe(failed(2, false))
	expect(t, s, "/readyz", 200, "ready")
	h.Observe(failed(3, false))
	expect(t, s, "/readyz", 503,
		"not ready: 3 checks failed in a row: vonage: get balance: server error (HTTP 503) second line")
	h.Observe(failed(4, false))
	h.Observe(watchdog.LedgerFailed{At: t0, Err: errors.New("write ledger: disk full")})
	expect(t, s, "/readyz", 200, "ready")
}

func TestReadyzBeforeTheFirstReadSaysWhatFailed(t *testing.T) {
	h := NewHealth(interval, requestTimeout, nil)
	h.Observe(failed(1, false))
	ok, reason := h.Ready()
	want := "not ready: no balance read yet: vonage: get balance: server error (HTTP 503) second line"
	if ok || reason != want {
		t.Errorf("Ready() = %v %q, want false %q", ok, reason, want)
	}
}

// skipped is a tick another replica had, at, with the fleet's last reading
// taken at read; a zero read means none yet.
func skipped(at, read time.Time) watchdog.TickSkipped {
	e := watchdog.TickSkipped{At: at, Holder: "pod-b"}
	if !read.IsZero() {
		e.Last = &ledger.Reading{At: read, Balance: decimal.RequireFromString("12.5"), AutoReload: true, Replica: "pod-b"}
	}
	return e
}

func expectReady(t *testing.T, h *Health, ok bool, reason string) {
	t.Helper()
	if gotOK, gotReason := h.Ready(); gotOK != ok || gotReason != reason {
		t.Errorf("Ready() = %v %q, want %v %q", gotOK, gotReason, ok, reason)
	}
}

func TestReadyzFollowsTheFleetsReading(t *testing.T) {
	defer goleak.VerifyNone(t)
	// This pod's clock is a day off the fleet's: the reading's age is taken
	// between the event's two fleet-clock times, never on it.
	c := clocktest.New(t0.Add(24 * time.Hour))
	h := NewHealth(interval, requestTimeout, c.Now)
	s, stop := running(t, h, nil)
	defer stop()
	staleness := 3*interval + requestTimeout

	h.Observe(skipped(t0, time.Time{}))
	expect(t, s, "/readyz", 503, "not ready: no balance read by the fleet yet")
	h.Observe(skipped(t0.Add(staleness), t0))
	expect(t, s, "/readyz", 200, "ready")
	h.Observe(skipped(t0.Add(staleness+time.Second), t0))
	expect(t, s, "/readyz", 503, "not ready: the fleet's last balance reading is 1m41s old (allowed 1m40s)")
	h.Observe(skipped(t0.Add(2*time.Minute), t0.Add(time.Minute)))
	expect(t, s, "/readyz", 200, "ready")
	h.Observe(skipped(t0.Add(3*time.Minute), time.Time{})) // the fleet's reading is gone
	expect(t, s, "/readyz", 503, "not ready: no balance read by the fleet yet")
	h.Observe(decided())
	expect(t, s, "/readyz", 200, "ready")
}

func TestAStaleFleetReadingStaysNotReadyThroughAFailedCheck(t *testing.T) {
	h := NewHealth(interval, requestTimeout, nil)
	h.Observe(decided())
	h.Observe(skipped(t0.Add(5*time.Minute), t0))
	want := "not ready: the fleet's last balance reading is 5m0s old (allowed 1m40s)"
	expectReady(t, h, false, want)
	// This replica wins the next tick and fails once: still no read.
	h.Observe(watchdog.TickWon{At: t0.Add(6 * time.Minute)})
	h.Observe(watchdog.CheckFailed{At: t0.Add(6 * time.Minute), Consecutive: 1, Err: errors.New("vonage: get balance: timeout")})
	expectReady(t, h, false, want)
	h.Observe(skipped(t0.Add(7*time.Minute), t0.Add(7*time.Minute-time.Second)))
	expectReady(t, h, true, "ready")
}

// A reading the fleet took before this replica's failed check says nothing
// of the reads since: rejected credentials are not cleared by it.
func TestAFleetReadingOlderThanTheLastFailureIsNoRead(t *testing.T) {
	h := NewHealth(interval, requestTimeout, nil)
	h.Observe(decided())
	rejected := failed(1, true)
	rejected.At = t0.Add(30 * time.Second)
	h.Observe(rejected)
	h.Observe(skipped(t0.Add(time.Minute), t0))
	expectReady(t, h, false, "not ready: vonage rejected the credentials")
	h.Observe(skipped(t0.Add(90*time.Second), t0.Add(time.Minute)))
	expectReady(t, h, true, "ready")

	// Before the first read, the same holds for the failure's reason.
	h = NewHealth(interval, requestTimeout, nil)
	first := failed(1, false)
	first.At = t0.Add(30 * time.Second)
	h.Observe(first)
	h.Observe(skipped(t0.Add(time.Minute), t0))
	expectReady(t, h, false, "not ready: no balance read yet: vonage: get balance: server error (HTTP 503) second line")
}

func TestTicksWonOrFailedChangeNoReadiness(t *testing.T) {
	h := NewHealth(interval, requestTimeout, nil)
	h.Observe(watchdog.TickWon{At: t0})
	h.Observe(watchdog.TickFailed{At: t0, Err: errors.New("ledger: redis: tick: i/o timeout")})
	expectReady(t, h, false, "not ready: no balance read yet")
	h.Observe(decided())
	h.Observe(watchdog.TickFailed{At: t0, Err: errors.New("ledger: redis: tick: i/o timeout")})
	h.Observe(watchdog.TickWon{At: t0})
	h.Observe(watchdog.ClaimLost{At: t0})
	expectReady(t, h, true, "ready")
}

func TestReadyzWhileRedisIsUnreachable(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := NewHealth(interval, requestTimeout, nil)
	s, stop := running(t, h, nil)
	defer stop()

	// Errors arrive redacted; the reason adds nothing to the text but the
	// folding onto one line.
	down := watchdog.RedisUnreachable{At: t0,
		Err: errors.New("ledger: redis: view: dial tcp redis.internal:6379: connect: connection refused\n(redis://:[redacted]@redis.internal:6379/0)")}
	want := "not ready: redis unreachable: ledger: redis: view: dial tcp redis.internal:6379: connect: connection refused (redis://:[redacted]@redis.internal:6379/0)"
	h.Observe(decided())
	h.Observe(down)
	expect(t, s, "/readyz", 503, want)
	h.Observe(decided()) // reads go on while Redis is down
	h.Observe(skipped(t0, t0))
	expect(t, s, "/readyz", 503, want)
	h.Observe(failed(3, false))
	expect(t, s, "/readyz", 503, want)
	h.Observe(failed(4, true))
	expect(t, s, "/readyz", 503, "not ready: vonage rejected the credentials")
	h.Observe(decided())
	h.Observe(down) // a repeat changes nothing
	h.Observe(watchdog.RedisReachable{At: t0.Add(time.Minute), Down: time.Minute})
	expect(t, s, "/readyz", 200, "ready")

	h.Observe(watchdog.RedisUnreachable{At: t0})
	expect(t, s, "/readyz", 503, "not ready: redis unreachable")
	h.Observe(watchdog.RedisReachable{At: t0.Add(time.Minute), Down: time.Minute})
	h.Observe(failed(1, false))
	h.Observe(failed(2, false))
	h.Observe(failed(3, false))
	expect(t, s, "/readyz", 503,
		"not ready: 3 checks failed in a row: vonage: get balance: server error (HTTP 503) second line")
}

func TestHealthzFollowsTheScheduler(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := clocktest.New(t0)
	h := NewHealth(interval, requestTimeout, c.Now)
	s, stop := running(t, h, nil)
	defer stop()

	staleness := 3*interval + requestTimeout
	c.Advance(staleness)
	expect(t, s, "/healthz", 200, "alive")
	c.Advance(time.Second)
	expect(t, s, "/healthz", 503, "not alive: no check started for 1m41s (allowed 1m40s)")

	h.Observe(watchdog.CheckStarted{At: c.Now()})
	expect(t, s, "/healthz", 200, "alive")
	c.Advance(staleness + time.Second)
	expect(t, s, "/healthz", 503, "not alive: no check started for 1m41s (allowed 1m40s)")
}

func TestMetricsAndUnknownPaths(t *testing.T) {
	defer goleak.VerifyNone(t)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "topup_watchdog_balance_eur 1\n")
	})
	s, stop := running(t, NewHealth(interval, requestTimeout, nil), metrics)
	defer stop()

	if code, body := get(t, s, "/metrics"); code != 200 || !strings.Contains(body, "balance_eur") {
		t.Errorf("GET /metrics = %d %q", code, body)
	}
	if code, _ := get(t, s, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ = %d, want 404", code)
	}
}

func TestRunFailsOnABusyAddress(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	s := New(ln.Addr().String(), NewHealth(interval, requestTimeout, nil), nil, nil)
	if err := s.Run(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "listen on ") {
		t.Errorf("Run on a busy address = %v, want a listen error", err)
	}
}

func TestProbe(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := clocktest.New(t0)
	h := NewHealth(interval, requestTimeout, c.Now)
	s, stop := running(t, h, nil)
	defer stop()

	_, port, _ := net.SplitHostPort(s.Addr())
	for _, addr := range []string{s.Addr(), ":" + port, "0.0.0.0:" + port} {
		if err := Probe(context.Background(), addr); err != nil {
			t.Errorf("Probe(%q) while alive: %v", addr, err)
		}
	}
	c.Advance(time.Hour)
	err := Probe(context.Background(), s.Addr())
	if err == nil || !strings.Contains(err.Error(), "/healthz answered 503: not alive") {
		t.Errorf("Probe while not alive = %v, want the 503 and its reason", err)
	}
}

func TestProbeConnectionRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	if err := Probe(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Probe of a closed port = %v, want connection refused", err)
	}
	if err := Probe(context.Background(), "no-port"); err == nil {
		t.Error("Probe of a bad address returned nil")
	}
}

// A ledger that refuses every write (corrupt, a full disk, TOPUP_REDIS_MIN_REPLICAS
// unmet) lets no top-up out: after three such checks in a row the watchdog is
// not ready and says why; a check whose decision is recorded ends it.
func TestReadyzSaysWhenTheLedgerRefusesEveryWrite(t *testing.T) {
	h := NewHealth(interval, requestTimeout, nil)
	d := decided()
	d.Recorded = true
	h.Observe(d)
	for i := range FailedChecksNotReady {
		if ok, _ := h.Ready(); !ok {
			t.Fatalf("not ready after %d ledger failures, want ready until %d", i, FailedChecksNotReady)
		}
		h.Observe(decided()) // not recorded
		h.Observe(watchdog.LedgerFailed{At: t0, Err: errors.New("redis ledger: update: claim held by 0 of 1 redis replicas\nnot sent")})
	}
	ok, reason := h.Ready()
	want := "not ready: the ledger could not be written for 3 checks in a row, no top-up can be sent: redis ledger: update: claim held by 0 of 1 redis replicas not sent"
	if ok || reason != want {
		t.Errorf("Ready() = %v %q, want false %q", ok, reason, want)
	}
	h.Observe(d)
	if ok, reason := h.Ready(); !ok {
		t.Errorf("after a recorded decision: Ready() = false %q, want ready", reason)
	}
}
