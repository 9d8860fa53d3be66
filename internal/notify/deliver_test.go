package notify

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

func TestSlackBodyIsOneTextLine(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	rc := newReceiver(t, nil)
	n := New(Options{URL: rc.url(), Format: FormatSlack, Account: testAccount, NewBackoff: fastBackoff})
	stop := running(t, n)
	n.Observe(decided(policy.ReasonBelowThreshold, true))
	n.Observe(finished("intent-1", ledger.Succeeded))
	stop()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bodies) != 1 {
		t.Fatalf("%d bodies, want 1", len(rc.bodies))
	}
	var body map[string]string
	if err := json.Unmarshal(rc.bodies[0], &body); err != nil || len(body) != 1 {
		t.Fatalf("slack body %s: want only a text field (err %v)", rc.bodies[0], err)
	}
	text := body["text"]
	for _, fact := range []string{testAccount, "top-up sent", "balance 12.50 EUR", "intent id intent-1",
		"outcome succeeded", "balance before 4.20", "(topup, 2025-03-01T12:00:00Z)"} {
		if !strings.Contains(text, fact) {
			t.Errorf("slack text %q lacks %q", text, fact)
		}
	}
	if strings.Contains(text, "\n") {
		t.Errorf("slack text %q is not one line", text)
	}
}

func TestSlackTextOfTheRedisEvents(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	rc := newReceiver(t, nil)
	n := New(Options{URL: rc.url(), Format: FormatSlack, Account: testAccount, NewBackoff: fastBackoff})
	stop := running(t, n)
	n.Observe(redisDown())
	n.Observe(watchdog.RedisReachable{At: t0.Add(time.Minute), Down: 90 * time.Second})
	stop()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bodies) != 2 {
		t.Fatalf("%d bodies, want 2", len(rc.bodies))
	}
	for i, facts := range [][]string{
		{testAccount, "the fleet's Redis is unreachable, no top-up is sent until it is back",
			"error ledger: redis: update: dial tcp redis.internal:6379: connect: connection refused (redis://:[redacted]@",
			"(redis_unreachable, 2025-03-01T12:00:00Z)"},
		{testAccount, "the fleet's Redis is reachable again", "down ms 90000", "(redis_reachable, 2025-03-01T12:01:00Z)"},
	} {
		var body map[string]string
		if err := json.Unmarshal(rc.bodies[i], &body); err != nil || len(body) != 1 {
			t.Fatalf("slack body %s: want only a text field (err %v)", rc.bodies[i], err)
		}
		text := body["text"]
		for _, fact := range facts {
			if !strings.Contains(text, fact) {
				t.Errorf("slack text %q lacks %q", text, fact)
			}
		}
		if strings.Contains(text, "\n") {
			t.Errorf("slack text %q is not one line", text)
		}
	}
}

