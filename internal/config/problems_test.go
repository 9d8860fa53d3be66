package config

import (
	"encoding/base64"
	"strings"
	"testing"
)

// A secret pasted into the wrong variable is not echoed back by the
// problem of that variable: every problem line is redacted with the
// secrets that were read, valid or not.
func TestProblemsRedactTheSecretsRead(t *testing.T) {
	const (
		secret = "Sup3r-S3cret/+=value"
		trx    = "8ef2447e69604f642ae59363aa5f781b"
		notify = "https://hooks.slack.com/services/T0/B0/TOKEN-frobozz"
	)
	token := base64.StdEncoding.EncodeToString([]byte("abcd1234:" + secret))
	secretFile := writeFile(t, "secret", secret+"\n")
	shortFile := writeFile(t, "short", "abc12\n")
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{
			name: "the secret as the threshold",
			env:  map[string]string{"VONAGE_API_SECRET": secret, "TOPUP_THRESHOLD": secret},
			want: []string{`TOPUP_THRESHOLD: not a decimal number: "[REDACTED]"`},
		},
		{
			name: "the secret of a file in a schedule",
			env:  map[string]string{"VONAGE_API_SECRET": "", "VONAGE_API_SECRET_FILE": secretFile, "TOPUP_SCHEDULE": secret},
			want: []string{`TOPUP_SCHEDULE: "[REDACTED]" is not a cron spec (expected 5 fields, or 6 with seconds; found 1): e.g. "@every 30s" or "*/30 * * * * *"`},
		},
		{
			name: "the trx inside a value",
			env:  map[string]string{"VONAGE_TOPUP_TRX": trx, "TOPUP_LOG_LEVEL": "x" + trx},
			want: []string{`TOPUP_LOG_LEVEL: not debug, info, warn or error: "x[REDACTED]"`},
		},
		{
			name: "the basic token as the window",
			env:  map[string]string{"VONAGE_API_SECRET": secret, "TOPUP_WINDOW": token},
			want: []string{`TOPUP_WINDOW: not a duration such as 90s or 15m: "[REDACTED]"`},
		},
		{
			name: "the notify url as the listen address",
			env:  map[string]string{"TOPUP_NOTIFY_URL": notify, "TOPUP_LISTEN_ADDR": notify},
			want: []string{`TOPUP_LISTEN_ADDR: port is not a number from 0 to 65535: "[REDACTED]"`},
		},
		{
			name: "the trx as the policy and the secret as the lead time",
			env:  map[string]string{"VONAGE_API_SECRET": secret, "VONAGE_TOPUP_TRX": trx, "TOPUP_POLICY": trx, "TOPUP_LEAD_TIME": secret},
			want: []string{
				`TOPUP_POLICY: not threshold or predictive: "[REDACTED]"`,
				`TOPUP_LEAD_TIME: not auto or a duration such as 90s or 15m: "[REDACTED]"`,
			},
		},
		{
			name: "a secret set twice",
			env:  map[string]string{"VONAGE_API_SECRET": secret, "VONAGE_API_SECRET_FILE": secretFile, "TOPUP_DRY_RUN": secret},
			want: []string{
				`VONAGE_API_SECRET and VONAGE_API_SECRET_FILE: both are set, use only one`,
				`TOPUP_DRY_RUN: not a boolean (true or false): "[REDACTED]"`,
			},
		},
		{
			name: "a secret too short",
			env:  map[string]string{"VONAGE_API_SECRET": "", "VONAGE_API_SECRET_FILE": shortFile, "TOPUP_THRESHOLD": "abc12"},
			want: []string{
				`VONAGE_API_SECRET_FILE: file "` + shortFile + `" holds fewer than 8 characters, too short for a Vonage API secret (value not shown)`,
				`TOPUP_THRESHOLD: not a decimal number: "[REDACTED]"`,
			},
		},
		{
			name: "a short secret is redacted only as a whole value",
			env:  map[string]string{"VONAGE_TOPUP_TRX": "a", "TOPUP_LOG_FORMAT": "a", "TOPUP_NOTIFY_FORMAT": "slack-a"},
			want: []string{
				`VONAGE_TOPUP_TRX: shorter than 8 characters, too short for a trx reference (value not shown)`,
				`TOPUP_LOG_FORMAT: not json or console: "[REDACTED]"`,
				`TOPUP_NOTIFY_FORMAT: not json or slack: "slack-a"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblems(t, problemsOf(t, with(tt.env)), tt.want)
		})
	}
}

func TestProblemsOfAGoodSecretAreUnchanged(t *testing.T) {
	got := problemsOf(t, with(map[string]string{"TOPUP_THRESHOLD": "abc"}))
	assertProblems(t, got, []string{`TOPUP_THRESHOLD: not a decimal number: "abc"`})
	if s := strings.Join(got, ""); strings.Contains(s, "REDACTED") {
		t.Errorf("redacted with no secret in it: %s", s)
	}
}
