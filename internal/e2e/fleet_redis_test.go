package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// What the fleet tests read from Redis: every key and value for the
// sweep, and the fleet's ledger.

// sweepRedis adds every key and value in Redis to the sweep, and checks the
// keys: none names the API key, all share one hash tag.
func (f *fleet) sweepRedis() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := f.rc.Keys(ctx, "*").Result()
	if err != nil {
		if !f.t.Failed() {
			f.t.Errorf("redis sweep: list the keys: %v", err)
		}
		return
	}
	slices.Sort(keys)
	switch {
	case f.noKeys && len(keys) > 0:
		f.t.Errorf("redis holds keys %q, want none: no replica could authenticate", keys)
	case !f.noKeys && len(keys) == 0:
		f.t.Errorf("redis sweep: no key in redis: nothing of the fleet to sweep")
	}
	tags := map[string]bool{}
	for _, k := range keys {
		data, err := dumpKey(ctx, f.rc, k)
		if err != nil {
			f.t.Errorf("redis sweep: read %s: %v", k, err)
			continue
		}
		f.sweep.Add("redis key "+k, append([]byte(k+"\n"), data...))
		if strings.Contains(k, testKey) {
			f.t.Errorf("redis key %q holds the API key: keys are scoped by a hash of it", k)
		}
		if i, j := strings.Index(k, "{"), strings.Index(k, "}"); i >= 0 && j > i {
			tags[k[i:j+1]] = true
		} else {
			f.t.Errorf("redis key %q has no hash tag", k)
		}
	}
	if len(tags) > 1 {
		f.t.Errorf("the fleet's keys %q have %d hash tags, want one: one account's keys share a slot", keys, len(tags))
	}
	f.t.Logf("redis sweep: %d keys %q", len(keys), keys)
}

// dumpKey reads a key's value whatever its type.
func dumpKey(ctx context.Context, c *redis.Client, k string) ([]byte, error) {
	typ, err := c.Type(ctx, k).Result()
	if err != nil {
		return nil, err
	}
	var v any
	switch typ {
	case "string":
		return c.Get(ctx, k).Bytes()
	case "hash":
		v, err = c.HGetAll(ctx, k).Result()
	case "list":
		v, err = c.LRange(ctx, k, 0, -1).Result()
	case "set":
		v, err = c.SMembers(ctx, k).Result()
	case "zset":
		v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
	case "stream":
		v, err = c.XRange(ctx, k, "-", "+").Result()
	default:
		var s string
		s, err = c.Dump(ctx, k).Result()
		v = s
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// redisLedger reads the fleet's ledger from Redis (the one key named
// <prefix>:{<hash>}:ledger), adds it to the sweep and decodes it; ok is
// false when there is no such key.
func (f *fleet) redisLedger() (st ledger.State, ok bool) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := f.rc.Keys(ctx, "*:ledger").Result()
	if err != nil {
		f.t.Fatalf("list the ledger keys in redis: %v", err)
	}
	switch len(keys) {
	case 0:
		return ledger.State{}, false
	case 1:
	default:
		f.t.Fatalf("redis holds %d ledger keys %q, want one", len(keys), keys)
	}
	if !strings.HasPrefix(keys[0], "topup-watchdog:{") || strings.Contains(keys[0], testKey) {
		f.t.Errorf("ledger key %q, want topup-watchdog:{<hash of the api key>}:ledger", keys[0])
	}
	data, err := f.rc.Get(ctx, keys[0]).Bytes()
	if err != nil {
		f.t.Fatalf("GET %s: %v", keys[0], err)
	}
	f.sweep.Add("redis "+keys[0], data)
	st, err = ledger.Decode(data)
	if err != nil {
		f.t.Fatalf("decode the ledger in redis: %v\n%s", err, data)
	}
	return st, true
}

// mustLedger is redisLedger for a ledger that must exist.
func (f *fleet) mustLedger() ledger.State {
	f.t.Helper()
	st, ok := f.redisLedger()
	if !ok {
		f.t.Fatalf("no ledger key in redis; last output:\n%s", f.book.tail(30))
	}
	return st
}

// redisURLWith is the server's URL with another password ("" for none).
func redisURLWith(srv *redistest.Server, password string) string {
	if password == "" {
		return "redis://" + srv.Addr + "/0"
	}
	return "redis://:" + password + "@" + srv.Addr + "/0"
}
