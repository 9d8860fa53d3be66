package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// RedisOptions configure a Redis ledger.
type RedisOptions struct {
	// URL is TOPUP_REDIS_URL: redis://, rediss:// or unix://, as
	// redis.ParseURL reads it. It may hold a password: never logged.
	URL string
	// Prefix is TOPUP_REDIS_PREFIX; "" means DefaultRedisPrefix.
	Prefix string
	// Account is the Vonage API key. Keys are scoped by a hash of it, never
	// the key itself, under one hash tag.
	Account string
	// Replica names this process in the fleet: the tick's holder. It must
	// be unique per process; "" means hostname-<random>.
	Replica string
	// MinReplicas is TOPUP_REDIS_MIN_REPLICAS: an Update that writes a new
	// pending record waits (WAIT) until this many Redis replicas hold it,
	// for at most WaitTimeout; fewer, and the write is undone (unless
	// written over since) and Update returns an error wrapping
	// ErrNotReplicated.
	MinReplicas int
	// WaitTimeout bounds WAIT; 0 means 1s.
	WaitTimeout time.Duration
	// Keep is how long a record this replica saw matters after its intent
	// (a day and a window): one missing from a later read of the ledger
	// was lost by Redis (restart without persistence, flush, failover,
	// eviction) and is written back. 0 means 25h.
	Keep time.Duration
	// Log gets the warnings: lost records written back, a pod clock that
	// differs from Redis's, a step of Redis's clock and its application to
	// the ledger, an unreadable reading key.
	Log *zap.Logger
	// Now is this pod's wall clock and Monotonic a clock that never steps
	// (as watchdog.Options); nil means the system's.
	Now       func() time.Time
	Monotonic func() time.Duration
	// Observe, if set, is called after every round trip to Redis with its
	// operation ("tick", "view", "update", "wait", "ping"), its duration,
	// and the error when Redis could not be reached or failed the command
	// (never for a lost optimistic transaction, which is retried).
	Observe func(op string, d time.Duration, err error)
}

// DefaultRedisPrefix is the key prefix when RedisOptions.Prefix is empty.
const DefaultRedisPrefix = "topup-watchdog"

// ErrNotReplicated marks a claim that fewer Redis replicas than
// RedisOptions.MinReplicas acknowledged in time.
var ErrNotReplicated = errors.New("not held by enough redis replicas")

// ErrLedgerRecreated marks a claim refused because the ledger key was
// missing (Redis restarted empty, flushed, failed over, or the fleet's
// first start): Update wrote the ledger again without it, and the next
// check claims. See Redis.Update.
var ErrLedgerRecreated = errors.New("claim refused on a ledger created again")

// Tick is the answer to Redis.Tick.
type Tick struct {
	// Won is whether this replica has the tick.
	Won bool
	// Holder is the replica that has it.
	Holder string
	// Last is the fleet's last reading; nil when none was written.
	Last *Reading
	// TopUps are the ledger's records as the tick read them, on the
	// fleet's clock, with the records Redis lost that may have reached
	// Vonage put back (a rejection is not one of them): what a replica that
	// reads nothing follows the rejection that blocks top-ups by.
	TopUps []Record
}

// The settings of the go-redis client. No go-redis retries: a MULTI/EXEC
// retried on a new connection would run without its WATCH.
const (
	redisIOTimeout   = 2 * time.Second
	redisPoolTimeout = 3 * time.Second
	redisPoolSize    = 4
	maxPrefixLen     = 64
)

// redisKeys are the keys of one account's ledger, under one hash tag.
// redisLedgerVersion is the schema version of the Redis ledger's value,
// which never holds readings (they live under the reading key).
const redisLedgerVersion = 1

// redisKeys are one account's keys. The reading key holds the fleet's last
// reading in the layout of the release before readings were kept, which
// that release reads during a rollout; the readings key holds the burn
// rate's readings.
type redisKeys struct {
	ledger, tick, reading, readings string
}

func newRedisKeys(prefix, account string) redisKeys {
	sum := sha256.Sum256([]byte("topup-watchdog account\x00" + account))
	base := prefix + ":{" + hex.EncodeToString(sum[:8]) + "}:"
	return redisKeys{ledger: base + "ledger", tick: base + "tick", reading: base + "reading", readings: base + "readings"}
}

// Redis is the ledger of a fleet of watchdogs on one account, kept in Redis.
// It is safe for concurrent use.
type Redis struct {
	client   *redis.Client
	o        RedisOptions
	keys     redisKeys
	password string // to keep out of every error text

	mu      sync.Mutex
	closed  bool
	clock   fleetClock
	steps   []pendingStep // of Redis's clock, seen and not yet applied
	stepSeq uint64        // the last pendingStep.id
	mem     memory
	// readingBad is set once an unreadable reading key is logged, until
	// a reading is read again.
	readingBad bool
}

