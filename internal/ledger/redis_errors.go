package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// refuseEmptyRedis ends the error of a ledger in Redis that exists but
// cannot be used.
const refuseEmptyRedis = "refusing to start from an empty ledger, which could repeat a top-up: fix the value, or rename the key to start over"

// quoted matches the values that net/url and go-redis quote in their errors
// (%q): a part of the URL, which may be the password.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// urlError is the error of a URL that go-redis cannot parse: the reason
// without the URL or any part of it that may be its password.
func urlError(raw string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	reason := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "redis: "), "net/url: ")
	reason = quoted.ReplaceAllString(reason, "(value not shown)")
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			reason = strings.ReplaceAll(reason, pw, "xxxxx")
		}
	}
	reason = strings.ReplaceAll(reason, raw, "(the URL)")
	if strings.Contains(raw, "@") && strings.ContainsAny(reason, "@:/?&#") {
		// The URL holds credentials, and the reason quotes a piece of the
		// URL unquoted (go-redis names an unknown query option as is): a
		// password with an unescaped '?' or '&' lands in the query. Say
		// only what the reason is about.
		reason, _, _ = strings.Cut(reason, ":")
		reason += " (value not shown; percent-encode '/', '?', '#', '&' and '@' in a password)"
	}
	if strings.HasPrefix(reason, "invalid URL scheme") { // it echoes the scheme, lowercased
		reason = "invalid URL scheme: want redis://, rediss:// or unix://"
	}
	return fmt.Errorf("not a redis URL: %s", reason)
}

// CheckRedisURL reports what go-redis would refuse in the Redis URL raw, in
// words that never quote it (url.Error quotes the URL, and its reasons quote
// the part they refuse, which can be a password holding an unescaped '/').
func CheckRedisURL(raw string) error {
	if _, err := redis.ParseURL(raw); err != nil {
		return urlError(raw, err)
	}
	return nil
}

// redactedError is an error whose text had the password in it.
type redactedError struct {
	err    error
	secret string
}

func (e redactedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.secret, "xxxxx") }
func (e redactedError) Unwrap() error { return e.err }

// redact keeps the password out of err's text. go-redis's errors do not
// hold it; this makes sure of it.
func (r *Redis) redact(err error) error {
	if err == nil || r.password == "" || !strings.Contains(err.Error(), r.password) {
		return err
	}
	return redactedError{err: err, secret: r.password}
}

// fail is the error of operation op.
func (r *Redis) fail(op string, err error) error {
	return fmt.Errorf("redis ledger: %s: %w", op, r.redact(err))
}

// observe reports one round trip to Observe, with its error when Redis
// could not be reached or failed the command.
func (r *Redis) observe(ctx context.Context, op string, d time.Duration, err error) {
	switch {
	case err == nil, errors.Is(err, redis.Nil), errors.Is(err, redis.TxFailedErr):
		err = nil
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		err = nil // the caller gave up: Redis did not fail
	}
	r.o.Observe(op, d, r.redact(err))
}

// firstErr is the first error of cmds but a missing key's.
func firstErr(pipeline error, cmds ...redis.Cmder) error {
	// A connection that failed its handshake (a refused AUTH) fails the
	// pipeline and leaves its commands without an error and with zero
	// values: the pipeline's own error comes first.
	if pipeline != nil && !errors.Is(pipeline, redis.Nil) {
		return pipeline
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// notReplicatedError is the error of a claim that too few Redis replicas
// acknowledged. It wraps ErrNotReplicated.
type notReplicatedError struct {
	msg string
}

func (e *notReplicatedError) Error() string { return e.msg }
func (e *notReplicatedError) Unwrap() error { return ErrNotReplicated }

// recreatedError is the error of a claim on a ledger key that was missing.
// It wraps ErrLedgerRecreated.
type recreatedError struct{ key string }

func (e *recreatedError) Error() string {
	return "redis ledger: update: the ledger " + e.key + " was missing (Redis restarted empty, flushed, failed over, or a first start): " +
		"it was created again, and claims start at the next check, once every replica had a tick to write back what it saw: not sent"
}
func (e *recreatedError) Unwrap() error { return ErrLedgerRecreated }

// fnError carries the error of Update's fn out of the transaction.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// RouteRedisLog sends go-redis's own messages (a failed dial, a pool's
// notices) to log at debug instead of stderr, where they would break the
// one-JSON-object-a-line log. go-redis has one logger per process. Its
// messages hold addresses, not passwords; log's redaction covers them all
// the same.
func RouteRedisLog(log *zap.Logger) { redis.SetLogger(redisLog{log}) }

type redisLog struct{ log *zap.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis client", zap.String("message", fmt.Sprintf(format, v...)))
}
