package config

import (
	"testing"
)

func TestLoadBadConfigs(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string
		noStart bool // env replaces minimalEnv instead of changing it
	}{
		{
			name: "nothing set", noStart: true, env: map[string]string{},
			want: []string{
				`VONAGE_API_KEY: required, but empty or unset`,
				`VONAGE_API_SECRET or VONAGE_API_SECRET_FILE: one is required, but both are empty or unset`,
				`VONAGE_TOPUP_TRX or VONAGE_TOPUP_TRX_FILE: one is required, but both are empty or unset`,
				`TOPUP_THRESHOLD: required, but empty or unset`,
			},
		},
		{name: "empty api key", env: map[string]string{"VONAGE_API_KEY": ""}, want: []string{`VONAGE_API_KEY: required, but empty or unset`}},
		{name: "secret twice", env: map[string]string{"VONAGE_API_SECRET_FILE": "/run/secrets/x"}, want: []string{`VONAGE_API_SECRET and VONAGE_API_SECRET_FILE: both are set, use only one`}},
		{name: "trx twice", env: map[string]string{"VONAGE_TOPUP_TRX_FILE": "/run/secrets/x"}, want: []string{`VONAGE_TOPUP_TRX and VONAGE_TOPUP_TRX_FILE: both are set, use only one`}},
		{name: "base url without scheme", env: map[string]string{"VONAGE_BASE_URL": "rest.nexmo.com"}, want: []string{`VONAGE_BASE_URL: not an absolute http or https URL: "rest.nexmo.com"`}},
		{name: "base url ftp", env: map[string]string{"VONAGE_BASE_URL": "ftp://rest.nexmo.com"}, want: []string{`VONAGE_BASE_URL: not an absolute http or https URL: "ftp://rest.nexmo.com"`}},
		{name: "base url without host", env: map[string]string{"VONAGE_BASE_URL": "https://"}, want: []string{`VONAGE_BASE_URL: not an absolute http or https URL: "https://"`}},
		{name: "base url with port only", env: map[string]string{"VONAGE_BASE_URL": "https://:443"}, want: []string{`VONAGE_BASE_URL: not an absolute http or https URL: "https://:443"`}},
		{name: "base url unparsable", env: map[string]string{"VONAGE_BASE_URL": "https://exa mple.com"}, want: []string{`VONAGE_BASE_URL: not an absolute http or https URL: "https://exa mple.com"`}},
		{name: "base url with user info", env: map[string]string{"VONAGE_BASE_URL": "https://key:pw@rest.nexmo.com"}, want: []string{`VONAGE_BASE_URL: must not carry user info, a query or a fragment (value not shown)`}},
		{name: "base url with query", env: map[string]string{"VONAGE_BASE_URL": "https://rest.nexmo.com/?a=b"}, want: []string{`VONAGE_BASE_URL: must not carry user info, a query or a fragment (value not shown)`}},
		{name: "base url with empty query", env: map[string]string{"VONAGE_BASE_URL": "https://rest.nexmo.com?"}, want: []string{`VONAGE_BASE_URL: must not carry user info, a query or a fragment (value not shown)`}},
		{name: "base url with fragment", env: map[string]string{"VONAGE_BASE_URL": "https://rest.nexmo.com#"}, want: []string{`VONAGE_BASE_URL: must not carry user info, a query or a fragment (value not shown)`}},
		{name: "base url plain http", env: map[string]string{"VONAGE_BASE_URL": "http://rest.nexmo.com"}, want: []string{`VONAGE_BASE_URL: http:// to "rest.nexmo.com" is refused (not loopback); use https:// or set TOPUP_ALLOW_INSECURE_HTTP=true`}},
		{name: "auth", env: map[string]string{"VONAGE_AUTH": "bearer"}, want: []string{`VONAGE_AUTH: not basic or query: "bearer"`}},
		{name: "auth upper case", env: map[string]string{"VONAGE_AUTH": "Basic"}, want: []string{`VONAGE_AUTH: not basic or query: "Basic"`}},
		{name: "threshold empty", env: map[string]string{"TOPUP_THRESHOLD": ""}, want: []string{`TOPUP_THRESHOLD: required, but empty or unset`}},
		{name: "threshold word", env: map[string]string{"TOPUP_THRESHOLD": "abc"}, want: []string{`TOPUP_THRESHOLD: not a decimal number: "abc"`}},
		{name: "threshold exponent", env: map[string]string{"TOPUP_THRESHOLD": "1e3"}, want: []string{`TOPUP_THRESHOLD: not a decimal number: "1e3"`}},
		{name: "threshold NaN", env: map[string]string{"TOPUP_THRESHOLD": "NaN"}, want: []string{`TOPUP_THRESHOLD: not a decimal number: "NaN"`}},
		{name: "threshold Inf", env: map[string]string{"TOPUP_THRESHOLD": "Inf"}, want: []string{`TOPUP_THRESHOLD: not a decimal number: "Inf"`}},
		{name: "threshold comma", env: map[string]string{"TOPUP_THRESHOLD": "12,50"}, want: []string{`TOPUP_THRESHOLD: not a decimal number: "12,50"`}},
		{name: "threshold plus", env: map[string]string{"TOPUP_THRESHOLD": "+25"}, want: []string{`TOPUP_THRESHOLD: not a decimal number: "+25"`}},
		{name: "threshold trailing dot", env: map[string]string{"TOPUP_THRESHOLD": "25."}, want: []string{`TOPUP_THRESHOLD: not a decimal number: "25."`}},
		{name: "threshold space", env: map[string]string{"TOPUP_THRESHOLD": " 25"}, want: []string{`TOPUP_THRESHOLD: not a decimal number: " 25"`}},
		{name: "threshold zero", env: map[string]string{"TOPUP_THRESHOLD": "0.00"}, want: []string{`TOPUP_THRESHOLD: must be greater than 0: "0.00"`}},
		{name: "threshold negative", env: map[string]string{"TOPUP_THRESHOLD": "-5"}, want: []string{`TOPUP_THRESHOLD: must be greater than 0: "-5"`}},
		{name: "target below threshold", env: map[string]string{"TOPUP_THRESHOLD": "10", "TOPUP_TARGET": "5"}, want: []string{`TOPUP_TARGET: 5 is below TOPUP_THRESHOLD 10`}},
		{name: "target word", env: map[string]string{"TOPUP_TARGET": "lots"}, want: []string{`TOPUP_TARGET: not a decimal number: "lots"`}},
		{
			name: "target not compared with a bad threshold", env: map[string]string{"TOPUP_THRESHOLD": "x", "TOPUP_TARGET": "-1"},
			want: []string{`TOPUP_THRESHOLD: not a decimal number: "x"`},
		},
		{name: "schedule garbage", env: map[string]string{"TOPUP_SCHEDULE": "garbage"}, want: []string{`TOPUP_SCHEDULE: "garbage" is not a cron spec (expected 5 fields, or 6 with seconds; found 1): e.g. "@every 30s" or "*/30 * * * * *"`}},
		{name: "schedule out of range", env: map[string]string{"TOPUP_SCHEDULE": "0 25 * * *"}, want: []string{`TOPUP_SCHEDULE: "0 25 * * *" is not a cron spec (end of range (25) above maximum (23): 25): e.g. "@every 30s" or "*/30 * * * * *"`}},
		{name: "schedule a field short", env: map[string]string{"TOPUP_SCHEDULE": "*/70 * * *"}, want: []string{`TOPUP_SCHEDULE: "*/70 * * *" is not a cron spec (expected 5 fields, or 6 with seconds; found 4): e.g. "@every 30s" or "*/30 * * * * *"`}},
		{name: "schedule a field too many", env: map[string]string{"TOPUP_SCHEDULE": "0 */5 * * * * *"}, want: []string{`TOPUP_SCHEDULE: "0 */5 * * * * *" is not a cron spec (expected 5 fields, or 6 with seconds; found 7): e.g. "@every 30s" or "*/30 * * * * *"`}},
		{name: "schedule descriptor misspelt", env: map[string]string{"TOPUP_SCHEDULE": "@evry 30s"}, want: []string{`TOPUP_SCHEDULE: "@evry 30s" is not a descriptor (unrecognized descriptor: @evry 30s): e.g. "@every 30s" or "*/30 * * * * *"`}},
		{name: "schedule every 100ms", env: map[string]string{"TOPUP_SCHEDULE": "@every 100ms"}, want: []string{`TOPUP_SCHEDULE: @every below 1s: "@every 100ms"`}},
		{name: "schedule never fires", env: map[string]string{"TOPUP_SCHEDULE": "0 0 30 2 *"}, want: []string{`TOPUP_SCHEDULE: never fires: "0 0 30 2 *"`}},
		{name: "schedule bad zone", env: map[string]string{"TOPUP_SCHEDULE": "CRON_TZ=Mars/Olympus 0 9 * * *"}, want: []string{`TOPUP_SCHEDULE: "CRON_TZ=Mars/Olympus 0 9 * * *" is not a cron spec (provided bad location Mars/Olympus: unknown time zone Mars/Olympus): e.g. "@every 30s" or "*/30 * * * * *"`}},
		{name: "schedule zone alone", env: map[string]string{"TOPUP_SCHEDULE": "CRON_TZ=UTC"}, want: []string{`TOPUP_SCHEDULE: "CRON_TZ=UTC" has a time zone and no schedule after it: e.g. "CRON_TZ=Europe/Berlin 0 9 * * *"`}},
		{name: "window word", env: map[string]string{"TOPUP_WINDOW": "xyz"}, want: []string{`TOPUP_WINDOW: not a duration such as 90s or 15m: "xyz"`}},
		{name: "window without unit", env: map[string]string{"TOPUP_WINDOW": "15"}, want: []string{`TOPUP_WINDOW: not a duration such as 90s or 15m: "15"`}},
		{name: "window zero", env: map[string]string{"TOPUP_WINDOW": "0s"}, want: []string{`TOPUP_WINDOW: must be greater than 0: "0s"`}},
		{name: "window negative", env: map[string]string{"TOPUP_WINDOW": "-1m"}, want: []string{`TOPUP_WINDOW: must be greater than 0: "-1m"`}},
		{name: "window over a day", env: map[string]string{"TOPUP_WINDOW": "2000000h"}, want: []string{`TOPUP_WINDOW: must be at most 24h: "2000000h"`}},
		{name: "cap negative", env: map[string]string{"TOPUP_MAX_PER_DAY": "-1"}, want: []string{`TOPUP_MAX_PER_DAY: must not be negative: "-1"`}},
		{name: "cap fraction", env: map[string]string{"TOPUP_MAX_PER_DAY": "1.5"}, want: []string{`TOPUP_MAX_PER_DAY: not a whole number: "1.5"`}},
		{name: "cap huge", env: map[string]string{"TOPUP_MAX_PER_DAY": "99999999999999999999"}, want: []string{`TOPUP_MAX_PER_DAY: out of range: "99999999999999999999"`}},
		{name: "cap over the ledger's bound", env: map[string]string{"TOPUP_MAX_PER_DAY": "1001"}, want: []string{`TOPUP_MAX_PER_DAY: must be at most 1000: "1001"`}},
		{name: "amount word", env: map[string]string{"TOPUP_AMOUNT": "fifty"}, want: []string{`TOPUP_AMOUNT: not a decimal number: "fifty"`}},
		{name: "amount zero", env: map[string]string{"TOPUP_AMOUNT": "0"}, want: []string{`TOPUP_AMOUNT: must be at least 1 (EUR, the amount of the auto-reload payment): "0"`}},
		{name: "amount negative", env: map[string]string{"TOPUP_AMOUNT": "-50"}, want: []string{`TOPUP_AMOUNT: must be at least 1 (EUR, the amount of the auto-reload payment): "-50"`}},
		{name: "amount of cents", env: map[string]string{"TOPUP_AMOUNT": "0.0000001"}, want: []string{`TOPUP_AMOUNT: must be at least 1 (EUR, the amount of the auto-reload payment): "0.0000001"`}},
		{name: "request timeout under a second", env: map[string]string{"TOPUP_REQUEST_TIMEOUT": "1ns", "TOPUP_WINDOW": "4ns"},
			want: []string{`TOPUP_REQUEST_TIMEOUT: must be at least 1s: "1ns"`}},
		{name: "window shorter than four request timeouts", env: map[string]string{"TOPUP_WINDOW": "30s", "TOPUP_REQUEST_TIMEOUT": "10s"},
			want: []string{`TOPUP_WINDOW: 30s cannot hold one top-up: an attempt may take TOPUP_REQUEST_TIMEOUT 10s, and no attempt starts after a quarter of the window; use at least 40s`}},
		{name: "window for the longest request timeout", env: map[string]string{"TOPUP_WINDOW": "15m", "TOPUP_REQUEST_TIMEOUT": "5m"},
			want: []string{`TOPUP_WINDOW: 15m cannot hold one top-up: an attempt may take TOPUP_REQUEST_TIMEOUT 5m, and no attempt starts after a quarter of the window; use at least 20m`}},
		{name: "dry run", env: map[string]string{"TOPUP_DRY_RUN": "yes"}, want: []string{`TOPUP_DRY_RUN: not a boolean (true or false): "yes"`}},
		{name: "policy", env: map[string]string{"TOPUP_POLICY": "smart"}, want: []string{`TOPUP_POLICY: not threshold or predictive: "smart"`}},
		{name: "policy upper case", env: map[string]string{"TOPUP_POLICY": "Predictive"}, want: []string{`TOPUP_POLICY: not threshold or predictive: "Predictive"`}},
		{name: "lead time word", env: map[string]string{"TOPUP_LEAD_TIME": "soon"}, want: []string{`TOPUP_LEAD_TIME: not auto or a duration such as 90s or 15m: "soon"`}},
		{name: "lead time without unit", env: map[string]string{"TOPUP_LEAD_TIME": "600"}, want: []string{`TOPUP_LEAD_TIME: not auto or a duration such as 90s or 15m: "600"`}},
		{name: "lead time auto upper case", env: map[string]string{"TOPUP_LEAD_TIME": "AUTO"}, want: []string{`TOPUP_LEAD_TIME: not auto or a duration such as 90s or 15m: "AUTO"`}},
		{name: "lead time zero", env: map[string]string{"TOPUP_LEAD_TIME": "0s"}, want: []string{`TOPUP_LEAD_TIME: must be greater than 0 (or auto): "0s"`}},
		{name: "lead time negative", env: map[string]string{"TOPUP_LEAD_TIME": "-10m"}, want: []string{`TOPUP_LEAD_TIME: must be greater than 0 (or auto): "-10m"`}},
		{name: "lead time over a day", env: map[string]string{"TOPUP_LEAD_TIME": "25h"}, want: []string{`TOPUP_LEAD_TIME: must be at most 24h: "25h"`}},
		{name: "state file blank", env: map[string]string{"TOPUP_STATE_FILE": "  "}, want: []string{`TOPUP_STATE_FILE: not a path: "  "`}},
		{name: "request timeout zero", env: map[string]string{"TOPUP_REQUEST_TIMEOUT": "0"}, want: []string{`TOPUP_REQUEST_TIMEOUT: must be greater than 0: "0"`}},
		{name: "request timeout too long", env: map[string]string{"TOPUP_REQUEST_TIMEOUT": "301s"}, want: []string{`TOPUP_REQUEST_TIMEOUT: must be at most 5m: "301s"`}},
		{name: "request timeout word", env: map[string]string{"TOPUP_REQUEST_TIMEOUT": "ten"}, want: []string{`TOPUP_REQUEST_TIMEOUT: not a duration such as 90s or 15m: "ten"`}},
		{name: "listen port only", env: map[string]string{"TOPUP_LISTEN_ADDR": "9090"}, want: []string{`TOPUP_LISTEN_ADDR: not host:port such as :9090 or 127.0.0.1:9090: "9090"`}},
		{name: "listen named port", env: map[string]string{"TOPUP_LISTEN_ADDR": "localhost:http"}, want: []string{`TOPUP_LISTEN_ADDR: port is not a number from 0 to 65535: "localhost:http"`}},
		{name: "listen port too big", env: map[string]string{"TOPUP_LISTEN_ADDR": ":65536"}, want: []string{`TOPUP_LISTEN_ADDR: port is not a number from 0 to 65535: ":65536"`}},
		{name: "log level", env: map[string]string{"TOPUP_LOG_LEVEL": "verbose"}, want: []string{`TOPUP_LOG_LEVEL: not debug, info, warn or error: "verbose"`}},
		{name: "log level fatal", env: map[string]string{"TOPUP_LOG_LEVEL": "fatal"}, want: []string{`TOPUP_LOG_LEVEL: not debug, info, warn or error: "fatal"`}},
		{name: "log format", env: map[string]string{"TOPUP_LOG_FORMAT": "text"}, want: []string{`TOPUP_LOG_FORMAT: not json or console: "text"`}},
		{name: "allow insecure", env: map[string]string{"TOPUP_ALLOW_INSECURE_HTTP": "maybe"}, want: []string{`TOPUP_ALLOW_INSECURE_HTTP: not a boolean (true or false): "maybe"`}},
		{name: "notify not a url", env: map[string]string{"TOPUP_NOTIFY_URL": "hooks.slack.com/services/T0/B0/XYZ"}, want: []string{`TOPUP_NOTIFY_URL: not an absolute http or https URL (value not shown, it may carry a token)`}},
		{name: "notify plain http", env: map[string]string{"TOPUP_NOTIFY_URL": "http://hooks.example.com/T0/XYZ"}, want: []string{`TOPUP_NOTIFY_URL: http:// to "hooks.example.com" is refused (not loopback); use https:// or set TOPUP_ALLOW_INSECURE_HTTP=true`}},
		{name: "notify format", env: map[string]string{"TOPUP_NOTIFY_FORMAT": "xml"}, want: []string{`TOPUP_NOTIFY_FORMAT: not json or slack: "xml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.env
			if !tt.noStart {
				m = with(tt.env)
			}
			assertProblems(t, problemsOf(t, m), tt.want)
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	got := problemsOf(t, map[string]string{
		"VONAGE_API_SECRET":         "s3cret-value",
		"VONAGE_API_SECRET_FILE":    "/run/secrets/vonage",
		"VONAGE_TOPUP_TRX":          "trx-value",
		"VONAGE_BASE_URL":           "http://rest.nexmo.com",
		"VONAGE_AUTH":               "token",
		"TOPUP_THRESHOLD":           "10",
		"TOPUP_TARGET":              "5",
		"TOPUP_SCHEDULE":            "every minute",
		"TOPUP_WINDOW":              "soon",
		"TOPUP_MAX_PER_DAY":         "-2",
		"TOPUP_DRY_RUN":             "perhaps",
		"TOPUP_POLICY":              "clever",
		"TOPUP_LEAD_TIME":           "0",
		"TOPUP_REQUEST_TIMEOUT":     "1h",
		"TOPUP_LISTEN_ADDR":         "everywhere",
		"TOPUP_LOG_LEVEL":           "loud",
		"TOPUP_LOG_FORMAT":          "xml",
		"TOPUP_ALLOW_INSECURE_HTTP": "sure",
		"TOPUP_NOTIFY_URL":          "slack",
		"TOPUP_NOTIFY_FORMAT":       "teams",
	})
	assertProblems(t, got, []string{
		`VONAGE_API_KEY: required, but empty or unset`,
		`VONAGE_API_SECRET and VONAGE_API_SECRET_FILE: both are set, use only one`,
		`VONAGE_BASE_URL: http:// to "rest.nexmo.com" is refused (not loopback); use https:// or set TOPUP_ALLOW_INSECURE_HTTP=true`,
		`VONAGE_AUTH: not basic or query: "token"`,
		`TOPUP_TARGET: 5 is below TOPUP_THRESHOLD 10`,
		`TOPUP_SCHEDULE: "every minute" is not a cron spec (expected 5 fields, or 6 with seconds; found 2): e.g. "@every 30s" or "*/30 * * * * *"`,
		`TOPUP_WINDOW: not a duration such as 90s or 15m: "soon"`,
		`TOPUP_MAX_PER_DAY: must not be negative: "-2"`,
		`TOPUP_DRY_RUN: not a boolean (true or false): "perhaps"`,
		`TOPUP_POLICY: not threshold or predictive: "clever"`,
		`TOPUP_LEAD_TIME: must be greater than 0 (or auto): "0"`,
		`TOPUP_REQUEST_TIMEOUT: must be at most 5m: "1h"`,
		`TOPUP_LISTEN_ADDR: not host:port such as :9090 or 127.0.0.1:9090: "everywhere"`,
		`TOPUP_LOG_LEVEL: not debug, info, warn or error: "loud"`,
		`TOPUP_LOG_FORMAT: not json or console: "xml"`,
		`TOPUP_ALLOW_INSECURE_HTTP: not a boolean (true or false): "sure"`,
		`TOPUP_NOTIFY_URL: not an absolute http or https URL (value not shown, it may carry a token)`,
		`TOPUP_NOTIFY_FORMAT: not json or slack: "teams"`,
	})
}

func TestErrorsJoinsProblemsOnePerLine(t *testing.T) {
	err := &Errors{Problems: []string{"A: one", "B: two"}}
	if got, want := err.Error(), "A: one\nB: two"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
