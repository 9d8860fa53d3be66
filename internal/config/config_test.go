package config

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// minimalEnv is the smallest valid environment.
func minimalEnv() map[string]string {
	return map[string]string{
		"VONAGE_API_KEY":    "abcd1234",
		"VONAGE_API_SECRET": "s3cret-value",
		"VONAGE_TOPUP_TRX":  "trx-value",
		"TOPUP_THRESHOLD":   "25",
	}
}

// with returns minimalEnv with the changes applied.
func with(changes map[string]string) map[string]string {
	m := minimalEnv()
	for k, v := range changes {
		m[k] = v
	}
	return m
}

func getenv(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

func mustLoad(t *testing.T, m map[string]string) Config {
	t.Helper()
	c, err := Load(getenv(m))
	if err != nil {
		t.Fatalf("Load: unexpected error:\n%v", err)
	}
	return c
}

// problemsOf loads m and returns the problems it reports.
func problemsOf(t *testing.T, m map[string]string) []string {
	t.Helper()
	_, err := Load(getenv(m))
	if err == nil {
		t.Fatal("Load: no error, want problems")
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load: error is %T, want *Errors: %v", err, err)
	}
	return errs.Problems
}

func assertProblems(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got  %q\n want %q", got, want)
	}
}

func TestLoadGivesEveryDefault(t *testing.T) {
	c := mustLoad(t, minimalEnv())
	checks := []struct {
		name      string
		got, want any
	}{
		{"APIKey", c.APIKey, "abcd1234"},
		{"APISecret", c.APISecret, "s3cret-value"},
		{"TRX", c.TRX, "trx-value"},
		{"BaseURL", c.BaseURL, "https://rest.nexmo.com"},
		{"Auth", c.Auth, vonage.AuthBasic},
		{"Threshold", c.Threshold.String(), "25"},
		{"Target", c.Target.String(), "25"},
		{"ScheduleSpec", c.ScheduleSpec, "@every 30s"},
		{"Window", c.Window, 15 * time.Minute},
		{"MaxPerDay", c.MaxPerDay, 5},
		{"DryRun", c.DryRun, false},
		{"Predictive", c.Predictive, false},
		{"LeadTime", c.LeadTime, time.Duration(0)},
		{"StateFile", c.StateFile, "topup-state.json"},
		{"RequestTimeout", c.RequestTimeout, 10 * time.Second},
		{"ListenAddr", c.ListenAddr, ":9090"},
		{"LogLevel", c.LogLevel, zapcore.InfoLevel},
		{"LogFormat", c.LogFormat, "json"},
		{"AllowInsecureHTTP", c.AllowInsecureHTTP, false},
		{"NotifyURL", c.NotifyURL, ""},
		{"NotifyFormat", c.NotifyFormat, "json"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	from := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if next := c.Schedule.Next(from); next != from.Add(30*time.Second) {
		t.Errorf("Schedule.Next(%v) = %v, want 30s later", from, next)
	}
}

func TestLoadReadsEveryVariable(t *testing.T) {
	c := mustLoad(t, with(map[string]string{
		"VONAGE_BASE_URL":           "https://api.example.com/vonage/",
		"VONAGE_AUTH":               "query",
		"TOPUP_THRESHOLD":           "12.50",
		"TOPUP_TARGET":              "40.005",
		"TOPUP_SCHEDULE":            "*/5 * * * *",
		"TOPUP_WINDOW":              "20m",
		"TOPUP_AMOUNT":              "50.00",
		"TOPUP_MAX_PER_DAY":         "0",
		"TOPUP_DRY_RUN":             "true",
		"TOPUP_POLICY":              "predictive",
		"TOPUP_LEAD_TIME":           "90s",
		"TOPUP_STATE_FILE":          "/var/lib/topup-watchdog/state.json",
		"TOPUP_REQUEST_TIMEOUT":     "5m",
		"TOPUP_LISTEN_ADDR":         "127.0.0.1:0",
		"TOPUP_LOG_LEVEL":           "debug",
		"TOPUP_LOG_FORMAT":          "console",
		"TOPUP_ALLOW_INSECURE_HTTP": "1",
		"TOPUP_NOTIFY_URL":          "https://hooks.slack.com/services/T0/B0/XYZ",
		"TOPUP_NOTIFY_FORMAT":       "slack",
		"TOPUP_REDIS_URL":           "redis://:a-long-password@redis:6379/2",
		"TOPUP_REDIS_PREFIX":        "team-a",
		"TOPUP_REDIS_MIN_REPLICAS":  "1",
	}))
	want := Config{
		APIKey: "abcd1234", APISecret: "s3cret-value", TRX: "trx-value",
		BaseURL: "https://api.example.com/vonage", Auth: vonage.AuthQuery,
		Threshold: decimal.RequireFromString("12.5"), Target: decimal.RequireFromString("40.005"),
		ScheduleSpec: "*/5 * * * *", Schedule: c.Schedule,
		Window: 20 * time.Minute, MaxPerDay: 0, DryRun: true, Predictive: true, LeadTime: 90 * time.Second,
		StateFile: "/var/lib/topup-watchdog/state.json", RequestTimeout: 5 * time.Minute,
		ListenAddr: "127.0.0.1:0", LogLevel: zapcore.DebugLevel, LogFormat: "console",
		AllowInsecureHTTP: true, NotifyURL: "https://hooks.slack.com/services/T0/B0/XYZ",
		NotifyFormat: "slack", RedisURL: "redis://:a-long-password@redis:6379/2", RedisPrefix: "team-a",
		RedisMinReplicas: 1,
	}
	if !c.Threshold.Equal(want.Threshold) || !c.Target.Equal(want.Target) || !c.Amount.Equal(decimal.RequireFromString("50")) {
		t.Errorf("threshold, target, amount = %s, %s, %s; want %s, %s, 50", c.Threshold, c.Target, c.Amount, want.Threshold, want.Target)
	}
	c.Threshold, c.Target, c.Amount = want.Threshold, want.Target, want.Amount
	if c != want {
		t.Errorf("Load:\n got  %+v\n want %+v", c, want)
	}
}

func TestLoadTargetMayEqualThreshold(t *testing.T) {
	c := mustLoad(t, with(map[string]string{"TOPUP_THRESHOLD": "10.0", "TOPUP_TARGET": "10"}))
	if !c.Target.Equal(c.Threshold) {
		t.Errorf("target %s, threshold %s: want equal", c.Target, c.Threshold)
	}
}

func TestLoadLookupTellsEmptyListenAddrFromUnset(t *testing.T) {
	m := minimalEnv()
	lookup := func(name string) (string, bool) {
		if name == "TOPUP_LISTEN_ADDR" {
			return "", true
		}
		v, ok := m[name]
		return v, ok
	}
	c, err := LoadLookup(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "" {
		t.Errorf("set and empty: ListenAddr = %q, want empty (off)", c.ListenAddr)
	}
	c, err = LoadLookup(func(name string) (string, bool) { v, ok := m[name]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != ":9090" {
		t.Errorf("unset: ListenAddr = %q, want :9090", c.ListenAddr)
	}
}

func TestVariablesListsEveryVariableInTableOrder(t *testing.T) {
	want := []string{
		"VONAGE_API_KEY", "VONAGE_API_SECRET", "VONAGE_API_SECRET_FILE",
		"VONAGE_TOPUP_TRX", "VONAGE_TOPUP_TRX_FILE", "VONAGE_BASE_URL", "VONAGE_AUTH",
		"TOPUP_THRESHOLD", "TOPUP_TARGET", "TOPUP_SCHEDULE", "TOPUP_WINDOW", "TOPUP_AMOUNT",
		"TOPUP_MAX_PER_DAY", "TOPUP_DRY_RUN", "TOPUP_POLICY", "TOPUP_LEAD_TIME", "TOPUP_STATE_FILE", "TOPUP_REQUEST_TIMEOUT",
		"TOPUP_LISTEN_ADDR", "TOPUP_LOG_LEVEL", "TOPUP_LOG_FORMAT",
		"TOPUP_ALLOW_INSECURE_HTTP", "TOPUP_NOTIFY_URL", "TOPUP_NOTIFY_FORMAT",
		"TOPUP_REDIS_URL", "TOPUP_REDIS_URL_FILE", "TOPUP_REDIS_PREFIX", "TOPUP_REDIS_MIN_REPLICAS",
	}
	if got := Variables(); !slices.Equal(got, want) {
		t.Errorf("Variables:\n got  %q\n want %q", got, want)
	}
}

func TestLoadReadsOnlyItsVariables(t *testing.T) {
	var asked []string
	_, _ = Load(func(name string) string {
		asked = append(asked, name)
		return minimalEnv()[name]
	})
	for _, name := range asked {
		if !slices.Contains(Variables(), name) {
			t.Errorf("Load read %s, which Variables does not list", name)
		}
	}
}

func TestLoadIgnoresTheProcessEnvironment(t *testing.T) {
	t.Setenv("TOPUP_THRESHOLD", "99")
	m := minimalEnv()
	delete(m, "TOPUP_THRESHOLD")
	assertProblems(t, problemsOf(t, m), []string{`TOPUP_THRESHOLD: required, but empty or unset`})
}
