package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// stored returns the state in the ledger key, as a fresh process reads it.
func stored(t *testing.T, srv *redistest.Server, r *Redis) (State, bool) {
	t.Helper()
	v, err := srv.Client().Get(context.Background(), r.keys.ledger).Result()
	if err != nil {
		return State{}, false
	}
	s, err := Decode([]byte(v))
	if err != nil {
		t.Fatalf("decode the ledger key: %v", err)
	}
	return s, true
}

// wantLost checks the one log line of records put back.
func wantLost(t *testing.T, logs *observer.ObservedLogs, ids string, vanished bool) {
	t.Helper()
	lines := logs.FilterMessage(msgLostRecords).All()
	if len(lines) != 1 {
		t.Fatalf("%d %q lines, want 1", len(lines), msgLostRecords)
	}
	m := lines[0].ContextMap()
	if fmt.Sprint(m["ids"]) != ids || m["vanished"] != vanished || m["why"] != whyLostRecords {
		t.Errorf("lost records line = %v, want ids %s, vanished %v", m, ids, vanished)
	}
}

// eventually runs fn until it succeeds, for at most 5s: Redis coming back.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisWritesBackTheRecordsItSawAfterAFlush(t *testing.T) {
	srv := redistest.Start(t)
	r, logs := openRedis(t, srv)
	seedLedger(t, srv, r)
	mustUpdate(t, r, appendRecord(pending("claim")))
	srv.FlushAll()
	if got := fmt.Sprint(ids(mustViewOf(t, r))); got != "[claim]" {
		t.Errorf("View after a flush = %s, want the claim this replica saw", got)
	}
	if _, ok := stored(t, srv, r); ok {
		t.Error("View wrote the ledger")
	}
	mustUpdate(t, r, func(*State) error { return nil })
	if s, ok := stored(t, srv, r); !ok || fmt.Sprint(ids(s)) != "[claim]" {
		t.Errorf("after an update Redis holds %v (%v), want the claim written back", ids(s), ok)
	}
	wantLost(t, logs, "[claim]", true)
}

func TestRedisWritesBackTheRecordsItSawAfterARestartWithoutPersistence(t *testing.T) {
	srv := redistest.Start(t)
	r, logs := openRedis(t, srv)
	seedLedger(t, srv, r)
	mustUpdate(t, r, appendRecord(pending("claim")))
	srv.Restart()
	eventually(t, "update after the restart", func() error {
		return r.Update(context.Background(), func(*State) error { return nil })
	})
	if s, ok := stored(t, srv, r); !ok || fmt.Sprint(ids(s)) != "[claim]" {
		t.Errorf("after the restart Redis holds %v (%v), want the claim written back", ids(s), ok)
	}
	wantLost(t, logs, "[claim]", true)
}

func TestRedisRestoresWhatAReplicaThatNeverSawItWroteOver(t *testing.T) {
	srv := redistest.Start(t)
	a, logs := openRedis(t, srv)
	seedLedger(t, srv, a)
	mustUpdate(t, a, appendRecord(pending("old")))
	mustUpdate(t, a, appendRecord(pending("claim")))
	mustUpdate(t, a, func(s *State) error { s.Find("old").Outcome = NotSent; return nil })
	srv.FlushAll()
	b := openRedisQuiet(t, srv) // never saw the claim: writes a fresh state
	if err := b.Update(context.Background(), appendRecord(pending("refused"))); !errors.Is(err, ErrLedgerRecreated) {
		t.Fatalf("b's claim on the missing ledger = %v, want ErrLedgerRecreated", err)
	}
	mustUpdate(t, b, appendRecord(pending("fresh"))) // the ledger b wrote again exists
	mustUpdate(t, a, func(*State) error { return nil })
	if s, _ := stored(t, srv, a); fmt.Sprint(ids(s)) != "[claim fresh]" {
		t.Errorf("Redis holds %v, want the claim put back before b's record (by time), and not the not-sent one", ids(s))
	}
	wantLost(t, logs, "[claim]", false)
	mustUpdate(t, a, func(*State) error { return nil })
	if n := logs.FilterMessage(msgLostRecords).Len(); n != 1 {
		t.Errorf("%d lost-records lines once they are back, want still 1", n)
	}
}

func TestRedisForgetsRecordsOlderThanKeep(t *testing.T) {
	srv := redistest.Start(t)
	r, logs := openRedis(t, srv, func(o *RedisOptions) { o.Keep = time.Hour })
	seedLedger(t, srv, r)
	old := pending("old")
	old.At = old.At.Add(-2 * time.Hour)
	mustUpdate(t, r, appendRecord(old))
	srv.FlushAll()
	if st := mustViewOf(t, r); len(st.TopUps) != 0 || logs.FilterMessage(msgLostRecords).Len() != 0 {
		t.Errorf("View = %v: a record older than Keep was put back", ids(st))
	}
}