// OpenRedis checks o and connects. Redis being unreachable is not an error
// (the watchdog goes on without top-ups, rule 10); a URL that cannot be
// parsed is, and its error never holds the password.
func OpenRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.URL == "" {
		return nil, errors.New("TOPUP_REDIS_URL: empty")
	}
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("TOPUP_REDIS_URL: %w", urlError(o.URL, err))
	}
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = redisIOTimeout, redisIOTimeout, redisIOTimeout
	opt.PoolTimeout = redisPoolTimeout
	opt.PoolSize = redisPoolSize
	opt.PipelinePoolSize = -1 // pipelines on the one small pool
	opt.DialerRetries = 1     // a refused dial fails the round trip at once
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	r := &Redis{client: redis.NewClient(opt), o: o, keys: newRedisKeys(o.Prefix, o.Account),
		password: opt.Password, mem: memory{records: map[string]*seen{}}}
	if err := r.ping(ctx); err != nil {
		o.Log.Warn("redis not reachable: no top-up is claimed until it answers",
			zap.String("addr", opt.Addr), zap.Error(err))
	}
	return r, nil
}

// defaults checks o and fills in what it leaves out.
func (o *RedisOptions) defaults() error {
	if o.Prefix == "" {
		o.Prefix = DefaultRedisPrefix
	}
	switch {
	case len(o.Prefix) > maxPrefixLen:
		return fmt.Errorf("TOPUP_REDIS_PREFIX: %d bytes, at most %d", len(o.Prefix), maxPrefixLen)
	case strings.ContainsAny(o.Prefix, "{}") || strings.ContainsFunc(o.Prefix, unicode.IsSpace):
		return fmt.Errorf("TOPUP_REDIS_PREFIX: %q holds '{', '}' or whitespace: the keys' hash tag would break", o.Prefix)
	case o.Account == "":
		return errors.New("redis ledger: empty account: the keys are scoped by the Vonage API key")
	case o.MinReplicas < 0:
		return fmt.Errorf("TOPUP_REDIS_MIN_REPLICAS: %d, want 0 or more", o.MinReplicas)
	case o.WaitTimeout < 0 || o.Keep < 0:
		return errors.New("redis ledger: negative WaitTimeout or Keep")
	}
	if o.Replica == "" {
		o.Replica = defaultReplica()
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = time.Second
	}
	if o.Keep == 0 {
		o.Keep = 25 * time.Hour
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Monotonic == nil {
		start := time.Now()
		o.Monotonic = func() time.Duration { return time.Since(start) }
	}
	if o.Observe == nil {
		o.Observe = func(string, time.Duration, error) {}
	}
	return nil
}

// defaultReplica is hostname-<8 random hex digits>.
func defaultReplica() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return host + "-" + hex.EncodeToString(b[:])
}

// Replica is the name of this process in the fleet: RedisOptions.Replica,
// or the one made up for it.
func (r *Redis) Replica() string { return r.o.Replica }

// Now is the fleet's clock: Redis's TIME, carried forward on this pod's
// monotonic clock between round trips.
func (r *Redis) Now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.clock.anchored {
		return r.o.Now().Round(0)
	}
	return r.clock.at.Add(r.o.Monotonic() - r.clock.mono).Round(0)
}

// Watch pings Redis every interval until ctx ends, so that Observe hears of
// Redis between checks too. It returns nil. An interval of 0 or less means
// 10s.
func (r *Redis) Watch(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = r.ping(ctx)
		}
	}
}

// ping asks Redis for its TIME, which anchors the fleet's clock.
func (r *Redis) ping(ctx context.Context) error {
	if err := r.usable(ctx); err != nil {
		return r.fail("ping", err)
	}
	t0 := r.o.Monotonic()
	now, err := r.client.Time(ctx).Result()
	t1 := r.o.Monotonic()
	r.observe(ctx, "ping", t1-t0, err)
	if err != nil {
		return r.fail("ping", err)
	}
	r.anchor(now, t0, t1)
	return nil
}

// Close closes the connections. Calls after the first do nothing.
func (r *Redis) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if err := r.client.Close(); err != nil {
		return r.fail("close", err)
	}
	return nil
}

// usable reports why r cannot serve a call, if it cannot.
func (r *Redis) usable(ctx context.Context) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return errors.New("closed")
	}
	return ctx.Err()
}
