package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// consoleAt is 2026-03-02 09:15:00 UTC: the console logs' fixed clock.
type consoleAt struct{}

func (consoleAt) Now() time.Time                         { return time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC) }
func (consoleAt) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// consoleEnv is a configuration in console format, as a person runs it.
func consoleEnv(baseURL string) map[string]string {
	return map[string]string{
		"VONAGE_API_KEY": testKey, "VONAGE_API_SECRET": testSecret, "VONAGE_TOPUP_TRX": testTRX,
		"VONAGE_BASE_URL": baseURL, "TOPUP_THRESHOLD": "20", "TOPUP_TARGET": "40", "TOPUP_AMOUNT": "25",
		"TOPUP_STATE_FILE": "/var/lib/topup-watchdog/state.json", "TOPUP_LOG_FORMAT": "console",
	}
}

func loadConsole(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.LoadLookup(lookup(env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// In console format the starting line is a short summary (version, the
// amounts, the schedule), then the rest of the configuration on indented
// lines, none wider than 120 columns.
func TestConsoleStartingLineIsASummaryThenTheConfiguration(t *testing.T) {
	cfg := loadConsole(t, consoleEnv("https://rest.nexmo.com"))
	var buf bytes.Buffer
	log := newLogger(cfg, &buf).WithOptions(zap.WithClock(consoleAt{}))
	log.Info("starting", startingFields(cfg)...)
	v, c := buildVersion()
	want := "2026-03-02T09:15:00Z INFO  starting version=" + v + " threshold=20 target=40 amount=25 dry_run=false schedule=\"@every 30s\"\n" +
		"    policy=threshold commit=" + c + " api_key=abcd**** base_url=https://rest.nexmo.com auth=basic window=15m0s\n" +
		"    max_per_day=5 lead_time=auto state_file=/var/lib/topup-watchdog/state.json request_timeout=10s listen_addr=:9090\n" +
		"    log_level=info log_format=console allow_insecure_http=false notify=off notify_format=json redis=off\n" +
		"    redis_prefix=topup-watchdog redis_min_replicas=0\n"
	assertConsole(t, buf.String(), want)
}

// The decision and topup lines of a real check put what was decided and
// the amounts first.
func TestConsoleDecisionAndTopUpLinesLeadWithWhatAndHowMuch(t *testing.T) {
	_, srv := startAccount(t, testAccount("12.34", time.Minute))
	cfg := loadConsole(t, consoleEnv(srv.URL))
	var buf bytes.Buffer
	log := newLogger(cfg, &buf).WithOptions(zap.WithClock(consoleAt{}))
	client, err := newClient(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	w := watchdog.New(client, ledger.NewMemory(ledger.State{}), watchdog.Options{
		Settings: settings(cfg), Interval: 30 * time.Second, Amount: cfg.Amount, Log: log,
		Now: consoleAt{}.Now, Monotonic: func() time.Duration { return time.Hour },
		NewID: func() string { return "3dfc30a73abb78c5" },
	})
	w.Check(context.Background())
	want := "2026-03-02T09:15:00Z INFO  decision action=top_up reason=below_threshold balance=12.34 threshold=20 target=40\n" +
		"    dry_run=false auto_reload=true topups_24h=0 refilling=true window_open=false\n" +
		"2026-03-02T09:15:00Z INFO  topup outcome=succeeded balance_before=12.34\n" +
		"    intent_id=3dfc30a73abb78c5 attempts=1 duration_ms=0\n"
	assertConsole(t, buf.String(), want)
}

// assertConsole compares console output, and holds every line to 120
// columns.
func assertConsole(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("console output:\n%s\nwant:\n%s", got, want)
	}
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 120 {
			t.Errorf("a line of %d columns: %q", len(l), l)
		}
	}
	assertClean(t, "console output", got)
}
