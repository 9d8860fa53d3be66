package watchdog

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/clocktest"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// Replicas on a real redis-server, wired as cmd/topup-watchdog/service.go
// wires them (Now is the Redis ledger's fleet clock), with Monotonic left
// nil: New must not derive it from the fleet's clock, which steps when it
// is first anchored. These tests came from an outside review of the fleet;
// each failed on the code before its fix. Fakes for Vonage: what they test
// is Redis's clock and claims, at Redis's pace (internal/e2e runs the fleet
// against the simulated account).

type prodReplica struct {
	led  *ledger.Redis
	w    *Watchdog
	logs *observer.ObservedLogs
	api  *fakeVonage
}

var fleetSettings = policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 30 * time.Second,
	MaxPerDay: 5, Flight: 30*time.Second/4 + 2*time.Second, Backoff: time.Second}

func newProdReplica(t *testing.T, srv *redistest.Server, api *fakeVonage, podNow func() time.Time) *prodReplica {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	led, err := ledger.OpenRedis(context.Background(), ledger.RedisOptions{
		URL: srv.URL(), Account: "abcd1234", Keep: policy.Day + fleetSettings.Window, Log: log,
		Now: podNow, Monotonic: SystemMonotonic,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = led.Close() })
	w := New(api, led, Options{Settings: fleetSettings, Amount: eur("50"), Log: log,
		Fleet: led, Now: led.Now, Replica: led.Replica()}) // Monotonic nil
	return &prodReplica{led: led, w: w, logs: logs, api: api}
}

// pause pauses every client of srv for d, from another connection.
func pause(t *testing.T, srv *redistest.Server, d time.Duration) {
	t.Helper()
	if err := srv.Client().Do(context.Background(), "CLIENT", "PAUSE", d.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatal(err)
	}
}

// A replica whose pod clock is an hour ahead starts while Redis does not
// answer (a restart, a partition at pod start): its fleet clock is the pod
// clock until a round trip anchors it. Its first check's tick times out,
// Redis answers again while it reads the balance, and its claim is decided
// on the pod clock: the other replica's applied, uncredited top-up looks an
// hour old, and it sends a second one.
func TestAReplicaThatStartsWhileRedisIsDownClaimsOnRedisTime(t *testing.T) {
	srv := redistest.Start(t)
	seedLedger(t, srv)
	api := &fakeVonage{balance: eur("5"), autoReload: true, amount: eur("50"), creditLater: true}
	a := newProdReplica(t, srv, api, nil)
	a.w.check(context.Background(), time.Second)
	if api.sent() != 1 {
		t.Fatalf("replica A sent %d top-ups, want 1", api.sent())
	}
	pause(t, srv, 5*time.Second) // ping (2s timeout) and tick (2s) fail, the update waits and succeeds
	c := newProdReplica(t, srv, api, func() time.Time { return time.Now().Add(time.Hour).Round(0) })
	c.w.check(context.Background(), time.Second)
	for _, e := range c.logs.All() {
		t.Logf("C: %s %v", e.Message, e.ContextMap())
	}
	if n := api.sent(); n != 1 {
		t.Errorf("%d top-ups sent for one need, while A's was applied and uncredited inside its window", n)
	}
}

// The same start with the pod clock 10 minutes ahead: when the first round
// trip anchors the fleet clock it steps back 10 minutes, and so does the
// monotonic clock New derived from it: the loop's wait for the next check
// grows by the 10 minutes and the replica stops checking.
func TestAnchoringTheFleetClockStallsNoCheck(t *testing.T) {
	srv := redistest.Start(t)
	api := &fakeVonage{balance: eur("50"), autoReload: true, amount: eur("50")}
	pause(t, srv, 3*time.Second)
	c := newProdReplica(t, srv, api, func() time.Time { return time.Now().Add(10 * time.Minute).Round(0) })
	var checks atomic.Int32
	c.w.opts.Observer = ObserverFunc(func(e Event) {
		if _, ok := e.(CheckStarted); ok {
			checks.Add(1)
		}
	})
	sched, _ := cron.ParseStandard("@every 1s")
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	_ = c.w.Run(ctx, sched, time.Second)
	t.Logf("checks started in 12s at @every 1s: %d", checks.Load())
	if checks.Load() < 6 {
		t.Errorf("only %d checks started in 12s at @every 1s: the loop waits out the clock's anchoring step", checks.Load())
	}
}

