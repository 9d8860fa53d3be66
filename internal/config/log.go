package config

import (
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
)

// MaskKey shows the first four characters of an API key and masks the rest:
// "abcd1234" gives "abcd****". A key of four characters or fewer is masked
// whole.
func MaskKey(key string) string {
	const mask = "****"
	r := []rune(key)
	if len(r) <= 4 {
		return mask
	}
	return string(r[:4]) + mask
}

// LogFields returns the effective configuration for the "starting" log line.
// The API key is masked, the notification URL is reduced to its scheme and
// host, and the API secret and the trx are left out. Amounts are exact
// decimal strings.
func (c Config) LogFields() []zap.Field {
	return []zap.Field{
		zap.String("api_key", MaskKey(c.APIKey)),
		zap.String("base_url", c.BaseURL),
		zap.String("auth", string(c.Auth)),
		zap.String("threshold", c.Threshold.String()),
		zap.String("target", c.Target.String()),
		zap.String("schedule", c.ScheduleSpec),
		zap.String("window", c.Window.String()),
		zap.String("amount", amountText(c.Amount)),
		zap.Int("max_per_day", c.MaxPerDay),
		zap.Bool("dry_run", c.DryRun),
		zap.String("policy", policyName(c.Predictive)),
		zap.String("lead_time", leadTimeText(c.LeadTime)),
		zap.String("state_file", c.StateFile),
		zap.String("request_timeout", c.RequestTimeout.String()),
		zap.String("listen_addr", offIfEmpty(c.ListenAddr)),
		zap.String("log_level", c.LogLevel.String()),
		zap.String("log_format", c.LogFormat),
		zap.Bool("allow_insecure_http", c.AllowInsecureHTTP),
		zap.String("notify", NotifyTarget(c.NotifyURL)),
		zap.String("notify_format", c.NotifyFormat),
		zap.String("redis", RedisTarget(c.RedisURL)),
		zap.String("redis_prefix", c.RedisPrefix),
		zap.Int("redis_min_replicas", c.RedisMinReplicas),
	}
}

// amountText is the amount, or "unknown" when unset.
func amountText(d decimal.Decimal) string {
	if d.IsZero() {
		return "unknown"
	}
	return d.String()
}

func offIfEmpty(s string) string {
	if s == "" {
		return "off"
	}
	return s
}
