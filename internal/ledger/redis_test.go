package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// testAccount is the account of the tests' Redis ledgers.
const testAccount = "abcd1234"

// openRedis opens a Redis ledger on srv, with its log lines captured, and
// closes it when the test ends.
func openRedis(t testing.TB, srv *redistest.Server, edit ...func(*RedisOptions)) (*Redis, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	o := RedisOptions{URL: srv.URL(), Account: testAccount, Log: zap.New(core)}
	for _, e := range edit {
		e(&o)
	}
	r, err := OpenRedis(context.Background(), o)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, logs
}

// seedLedger writes an empty ledger into Redis, as the fleet's first check
// does: Update refuses a claim on a missing ledger key (ErrLedgerRecreated),
// so the tests that claim on a new server seed it first.
func seedLedger(t testing.TB, srv *redistest.Server, r *Redis) {
	t.Helper()
	data, err := encode(State{Version: SchemaVersion})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Set(context.Background(), r.keys.ledger, data, 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func openRedisQuiet(t testing.TB, srv *redistest.Server, edit ...func(*RedisOptions)) *Redis {
	t.Helper()
	r, _ := openRedis(t, srv, edit...)
	return r
}

func TestRedisKeysShareOneHashTagOfTheAccount(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Prefix = "fleet-a" })
	seedLedger(t, srv, r)
	mustUpdate(t, r, appendRecord(pending("a")))
	mustUpdate(t, r, func(s *State) error { s.Reading = &Reading{At: time.Now()}; return nil })
	if _, err := r.Tick(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("topup-watchdog account\x00" + testAccount))
	tag := "fleet-a:{" + hex.EncodeToString(sum[:])[:16] + "}:"
	keys, err := srv.Client().Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(sorted(keys)), fmt.Sprint([]string{tag + "ledger", tag + "reading", tag + "tick"}); got != want {
		t.Errorf("keys = %s, want %s", got, want)
	}
	for _, k := range keys {
		if strings.Contains(k, testAccount) {
			t.Errorf("key %q holds the API key", k)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestOpenRedisRefusesBadOptions(t *testing.T) {
	ok := RedisOptions{URL: "redis://127.0.0.1:1/0", Account: "k"}
	tests := []struct {
		name string
		edit func(*RedisOptions)
		want string
	}{
		{"empty URL", func(o *RedisOptions) { o.URL = "" }, "TOPUP_REDIS_URL: empty"},
		{"brace in prefix", func(o *RedisOptions) { o.Prefix = "a{b" }, `TOPUP_REDIS_PREFIX: "a{b" holds '{', '}' or whitespace: the keys' hash tag would break`},
		{"space in prefix", func(o *RedisOptions) { o.Prefix = "a b" }, `TOPUP_REDIS_PREFIX: "a b" holds '{', '}' or whitespace: the keys' hash tag would break`},
		{"long prefix", func(o *RedisOptions) { o.Prefix = strings.Repeat("p", 65) }, "TOPUP_REDIS_PREFIX: 65 bytes, at most 64"},
		{"no account", func(o *RedisOptions) { o.Account = "" }, "redis ledger: empty account: the keys are scoped by the Vonage API key"},
		{"negative replicas", func(o *RedisOptions) { o.MinReplicas = -1 }, "TOPUP_REDIS_MIN_REPLICAS: -1, want 0 or more"},
		{"http", func(o *RedisOptions) { o.URL = "http://u:pw@h/0" }, "TOPUP_REDIS_URL: not a redis URL: invalid URL scheme: want redis://, rediss:// or unix://"},
	}
	for _, tt := range tests {
		o := ok
		tt.edit(&o)
		if _, err := OpenRedis(context.Background(), o); err == nil || err.Error() != tt.want {
			t.Errorf("%s: OpenRedis error = %v\nwant %s", tt.name, err, tt.want)
		}
	}
	r, err := OpenRedis(context.Background(), ok) // nothing listens on port 1: not an error
	if err != nil {
		t.Fatalf("OpenRedis on an unreachable Redis = %v, want a ledger", err)
	}
	defer r.Close()
	if host, _ := os.Hostname(); !strings.HasPrefix(r.Replica(), host+"-") || len(r.Replica()) != len(host)+9 {
		t.Errorf("Replica() = %q, want %s-<8 hex digits>", r.Replica(), host)
	}
	if d := time.Since(r.Now()); d < -time.Second || d > time.Second {
		t.Errorf("Now() before Redis answered = %v away from the pod's clock", d)
	}
}

func TestRedisUpdateRunsFnAgainWhenAnotherReplicaWroteFirst(t *testing.T) {
	srv := redistest.Start(t)
	a, b := openRedisQuiet(t, srv), openRedisQuiet(t, srv)
	seedLedger(t, srv, a)
	calls := 0
	err := a.Update(context.Background(), func(s *State) error {
		calls++
		if calls == 1 { // between a's read and a's write, b writes
			mustUpdate(t, b, appendRecord(pending("from-b")))
		}
		s.TopUps = append(s.TopUps, pending(fmt.Sprintf("from-a-%d", calls)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("fn ran %d times, want 2: once more after b's write", calls)
	}
	if got := fmt.Sprint(ids(mustViewOf(t, b))); got != "[from-b from-a-2]" {
		t.Errorf("records = %s, want b's then a's second", got)
	}
}

// The contention proof of rule 8: five replicas decide at once, and one
// claim is written each round.
func TestRedisOneClaimAmongFiveReplicas(t *testing.T) {
	srv := redistest.Start(t)
	var ledgers []*Redis
	for range 5 {
		ledgers = append(ledgers, openRedisQuiet(t, srv))
	}
	seedLedger(t, srv, ledgers[0])
	var fnRuns atomic.Int64
	for round := range 20 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		won := make(chan string, 5)
		for i, l := range ledgers {
			wg.Go(func() {
				<-start
				id := fmt.Sprintf("r%d-%d", round, i)
				claimed := false
				err := l.Update(context.Background(), func(s *State) error {
					fnRuns.Add(1)
					claimed = false
					for _, r := range s.TopUps {
						if r.Outcome == Pending {
							return nil
						}
					}
					s.TopUps, claimed = append(s.TopUps, pending(id)), true
					return nil
				})
				if err != nil {
					t.Errorf("round %d replica %d: %v", round, i, err)
				}
				if claimed {
					won <- id
				}
			})
		}
		close(start)
		wg.Wait()
		close(won)
		var winners []string
		for id := range won {
			winners = append(winners, id)
		}
		st := mustViewOf(t, ledgers[0])
		var pend []string
		for _, r := range st.TopUps {
			if r.Outcome == Pending {
				pend = append(pend, r.ID)
			}
		}
		if len(winners) != 1 || len(pend) != 1 || pend[0] != winners[0] {
			t.Fatalf("round %d: winners %v, pending %v; want one claim", round, winners, pend)
		}
		mustUpdate(t, ledgers[0], func(s *State) error { s.Find(pend[0]).Outcome = NotSent; return nil })
	}
	if n := fnRuns.Load(); n <= 5*20 {
		t.Errorf("fn ran %d times in 20 rounds of 5: no round had contention, the test shows nothing", n)
	}
}

func TestRedisTickLease(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-a" })
	b := openRedisQuiet(t, srv, func(o *RedisOptions) { o.Replica = "replica-b" })
	const lease = 300 * time.Millisecond
	tick := func(r *Redis) Tick {
		t.Helper()
		tk, err := r.Tick(ctx, lease)
		if err != nil {
			t.Fatalf("Tick: %v", err)
		}
		return tk
	}
	if tk := tick(a); !tk.Won || tk.Holder != "replica-a" || tk.Last != nil {
		t.Fatalf("first Tick = %+v, want won by replica-a, no reading yet", tk)
	}
	rd := &Reading{At: a.Now().UTC(), Replica: "replica-a"}
	mustUpdate(t, a, func(s *State) error { s.Reading = rd; return nil })
	tk := tick(b)
	if tk.Won || tk.Holder != "replica-a" || tk.Last == nil || !tk.Last.At.Equal(rd.At) || tk.Last.Replica != "replica-a" {
		t.Fatalf("second replica's Tick = %+v, want lost to replica-a with its reading", tk)
	}
	c := srv.Client()
	if err := c.PExpire(ctx, a.keys.tick, 50*time.Millisecond).Err(); err != nil { // most of the lease gone
		t.Fatal(err)
	}
	if tk := tick(a); !tk.Won {
		t.Fatalf("the holder's Tick = %+v, want its lease renewed", tk)
	}
	if ttl := c.PTTL(ctx, a.keys.tick).Val(); ttl < 200*time.Millisecond || ttl > lease {
		t.Errorf("PTTL after the renewal = %v, want about %v", ttl, lease)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tk := tick(b); !tk.Won; tk = tick(b) {
		if tk.Holder != "replica-a" || time.Now().After(deadline) {
			t.Fatalf("Tick = %+v: the lease did not pass to replica-b", tk)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ttl := c.PTTL(ctx, a.keys.tick).Val(); ttl <= 0 || ttl > lease {
		t.Errorf("PTTL = %v, want the new holder's lease", ttl)
	}
	if tk, err := b.Tick(ctx, 0); err != nil || !tk.Won { // Redis refuses PX 0
		t.Errorf("Tick(0) = %+v, %v: want a lease of at least 1ms", tk, err)
	}
}

func TestRedisNowFollowsRedisTime(t *testing.T) {
	srv := redistest.Start(t)
	ahead := 10 * time.Second // the pod's clock is 10s ahead: the fleet's is not
	r, logs := openRedis(t, srv, func(o *RedisOptions) { o.Now = func() time.Time { return time.Now().Add(ahead) } })
	c := srv.Client()
	for range 3 {
		if _, err := r.Tick(context.Background(), time.Second); err != nil {
			t.Fatal(err)
		}
		rt, err := c.Time(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d := r.Now().Sub(rt); d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Errorf("Now() is %v from Redis's TIME, want within 50ms", d)
		}
		time.Sleep(30 * time.Millisecond)
	}
	if n := r.Now(); n != n.Round(0) {
		t.Error("Now() carries Go's monotonic reading")
	}
	lines := logs.FilterMessage(msgPodClockDiffers).All()
	if len(lines) != 1 {
		t.Fatalf("%d %q lines, want 1 when it first crosses", len(lines), msgPodClockDiffers)
	}
	if ms := lines[0].ContextMap()["offset_ms"].(int64); ms < 9900 || ms > 10100 {
		t.Errorf("offset_ms = %d, want about 10000", ms)
	}
	ahead = 0 // races nothing: Tick reads it on this goroutine
	if _, err := r.Tick(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessage(msgPodClockAgrees).Len(); n != 1 {
		t.Errorf("%d %q lines once the clocks agree, want 1", n, msgPodClockAgrees)
	}
	if n := logs.FilterMessage(msgRedisClockStepped).Len(); n != 0 {
		t.Errorf("%d %q lines without a step", n, msgRedisClockStepped)
	}
}

func TestRedisClockStepIsLogged(t *testing.T) {
	srv := redistest.Start(t)
	var mono atomic.Int64 // a monotonic clock the test moves
	r, logs := openRedis(t, srv, func(o *RedisOptions) {
		o.Monotonic = func() time.Duration { return time.Duration(mono.Load()) }
	})
	mono.Add(int64(time.Hour)) // an hour on this pod, a few µs on Redis's: a step back of an hour
	if _, err := r.View(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := logs.FilterMessage(msgRedisClockStepped).All()
	if len(lines) != 1 {
		t.Fatalf("%d %q lines, want 1", len(lines), msgRedisClockStepped)
	}
	if step := lines[0].ContextMap()["step"].(time.Duration); step > -59*time.Minute || step < -61*time.Minute {
		t.Errorf("step = %v, want about -1h", step)
	}
}

func TestRedisObservesEveryRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	var ops []string
	r := openRedisQuiet(t, srv, func(o *RedisOptions) {
		o.Observe = func(op string, _ time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			ops = append(ops, fmt.Sprintf("%s:%v", op, err))
		}
	})
	seedLedger(t, srv, r) // from another client: not observed
	ctx, cancel := context.WithCancel(context.Background())
	mustUpdate(t, r, appendRecord(pending("a")))
	mustUpdate(t, r, func(*State) error { return nil })
	_, _ = r.Tick(ctx, time.Second)
	_, _ = r.View(ctx)
	done := make(chan error)
	go func() { done <- r.Watch(ctx, 10*time.Millisecond) }()
	for {
		mu.Lock()
		n := len(ops)
		mu.Unlock()
		if n >= 10 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Open's TIME; a write: the read, the write; no write: the read, the
	// UNWATCH; the tick, sent again as a script Redis does not know yet;
	// the view; Watch's pings.
	want := "[ping:<nil> update:<nil> update:<nil> update:<nil> update:<nil> tick:<nil> tick:<nil> view:<nil> ping:<nil>]"
	if got := fmt.Sprint(ops[:9]); got != want {
		t.Errorf("round trips = %v\nwant %s", ops, want)
	}
	if err := r.Close(); err != nil || r.Close() != nil {
		t.Errorf("Close = %v; a second Close must do nothing", err)
	}
	if err := r.Update(context.Background(), func(*State) error { return nil }); err == nil || err.Error() != "redis ledger: update: closed" {
		t.Errorf("Update after Close = %v", err)
	}
}