// pausingLedger pauses (sleeps) inside the first run of the next Update's
// fn, before fn runs, and calls during near the pause's end: a replica
// stopped (SIGSTOP, a long GC, a frozen VM) between the read of its
// optimistic transaction and its EXEC while another replica works.
type pausingLedger struct {
	Ledger
	pause  time.Duration
	during func()
	armed  bool
}

func (l *pausingLedger) Update(ctx context.Context, fn func(*ledger.State) error) error {
	return l.Ledger.Update(ctx, func(s *ledger.State) error {
		if l.armed {
			l.armed = false
			time.Sleep(l.pause - 3*time.Second)
			l.during()
			time.Sleep(time.Second)
		}
		return fn(s)
	})
}

// Replica A reads a low balance and is paused inside its claim's
// transaction for longer than the window; meanwhile B claims and sends. A's
// EXEC fails (B wrote), its fn runs again on the fresh ledger but with the
// time read before the pause: ClampAhead takes B's record for one dated
// ahead and moves it back to that stale time, and A writes it. B's window
// now ends a pause early, and the next check sends a second top-up 2s after
// B's.
func TestARetriedClaimReadsTheClockAgain(t *testing.T) {
	srv := redistest.Start(t)
	seedLedger(t, srv)
	settings := policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 8 * time.Second,
		MaxPerDay: 5, Flight: 4 * time.Second, Backoff: time.Second}
	api := &fakeVonage{balance: eur("5"), autoReload: true, amount: eur("50"), creditLater: true}
	mk := func() (*ledger.Redis, *observer.ObservedLogs) {
		core, logs := observer.New(zap.DebugLevel)
		led, err := ledger.OpenRedis(context.Background(), ledger.RedisOptions{URL: srv.URL(), Account: "abcd1234",
			Keep: policy.Day + settings.Window, Log: zap.New(core), Monotonic: SystemMonotonic})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = led.Close() })
		return led, logs
	}
	la, alogs := mk()
	lb, _ := mk()
	b := New(api, lb, Options{Settings: settings, Amount: eur("50"), Fleet: lb, Now: lb.Now, Replica: "B"})
	pl := &pausingLedger{Ledger: la, pause: 12 * time.Second, armed: true, during: func() { b.Check(context.Background()) }}
	a := New(api, pl, Options{Settings: settings, Amount: eur("50"), Fleet: la, Now: la.Now, Replica: "A"})
	_ = alogs
	a.Check(context.Background()) // paused inside; B sends its top-up meanwhile
	if api.sent() != 1 {
		t.Fatalf("after A's paused check: %d top-ups, want B's one", api.sent())
	}
	st, _ := lb.View(context.Background())
	for _, r := range st.TopUps {
		t.Logf("ledger after A: %s at %s finished %s outcome %s", r.ID, r.At.Format("15:04:05.000"), r.FinishedAt.Format("15:04:05.000"), r.Outcome)
	}
	time.Sleep(time.Second)
	b.Check(context.Background()) // 2s after B's top-up, well inside its 8s window
	if n := api.sent(); n != 1 {
		t.Errorf("%d top-ups sent for one need: B's was applied, uncredited, and sent 2s before the last check", n)
	}
}

// Rule 11 holds only for the replica that next wins the tick: a replica that
// saw the pending top-up but lost the tick keeps it in memory and writes it
// back only from an Update, which it makes only when it wins. After a
// FLUSHALL (or a restart without persistence, a failover), a replica that
// never saw it (a pod started since, e.g. rescheduled from the node that
// took Redis down) and asks first wins the tick and claims on the empty
// ledger.
func TestAfterAFlushAFreshReplicaDoesNotClaimFirst(t *testing.T) {
	srv := redistest.Start(t)
	seedLedger(t, srv)
	api := &fakeVonage{balance: eur("5"), autoReload: true, amount: eur("50"), creditLater: true}
	a := newProdReplica(t, srv, api, nil)
	b := newProdReplica(t, srv, api, nil)
	a.w.check(context.Background(), 2*time.Second) // wins the tick, sends
	b.w.check(context.Background(), 2*time.Second) // tick taken by A; B's Tick reads A's record
	if api.sent() != 1 {
		t.Fatalf("%d top-ups, want A's one", api.sent())
	}
	srv.FlushAll()
	c := newProdReplica(t, srv, api, nil)          // a new pod
	c.w.check(context.Background(), 2*time.Second) // re-creates the ledger: no claim in that transaction
	b.w.check(context.Background(), 2*time.Second) // B's tick writes back what it saw
	c.w.check(context.Background(), 2*time.Second)
	if n := api.sent(); n != 1 {
		t.Errorf("%d top-ups for one need: B remembered A's pending top-up across the flush but wrote it back only after C had claimed", n)
	}
	t.Logf("B's lines: %v", msgs(b.logs))
}