func TestRetriesA503ThenDeliversOnce(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	rc := newReceiver(t, func(n int64, r *http.Request) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	l := newLogs()
	n := New(Options{URL: rc.url(), Account: testAccount, Log: l.log, NewBackoff: fastBackoff})
	stop := running(t, n)
	n.Observe(finished("intent-1", ledger.Succeeded))
	l.wait(t, "notification sent")
	stop()

	if got := rc.requests.Load(); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
	expectNames(t, rc.delivered(t), EventTopUp)
	if got := l.observed.FilterMessage("notification failed").Len(); got != 0 {
		t.Errorf("%d failures logged, want 0", got)
	}
}

func TestA4xxIsNotRetried(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	rc := newReceiver(t, func(int64, *http.Request) int { return http.StatusNotFound })
	l := newLogs()
	n := New(Options{URL: rc.url(), Account: testAccount, Log: l.log, NewBackoff: fastBackoff})
	stop := running(t, n)
	n.Observe(finished("intent-1", ledger.Succeeded))
	l.wait(t, "notification failed")
	stop()

	if got := rc.requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	entry := l.observed.FilterMessage("notification failed").All()[0]
	if got := entry.ContextMap()["error"]; got != "webhook answered HTTP 404" {
		t.Errorf("logged error %q", got)
	}
}

func TestAReceiverThatIsDownOnlyLogsAWarning(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + testHookPath
	_ = ln.Close()

	l := newLogs()
	n := New(Options{URL: url, Account: testAccount, Log: l.log, NewBackoff: fastBackoff})
	stop := running(t, n)
	n.Observe(finished("intent-1", ledger.Succeeded))
	l.wait(t, "notification failed")
	n.Observe(finished("intent-2", ledger.Succeeded))
	l.wait(t, "notification failed")
	stop()

	for _, e := range l.observed.FilterMessage("notification failed").All() {
		if e.Level != zap.WarnLevel {
			t.Errorf("logged at %s, want warn", e.Level)
		}
		fields := e.ContextMap()
		if fields["event"] != EventTopUp || fields["attempts"] != int64(4) {
			t.Errorf("logged fields %v", fields)
		}
		msg := fmt.Sprint(fields["error"])
		if !strings.Contains(msg, "refused") || strings.Contains(msg, "XXXX") || strings.Contains(msg, "http://") {
			t.Errorf("logged error %q: want the cause without the URL", msg)
		}
	}
}

func TestAHangingReceiverDoesNotBlockObserve(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	rc := newReceiver(t, func(int64, *http.Request) int {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		return http.StatusOK
	})
	l := newLogs()
	n := New(Options{URL: rc.url(), Account: testAccount, Log: l.log, QueueSize: 8, NewBackoff: fastBackoff})
	stop := running(t, n)
	n.Observe(finished("first", ledger.Succeeded))
	<-arrived // the receiver now holds the first delivery

	observed := make(chan struct{})
	go func() {
		defer close(observed)
		for i := range 1000 {
			n.Observe(finished(fmt.Sprint("intent-", i), ledger.Succeeded))
		}
	}()
	select {
	case <-observed:
	case <-time.After(10 * time.Second):
		t.Fatal("Observe blocked behind a hanging receiver")
	}
	if got, want := n.Dropped(), uint64(1000-8); got != want {
		t.Errorf("dropped %d, want %d", got, want)
	}
	entries := l.observed.FilterMessage("notification dropped").All()
	if len(entries) == 0 || entries[len(entries)-1].ContextMap()["dropped"] != uint64(992) {
		t.Errorf("drops logged: %d entries, want the last with dropped=992", len(entries))
	}
	close(release)
	stop()

	got := names(rc.delivered(t))
	if len(got) != 9 {
		t.Errorf("%d delivered, want the one in flight and the 8 newest", len(got))
	}
	bodies := rc.delivered(t)
	if id := bodies[len(bodies)-1]["intent_id"]; id != "intent-999" {
		t.Errorf("last delivered %v, want the newest, intent-999", id)
	}
}

func TestShutdownGivesUpOnAHangingReceiver(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(int64, *http.Request) int {
		<-release
		return http.StatusOK
	})
	l := newLogs()
	n := New(Options{URL: rc.url(), Account: testAccount, Log: l.log,
		DrainTimeout: 50 * time.Millisecond, NewBackoff: fastBackoff})
	stop := running(t, n)
	n.Observe(finished("intent-1", ledger.Succeeded))
	n.Observe(finished("intent-2", ledger.Succeeded))
	stop()
	entries := l.observed.FilterMessage("notifications not delivered at shutdown").All()
	if len(entries) != 1 || entries[0].ContextMap()["count"] != int64(2) {
		t.Errorf("want one log of 2 notifications not delivered, got %v", entries)
	}
}

func TestOffWhenTheURLIsEmpty(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the receivers close
	n := New(Options{})
	n.Observe(finished("intent-1", ledger.Succeeded))
	stop := running(t, n)
	stop()
}

func BenchmarkObserve(b *testing.B) {
	b.Run("steady check", func(b *testing.B) {
		n := New(Options{URL: "http://127.0.0.1:1/hook", Account: testAccount})
		e := decided(policy.ReasonBalanceOK, true)
		b.ReportAllocs()
		for b.Loop() {
			n.Observe(e)
		}
	})
	b.Run("topup, queue full", func(b *testing.B) {
		n := New(Options{URL: "http://127.0.0.1:1/hook", Account: testAccount})
		e := finished("intent-1", ledger.Succeeded)
		b.ReportAllocs()
		for b.Loop() {
			n.Observe(e)
		}
	})
}

var _ watchdog.Observer = New(Options{})
