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

	"go.uber.org/goleak"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
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