func msgs(l *observer.ObservedLogs) []string {
	var out []string
	for _, e := range l.All() {
		out = append(out, e.Message)
	}
	return out
}

// execCutter is a TCP proxy to Redis that, when armed, forwards the next
// EXEC to Redis, drops Redis's reply and closes the connection: Redis
// applied the transaction, the client never hears of it.
type execCutter struct {
	addr  string
	armed atomic.Bool
	cut   atomic.Int32
	// stall, when set, is called instead of cutting: the EXEC is then
	// forwarded as is.
	stall func()
}

func newExecCutter(t *testing.T, target string) *execCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &execCutter{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			var drop atomic.Bool
			go func() { // redis -> client
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 && !drop.Load() {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
			go func() { // client -> redis
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if p.stall != nil && bytes.Contains(bytes.ToLower(buf[:n]), []byte("$4\r\nexec\r\n")) && p.armed.CompareAndSwap(true, false) {
							p.stall()
							p.cut.Add(1)
						} else if bytes.Contains(bytes.ToLower(buf[:n]), []byte("$4\r\nexec\r\n")) && p.armed.CompareAndSwap(true, false) {
							drop.Store(true)
							s.Write(buf[:n])
							time.Sleep(100 * time.Millisecond)
							p.cut.Add(1)
							c.Close()
							s.Close()
							return
						}
						if _, werr := s.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						s.Close()
						return
					}
				}
			}()
		}
	}()
	return p
}

// The claim's EXEC is applied by Redis and its reply lost (a reset, a
// CLIENT KILL, a failover's disconnect). Update returns an error, so nothing
// is sent, which is the safe side; but the intent is in the ledger, pending,
// and nothing closes it: it holds the fleet's window as if it may have
// reached Vonage, the need waits a whole window plus the flight with the
// balance under the threshold, and the record later shows as "topup
// unconfirmed" for a request never made.
func TestAClaimWhoseReplyIsLostIsClosedNotSent(t *testing.T) {
	t.Run("reply-lost", func(t *testing.T) { lostExec(t, false) })
	// No kill at all: Redis stalls 3s (DEBUG SLEEP here; a fork, an fsync, a
	// swap in life) as the EXEC arrives. The client's 2s read timeout fires
	// and it closes, but the EXEC is already in Redis's socket buffer and is
	// run when Redis wakes.
	t.Run("redis-stalls-3s", func(t *testing.T) { lostExec(t, true) })
}

func lostExec(t *testing.T, stall bool) {
	srv := redistest.Start(t, "--enable-debug-command", "yes")
	cut := newExecCutter(t, srv.Addr)
	if stall {
		admin := srv.Client()
		if err := admin.Ping(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		cut.stall = func() {
			go func() {
				if err := admin.Do(context.Background(), "DEBUG", "SLEEP", "3").Err(); err != nil {
					t.Errorf("DEBUG SLEEP: %v", err)
				}
			}()
			time.Sleep(100 * time.Millisecond)
		}
	}
	core, logs := observer.New(zap.DebugLevel)
	led, err := ledger.OpenRedis(context.Background(), ledger.RedisOptions{
		URL: "redis://" + cut.addr + "/0", Account: "abcd1234", Keep: policy.Day, Log: zap.New(core), Monotonic: SystemMonotonic})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = led.Close() })
	settings := policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 4 * time.Second, MaxPerDay: 5, Flight: 2 * time.Second, Backoff: time.Second}
	api := &fakeVonage{balance: eur("5"), autoReload: true, amount: eur("50"), creditLater: true}
	w := New(api, led, Options{Settings: settings, Amount: eur("50"), Log: zap.New(core), Fleet: led, Now: led.Now, Replica: "A"})
	cut.armed.Store(true)
	start := time.Now()
	w.check(context.Background(), time.Second)
	if cut.cut.Load() != 1 {
		t.Fatalf("the proxy cut %d EXECs, want 1", cut.cut.Load())
	}
	st, err := led.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.TopUps {
		t.Logf("in redis after the lost reply: %s outcome %s", r.ID, r.Outcome)
	}
	for api.sent() == 0 && time.Since(start) < 20*time.Second {
		time.Sleep(500 * time.Millisecond)
		w.check(context.Background(), time.Second)
	}
	var seen []string
	for _, e := range logs.All() {
		if e.Message == "decision" {
			seen = append(seen, e.Message+" "+e.ContextMap()["reason"].(string))
		} else if e.Level >= zap.WarnLevel {
			seen = append(seen, e.Message)
		}
	}
	t.Logf("first top-up %s after the need (checks every 0.5s); log: %q", time.Since(start).Round(100*time.Millisecond), seen)
	limit := 3 * time.Second // a few checks
	if stall {
		limit += 3 * time.Second // no claim can be written while Redis sleeps
	}
	if d := time.Since(start); d > limit {
		t.Errorf("the need waited %s for its top-up: a claim whose EXEC reply was lost stays pending, never sent, and holds the window", d.Round(100*time.Millisecond))
	}
}

