package ledger

import (
	"context"
	"errors"
	"time"

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
	// differs from Redis's, a step of Redis's clock.
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

// Tick is the answer to Redis.Tick.
type Tick struct {
	// Won is whether this replica has the tick.
	Won bool
	// Holder is the replica that has it.
	Holder string
	// Last is the fleet's last reading; nil when none was written.
	Last *Reading
}

// Redis is the ledger of a fleet of watchdogs on one account, kept in Redis.
// It is safe for concurrent use.
type Redis struct{}

// OpenRedis checks o and connects. Redis being unreachable is not an error
// (the watchdog goes on without top-ups, rule 10); a URL that cannot be
// parsed is, and its error never holds the password.
func OpenRedis(ctx context.Context, o RedisOptions) (*Redis, error) { panic("todo") }

// View returns the state.
func (r *Redis) View(ctx context.Context) (State, error) { panic("todo") }

// Update applies fn to the state in one optimistic transaction (WATCH,
// MULTI, EXEC), running fn again when another replica wrote first.
func (r *Redis) Update(ctx context.Context, fn func(*State) error) error { panic("todo") }

// Tick asks for the schedule's tick, for lease.
func (r *Redis) Tick(ctx context.Context, lease time.Duration) (Tick, error) { panic("todo") }

// Now is the fleet's clock: Redis's TIME, carried forward on this pod's
// monotonic clock between round trips.
func (r *Redis) Now() time.Time { panic("todo") }

// Watch pings Redis every interval until ctx ends, so that Observe hears of
// Redis between checks too. It returns nil.
func (r *Redis) Watch(ctx context.Context, every time.Duration) error { panic("todo") }

// Close closes the connections.
func (r *Redis) Close() error { panic("todo") }
