package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

const (
	testAccount = "abcd****"
	testSecret  = "s3cr3t-api-secret"
	testTRX     = "trx-8f2c61d0c0ffee"
	// testHookPath stands for the secret part of a Slack webhook URL.
	testHookPath = "/services/T0000/B0000/XXXXwebhooksecret"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// receiver is a fake webhook receiver. answer picks the status of the n-th
// request (from 1); nil answers 200.
type receiver struct {
	srv      *httptest.Server
	requests atomic.Int64
	answer   func(n int64, r *http.Request) int

	mu     sync.Mutex
	bodies [][]byte
}

func newReceiver(t *testing.T, answer func(n int64, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	n := rc.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	code := http.StatusOK
	if rc.answer != nil {
		code = rc.answer(n, r)
	}
	if code >= 200 && code < 300 {
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		rc.mu.Unlock()
	}
	w.WriteHeader(code)
}

func (rc *receiver) url() string { return rc.srv.URL + testHookPath }

// delivered returns the bodies answered with a 2xx, decoded.
func (rc *receiver) delivered(t *testing.T) []map[string]any {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]map[string]any, 0, len(rc.bodies))
	for _, b := range rc.bodies {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("body %s: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

// fastBackoff retries at once, a few times.
func fastBackoff() retry.Backoff { return retry.WithMaxRetries(3, retry.NewConstant(time.Millisecond)) }

// running starts n.Run and returns a function that ends it and waits for it.
func running(t *testing.T, n *Notifier) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
}

// logs is an observed logger that signals each entry with a given message.
type logs struct {
	log      *zap.Logger
	observed *observer.ObservedLogs
	signal   chan string
}

func newLogs() *logs {
	core, observed := observer.New(zapcore.DebugLevel)
	l := &logs{observed: observed, signal: make(chan string, 4096)}
	l.log = zap.New(zapcore.RegisterHooks(core, func(e zapcore.Entry) error {
		select {
		case l.signal <- e.Message:
		default:
		}
		return nil
	}))
	return l
}

// wait waits for an entry with the message msg.
func (l *logs) wait(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-l.signal:
			if got == msg {
				return
			}
		case <-timeout:
			t.Fatalf("no %q logged", msg)
		}
	}
}

// deliver runs a JSON notifier against a healthy receiver, observes the
// events, stops it (which delivers everything queued) and returns the
// bodies received.
func deliver(t *testing.T, events ...watchdog.Event) []map[string]any {
	t.Helper()
	rc := newReceiver(t, nil)
	n := New(Options{URL: rc.url(), Account: testAccount, QueueSize: 1024, NewBackoff: fastBackoff})
	stop := running(t, n)
	for _, e := range events {
		n.Observe(e)
	}
	stop()
	return rc.delivered(t)
}

func names(bodies []map[string]any) []string {
	out := make([]string, len(bodies))
	for i, b := range bodies {
		out[i], _ = b["event"].(string)
	}
	return out
}

func decided(reason policy.Reason, autoReload bool) watchdog.Decided {
	action := policy.ActionBlocked
	switch reason {
	case policy.ReasonBalanceOK:
		action = policy.ActionNone
	case policy.ReasonBelowThreshold, policy.ReasonRefilling:
		action = policy.ActionTopUp
	}
	return watchdog.Decided{At: t0, Balance: dec("12.5"), AutoReload: autoReload,
		Decision:  policy.Decision{Action: action, Reason: reason, TopUps24h: 5},
		Threshold: dec("10"), Target: dec("20")}
}

func failed(n int, credentials bool) watchdog.CheckFailed {
	return watchdog.CheckFailed{At: t0, Consecutive: n, Attempts: 3, CredentialsRejected: credentials,
		Err: errors.New("vonage: get balance: authentication failed (HTTP 401): GET /account/get-balance?[redacted]")}
}

func finished(id string, outcome ledger.Outcome) watchdog.TopUpFinished {
	e := watchdog.TopUpFinished{At: t0, IntentID: id, Outcome: outcome, Attempts: 1,
		Duration: 250 * time.Millisecond, BalanceBefore: dec("4.2")}
	if outcome != ledger.Succeeded {
		e.Err = errors.New("vonage: top up: not auto-reload enabled (HTTP 401)")
	}
	return e
}

// redisDown is a RedisUnreachable as cmd reports it: its error redacted, on
// two lines.
func redisDown() watchdog.RedisUnreachable {
	return watchdog.RedisUnreachable{At: t0,
		Err: errors.New("ledger: redis: update: dial tcp redis.internal:6379: connect: connection refused\n(redis://:[redacted]@redis.internal:6379/0)")}
}