// Held up: twenty replicas check at once (as when the tick fails or two
// leases overlap), many times over: one top-up per need.
func TestTwentyReplicasClaimingAtOnceSendOneTopUp(t *testing.T) {
	srv := redistest.Start(t)
	for round := 0; round < 5; round++ {
		srv.FlushAll()
		seedLedger(t, srv)
		api := &fakeVonage{balance: eur("5"), autoReload: true, amount: eur("50"), creditLater: true}
		var reps []*prodReplica
		for range 20 {
			reps = append(reps, newProdReplica(t, srv, api, nil))
		}
		done := make(chan struct{})
		for _, r := range reps {
			go func() { r.w.Check(context.Background()); done <- struct{}{} }()
		}
		for range reps {
			<-done
		}
		if n := api.sent(); n != 1 {
			t.Fatalf("round %d: %d top-ups by 20 replicas at once, want 1", round, n)
		}
		for _, r := range reps {
			_ = r.led.Close()
		}
	}
}

// The first check of "@every 1s" started at .950 of a second gets a span
// (and a tick lease) of 50ms to the next whole second: a 90ms check is then
// logged "check skipped: the previous check is still running" at start.
// This is what makes the change's own TestFleetRedisAuthRefused/wrong_password
// fail now and then (1 run in 7 here).
func TestTheFirstCheckIsNotSkippedWithAWarning(t *testing.T) {
	c := clocktest.New(time.Date(2026, 12, 2, 12, 0, 0, 950_000_000, time.UTC))
	core, logs := observer.New(zap.DebugLevel)
	w := New(&fakeVonage{}, ledger.NewMemory(ledger.State{}), Options{Settings: fleetSettings, Log: zap.New(core),
		Now: c.Now, Monotonic: c.Monotonic, After: func(d time.Duration) <-chan time.Time {
			c.Advance(d)
			ch := make(chan time.Time, 1)
			ch <- c.Now()
			return ch
		}})
	sched, _ := cron.ParseStandard("@every 1s")
	ctx, cancel := context.WithCancel(context.Background())
	var leases []time.Duration
	w.loop(ctx, sched, func(lease time.Duration) {
		leases = append(leases, lease)
		c.Advance(90 * time.Millisecond)
		if len(leases) == 3 {
			cancel()
		}
	})
	t.Logf("leases %v", leases)
	if n := len(logs.FilterMessageSnippet(msgCheckSkipped).All()); n > 0 {
		t.Errorf("%d %q warnings for a 90ms check at @every 1s; first lease %s", n, msgCheckSkipped, leases[0])
	}
}

// seedLedger writes an empty ledger into srv, as a fleet's first check does:
// a transaction that creates the ledger writes no claim (a ledger found
// missing may have been flushed), so a test that wants a top-up from its
// first check starts from an existing ledger.
func seedLedger(t *testing.T, srv *redistest.Server) {
	t.Helper()
	l, err := ledger.OpenRedis(context.Background(), ledger.RedisOptions{URL: srv.URL(), Account: "abcd1234"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	if err := l.Update(context.Background(), func(*ledger.State) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
