package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
)

// MaxRedisMinReplicas is the largest TOPUP_REDIS_MIN_REPLICAS accepted.
const MaxRedisMinReplicas = 16

// maxRedisPrefix is the longest TOPUP_REDIS_PREFIX accepted, in bytes.
const maxRedisPrefix = 64

// loadRedis reads the variables of the fleet's Redis.
func (p *problems) loadRedis(c *Config, raw rawEnv) {
	c.RedisURL = p.optionalSecret(varRedisURL, varRedisURLFile, raw.RedisURL, raw.RedisURLFile)
	if c.RedisURL != "" {
		p.add(varRedisURL, checkRedisURL(c.RedisURL))
	}
	var err error
	c.RedisPrefix, err = parseRedisPrefix(raw.RedisPrefix)
	p.add(varRedisPrefix, err)
	c.RedisMinReplicas, err = parseCount(raw.RedisMinReplicas, MaxRedisMinReplicas)
	p.add(varRedisMinReplicas, err)
}

// optionalSecret is secret for a value that may be left unset: both empty
// means off.
func (p *problems) optionalSecret(name, fileName, value, path string) string {
	switch {
	case value != "" && path != "":
		p.lines = append(p.lines, fmt.Sprintf("%s and %s: both are set, use only one", name, fileName))
		return value
	case path != "":
		s, err := readSecretFile(path)
		p.add(fileName, err)
		return s
	}
	return value
}

// checkRedisURL reports what the Redis ledger would refuse in s, and a
// password too short to be redacted from the logs. Its problems never quote
// the URL: it may hold a password.
func checkRedisURL(s string) error {
	if err := ledger.CheckRedisURL(s); err != nil {
		return fmt.Errorf("%w (redis://, rediss:// or unix://; value not shown)", err)
	}
	if pw := redisPassword(s); pw != "" && tooShort(pw) {
		return fmt.Errorf("the password is shorter than %d characters, too short to be kept out of the logs (value not shown)", minSecretLen)
	}
	return nil
}

// redisPassword is the password s holds, or "".
func redisPassword(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// RedisSecrets are what a log line must never hold of the Redis URL s: the
// URL and its password, when it has credentials (a URL that cannot be
// parsed but holds an "@" counts as having them).
func RedisSecrets(s string) []string {
	pw := redisPassword(s)
	if pw == "" && !strings.Contains(s, "@") { // no credentials: nothing to hide
		return nil
	}
	out := []string{s}
	if pw != "" {
		out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	return out
}

// parseRedisPrefix reads a key prefix: printable, no braces (the hash tag
// is the watchdog's), no spaces.
func parseRedisPrefix(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("must not be empty")
	case len(s) > maxRedisPrefix:
		return "", fmt.Errorf("longer than %d bytes", maxRedisPrefix)
	case strings.ContainsAny(s, "{} \t\r\n"):
		return "", fmt.Errorf("must not hold braces or white space (the watchdog adds the hash tag): %q", s)
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return "", fmt.Errorf("must be printable ASCII: %q", s)
		}
	}
	return s, nil
}

// RedisTarget is what the log may show of the Redis URL s: its scheme, host
// and database, without user or password; "off" when s is empty.
func RedisTarget(s string) string {
	if s == "" {
		return "off"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	if u.Scheme == "unix" {
		return "unix://" + u.Path
	}
	return u.Scheme + "://" + u.Host + u.Path
}
