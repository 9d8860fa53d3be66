package config

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
)

func TestMaskKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"abcd1234", "abcd****"},
		{"abcde", "abcd****"},
		{"abcd", "****"},
		{"ab", "****"},
		{"", "****"},
		{"äöüßxyz", "äöüß****"},
	}
	for _, tt := range tests {
		if got := MaskKey(tt.key); got != tt.want {
			t.Errorf("MaskKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// logged encodes fields as a log line would carry them.
func logged(c Config) map[string]any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.LogFields() {
		f.AddTo(enc)
	}
	return enc.Fields
}

func TestLogFieldsShowTheEffectiveConfiguration(t *testing.T) {
	c := mustLoad(t, with(map[string]string{
		"TOPUP_THRESHOLD":  "12.50",
		"TOPUP_TARGET":     "30.125",
		"TOPUP_NOTIFY_URL": "https://hooks.slack.com/services/T0/B0/XYZ",
	}))
	want := map[string]any{
		"api_key":             "abcd****",
		"base_url":            "https://rest.nexmo.com",
		"auth":                "basic",
		"threshold":           "12.5",
		"target":              "30.125",
		"schedule":            "@every 30s",
		"window":              "15m0s",
		"amount":              "unknown",
		"max_per_day":         int64(5),
		"dry_run":             false,
		"policy":              "threshold",
		"lead_time":           "auto",
		"state_file":          "topup-state.json",
		"request_timeout":     "10s",
		"listen_addr":         ":9090",
		"log_level":           "info",
		"log_format":          "json",
		"allow_insecure_http": false,
		"notify":              "https://hooks.slack.com",
		"notify_format":       "json",
		"redis":               "off",
		"redis_prefix":        "topup-watchdog",
		"redis_min_replicas":  int64(0),
	}
	got := logged(c)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LogFields:\n got  %v\n want %v", got, want)
	}
}

func TestLogFieldsLeaveSecretsOut(t *testing.T) {
	c := mustLoad(t, with(map[string]string{
		"VONAGE_API_KEY":    "KEY1-tail-of-key",
		"VONAGE_API_SECRET": "SECRET-xyzzy",
		"VONAGE_TOPUP_TRX":  "TRX-plugh",
		"TOPUP_NOTIFY_URL":  "https://hooks.slack.com/services/T0/B0/TOKEN-frobozz",
	}))
	text := fmt.Sprint(logged(c))
	for _, s := range []string{"tail-of-key", "SECRET-xyzzy", "TRX-plugh", "TOKEN-frobozz", "/services"} {
		if strings.Contains(text, s) {
			t.Errorf("log fields hold %q: %s", s, text)
		}
	}
}

func TestLogFieldsSayOffForDisabledServerAndNotifications(t *testing.T) {
	got := logged(Config{})
	if got["listen_addr"] != "off" || got["notify"] != "off" {
		t.Errorf("listen_addr %v, notify %v; want off, off", got["listen_addr"], got["notify"])
	}
}