func TestRedisMinReplicas(t *testing.T) {
	srv := redistest.Start(t)
	replica := redistest.StartReplica(t, srv)
	r := openRedisQuiet(t, srv, func(o *RedisOptions) { o.MinReplicas, o.WaitTimeout = 1, 300*time.Millisecond })
	seedLedger(t, srv, r)
	mustUpdate(t, r, appendRecord(pending("held")))
	if s, err := replica.Client().Get(context.Background(), r.keys.ledger).Result(); err != nil || !strings.Contains(s, `"held"`) {
		t.Fatalf("the replica holds %q, %v; want the claim", s, err)
	}
	mustUpdate(t, r, func(s *State) error { s.Find("held").Outcome = Succeeded; return nil })
	before, _ := srv.Client().Get(context.Background(), r.keys.ledger).Result()

	replica.Kill()
	err := r.Update(context.Background(), appendRecord(pending("lonely")))
	if !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("Update without a replica = %v, want ErrNotReplicated", err)
	}
	if want := "redis ledger: update: claim held by 0 of 1 redis replicas (TOPUP_REDIS_MIN_REPLICAS) within 300ms: not sent"; err.Error() != want {
		t.Errorf("error = %q\nwant %q", err, want)
	}
	if after, _ := srv.Client().Get(context.Background(), r.keys.ledger).Result(); after != before {
		t.Errorf("the claim was not undone: Redis holds\n%s", after)
	}
	if got := fmt.Sprint(ids(mustViewOf(t, r))); got != "[held]" {
		t.Errorf("View = %s: the undone claim is remembered", got)
	}
	// A write that claims nothing does not wait.
	mustUpdate(t, r, func(s *State) error { s.Refilling = true; return nil })
}

func TestRedisMinReplicasWithNoReplica(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedisQuiet(t, srv, func(o *RedisOptions) { o.MinReplicas = 1 })
	seedLedger(t, srv, r)
	start := time.Now()
	err := r.Update(context.Background(), appendRecord(pending("lonely")))
	if !errors.Is(err, ErrNotReplicated) || !strings.Contains(err.Error(), "claim held by 0 of 1 redis replicas (TOPUP_REDIS_MIN_REPLICAS) within 1s: not sent") {
		t.Fatalf("Update = %v, want ErrNotReplicated", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("Update took %v, want about WaitTimeout", d)
	}
	if s, ok := stored(t, srv, r); !ok || len(s.TopUps) != 0 {
		t.Errorf("the claim on an empty ledger was not undone: Redis holds %v (key there: %v), want the empty ledger", ids(s), ok)
	}
}

// A ledger that does not decode is refused, never taken for an empty one.
// (Garbage in the reading key, a cache, is ignored: see
// TestRedisGarbageReadingIsIgnoredAndOverwritten.)
func TestRedisRefusesCorruptValues(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedisQuiet(t, srv)
	c := srv.Client()
	ctx := context.Background()
	want := "ledger " + r.keys.ledger + ": corrupt: invalid character 'g' looking for beginning of value; " + refuseEmptyRedis
	if err := c.Set(ctx, r.keys.ledger, "garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ran := false
	errs := map[string]error{"update": r.Update(ctx, func(*State) error { ran = true; return nil })}
	_, errs["view"] = r.View(ctx)
	_, errs["tick"] = r.Tick(ctx, time.Second)
	for op, err := range errs {
		if want := "redis ledger: " + op + ": " + want; err == nil || err.Error() != want {
			t.Errorf("%s with garbage in %s = %v\nwant %s", op, r.keys.ledger, err, want)
		}
	}
	if !errors.Is(errs["update"], ErrCorrupt) || ran {
		t.Errorf("update error %v does not wrap ErrCorrupt, or fn ran (%v)", errs["update"], ran)
	}
	if v := c.Get(ctx, r.keys.ledger).Val(); v != "garbage" {
		t.Errorf("%s was overwritten with %q", r.keys.ledger, v)
	}
}

func TestRedisKilledFailsFastAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	var failures []string
	r := openRedisQuiet(t, srv, func(o *RedisOptions) {
		o.Observe = func(op string, _ time.Duration, err error) {
			if err != nil {
				mu.Lock()
				failures = append(failures, op)
				mu.Unlock()
			}
		}
	})
	seedLedger(t, srv, r)
	mustUpdate(t, r, appendRecord(pending("a")))
	srv.Kill()
	ctx := context.Background()
	for _, op := range []string{"update", "view", "tick", "update", "view", "tick"} {
		start := time.Now()
		var err error
		switch op {
		case "update":
			err = r.Update(ctx, func(*State) error { return nil })
		case "view":
			_, err = r.View(ctx)
		case "tick":
			_, err = r.Tick(ctx, time.Second)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v with Redis down", op, d)
		}
		if err == nil || !strings.HasPrefix(err.Error(), "redis ledger: "+op+": ") {
			t.Errorf("%s with Redis down = %v, want an error naming redis and the operation", op, err)
		}
	}
	mu.Lock()
	if len(failures) < 6 {
		t.Errorf("Observe heard of %d failures, want each of the 6 round trips", len(failures))
	}
	mu.Unlock()
	srv.Restart()
	eventually(t, "update after the restart", func() error {
		return r.Update(ctx, func(s *State) error { s.Refilling = true; return nil })
	})
	if _, err := r.Tick(ctx, time.Second); err != nil {
		t.Errorf("Tick after the restart: %v", err)
	}
}
