package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/backtest"
	"github.com/topup-watchdog/topup-watchdog/internal/bintest"
)

// readmeBacktestFlags are the settings of the README's table, as flags.
var readmeBacktestFlags = []string{"--threshold", "25", "--amount", "50", "--max-per-day", "10"}

// writeFile writes content to a file named name in a temporary folder and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// burstTrace is three hours of one-minute rows at 0.10 EUR a minute, with
// 20 EUR a minute for five minutes in the second hour.
func burstTrace(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,spend\n")
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for m := range 180 {
		spend := "0.10"
		if m >= 80 && m < 85 {
			spend = "20"
		}
		fmt.Fprintf(&b, "%s,%s\n", t0.Add(time.Duration(m+1)*time.Minute).Format(time.RFC3339), spend)
	}
	return writeFile(t, "burst.csv", b.String())
}

func backtestArgs(trace string, more ...string) []string {
	return append(append([]string{"backtest", "--trace", trace}, readmeBacktestFlags...), more...)
}

func TestBacktestPrintsATableAndAChart(t *testing.T) {
	code, stdout, stderr := runOnce(t, nil, backtestArgs(burstTrace(t))...)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"strategy", "top-ups", backtest.VonageAutoReload, backtest.WatchdogThreshold,
		backtest.WatchdogPredictive, "balance in EUR", "start balance 75.00", "max per day 10"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "\x1b[") {
		t.Error("colour codes in output that is not a terminal")
	}
}

// backtestJSON is RenderJSON's output, as a script reads it.
type backtestJSON struct {
	Strategies []struct {
		Name                  string  `json:"name"`
		TopUps                *int    `json:"topups"`
		MinutesBelowThreshold float64 `json:"minutes_below_threshold"`
		MinutesAtZero         float64 `json:"minutes_at_zero"`
		LowestBalance         string  `json:"lowest_balance"`
	} `json:"strategies"`
}

func decodeBacktest(t *testing.T, stdout string) backtestJSON {
	t.Helper()
	var out backtestJSON
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(&out); err != nil || dec.More() {
		t.Fatalf("--json output is not one JSON object (%v):\n%s", err, stdout)
	}
	return out
}

func TestBacktestJSONNamesTheThreeStrategies(t *testing.T) {
	code, stdout, stderr := runOnce(t, nil, backtestArgs(burstTrace(t), "--json")...)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	out := decodeBacktest(t, stdout)
	want := []string{backtest.VonageAutoReload, backtest.WatchdogThreshold, backtest.WatchdogPredictive}
	if len(out.Strategies) != len(want) {
		t.Fatalf("%d strategies, want %v:\n%s", len(out.Strategies), want, stdout)
	}
	for i, s := range out.Strategies {
		if _, err := decimal.NewFromString(s.LowestBalance); s.Name != want[i] || s.TopUps == nil || err != nil {
			t.Errorf("strategy %d: %+v, want %s with its top-ups and a decimal lowest balance", i, s, want[i])
		}
	}
	// Five minutes at 20 EUR a minute from about 75: Vonage's check every
	// 6m lets it run dry, the watchdog's every 30s does not.
	if v, w := out.Strategies[0], out.Strategies[2]; v.MinutesAtZero == 0 || w.MinutesAtZero != 0 || *w.TopUps == 0 {
		t.Errorf("auto-reload %v min at zero, predictive %v with %d top-ups", v.MinutesAtZero, w.MinutesAtZero, *w.TopUps)
	}
}

// The settings come from the TOPUP_ variables when set, and the flags win.
func TestBacktestTakesItsDefaultsFromTheEnvironment(t *testing.T) {
	trace := burstTrace(t)
	env := map[string]string{
		"TOPUP_THRESHOLD": "25", "TOPUP_TARGET": "30", "TOPUP_AMOUNT": "50", "TOPUP_MAX_PER_DAY": "7",
		"TOPUP_WINDOW": "10m", "TOPUP_LEAD_TIME": "3m", "TOPUP_SCHEDULE": "@every 1m",
	}
	code, stdout, stderr := runOnce(t, env, "backtest", "--trace", trace)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"threshold 25.00, target 30.00, amount 50.00, start balance 80.00",
		"every 1m,", "lead time 3m", "window 10m, max per day 7"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("settings lack %q:\n%s", want, stdout)
		}
	}
	env["TOPUP_SCHEDULE"] = "0 */2 * * * *" // a cron spec: its interval
	_, stdout, _ = runOnce(t, env, "backtest", "--trace", trace, "--target", "40", "--lead-time", "auto", "--window", "5m")
	for _, want := range []string{"target 40.00", "start balance 90.00", "every 2m,", "lead time auto", "window 5m"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("with flags over the variables, settings lack %q:\n%s", want, stdout)
		}
	}
	// A flag that overrides a bad variable makes it harmless.
	env["TOPUP_WINDOW"] = "soon"
	if code, _, stderr := runOnce(t, env, "backtest", "--trace", trace, "--window", "5m", "--json"); code != exitOK {
		t.Errorf("a bad TOPUP_WINDOW under --window: exit %d, %q", code, stderr)
	}
}

// A log's first balance is the start balance.
func TestBacktestStartsAtTheLogsFirstBalance(t *testing.T) {
	var b strings.Builder
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		fmt.Fprintf(&b, `{"level":"info","ts":%q,"msg":"decision","balance":"%d.50","action":"none"}`+"\n",
			t0.Add(time.Duration(i)*30*time.Second).Format(time.RFC3339), 40-i)
	}
	code, stdout, stderr := runOnce(t, nil, backtestArgs(writeFile(t, "watchdog.log", b.String()))...)
	if code != exitOK || !strings.Contains(stdout, "start balance 40.50") {
		t.Errorf("exit %d, stderr %q; output:\n%s", code, stderr, stdout)
	}
}

// Each kind of bad trace is refused with its file and line (or the file
// alone when the whole file is the problem): exit 2, one line, no stack.
func TestBacktestRefusesBadTracesWithTheFileAndLine(t *testing.T) {
	row := func(minute int, spend string) string {
		return time.Date(2026, 3, 2, 0, minute, 0, 0, time.UTC).Format(time.RFC3339) + "," + spend + "\n"
	}
	decision := `{"ts":"2026-03-02T00:00:00Z","msg":"topup","balance_before":"20"}` + "\n"
	for _, c := range []struct {
		name, file, content, where string
	}{
		{"unsorted", "unsorted.csv", row(1, "1") + row(3, "1") + row(2, "1"), "unsorted.csv:3: "},
		{"repeated time", "repeated.csv", "timestamp,spend\n" + row(1, "1") + row(1, "1"), "repeated.csv:3: "},
		{"negative spend", "negative.csv", row(1, "1") + row(2, "-0.5"), "negative.csv:2: "},
		{"malformed row", "malformed.csv", row(1, "1") + "2026-03-02T00:02:00Z;1\n", "malformed.csv:2: "},
		{"empty file", "empty.csv", "", "empty.csv: "},
		{"log without decisions", "topups.log", decision, "topups.log: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.file, c.content)
			code, stdout, stderr := runOnce(t, nil, backtestArgs(path)...)
			wantLine := programName + " backtest: " + path[:len(path)-len(c.file)] + c.where
			if code != exitBadConfig || stdout != "" || !strings.HasPrefix(stderr, wantLine) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line starting %q", code, stdout, stderr, wantLine)
			}
			for _, bad := range []string{"goroutine ", "panic", ".go:"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr holds %q: %s", bad, stderr)
				}
			}
		})
	}
}

// The built binary exits 2 on a bad trace, naming its file and line.
func TestBacktestBinaryExits2OnABadTrace(t *testing.T) {
	path := writeFile(t, "bad.csv", "2026-03-02T00:01:00Z,1\n2026-03-02T00:02:00Z,minus one\n")
	cmd := exec.Command(bintest.Path(t), backtestArgs(path)...)
	cmd.Env = environ(nil)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitBadConfig || !strings.Contains(string(out), path+":2: ") {
		t.Errorf("exit %v, output %q; want exit 2 naming %s:2", err, out, path)
	}
}

// Missing or bad settings are refused, exit 2, the line naming the flag or
// the variable.
func TestBacktestRefusesBadSettings(t *testing.T) {
	trace := burstTrace(t)
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no trace", nil, []string{"backtest", "--threshold", "25", "--amount", "50"}, "--trace is required"},
		{"no threshold", nil, []string{"backtest", "--trace", trace, "--amount", "50"}, "--threshold is required (or TOPUP_THRESHOLD)"},
		{"no amount", map[string]string{"TOPUP_THRESHOLD": "25"}, []string{"backtest", "--trace", trace}, "--amount is required (or TOPUP_AMOUNT)"},
		{"bad variable", map[string]string{"TOPUP_WINDOW": "soon"}, backtestArgs(trace), `TOPUP_WINDOW: not a duration above 0 such as 90s or 15m: "soon"`},
		{"bad schedule", map[string]string{"TOPUP_SCHEDULE": "every minute"}, backtestArgs(trace), `TOPUP_SCHEDULE: "every minute" is not a cron spec`},
		{"time zone alone", map[string]string{"TOPUP_SCHEDULE": "CRON_TZ=UTC"}, backtestArgs(trace), `TOPUP_SCHEDULE: "CRON_TZ=UTC" has a time zone and no schedule after it`},
		{"every below a second", map[string]string{"TOPUP_SCHEDULE": "@every 100ms"}, backtestArgs(trace), "TOPUP_SCHEDULE: @every below 1s"},
		{"schedule never fires", map[string]string{"TOPUP_SCHEDULE": "0 0 30 2 *"}, backtestArgs(trace), `TOPUP_SCHEDULE: never fires: "0 0 30 2 *"`},
		{"target below threshold", nil, backtestArgs(trace, "--target", "10"), "--target: 10 is below the threshold 25"},
		{"zero interval", nil, backtestArgs(trace, "--every", "0s"), "--every: must be greater than 0"},
		{"bad duration", nil, backtestArgs(trace, "--every", "often"), `invalid value "often" for flag -every`},
		{"bad lead time", nil, backtestArgs(trace, "--lead-time", "soon"), `invalid value "soon" for flag -lead-time`},
		{"bad amount", nil, backtestArgs(trace, "--amount", "1e3"), `invalid value "1e3" for flag -amount: not a decimal number`},
		{"missing file", nil, backtestArgs(filepath.Join(t.TempDir(), "none.csv")), "none.csv: no such file or directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runOnce(t, c.env, c.args...)
			if code != exitBadConfig || stdout != "" || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 saying %q", code, stdout, stderr, c.want)
			}
		})
	}
}

// The README's table of the synthetic traces, between these lines.
const (
	readmeTableStart = "<!-- backtest table: TestREADMEBacktestTableIsTheCommandsOutput checks it -->"
	readmeTableEnd   = "<!-- end of the backtest table -->"
)

// readmeTraces are the synthetic traces of the README's table, in its order.
var readmeTraces = []string{"steady", "daily-cycle", "campaign-bursts", "retry-storm"}

// TestREADMEBacktestTableIsTheCommandsOutput: the README's table is what
// the command line above it prints, trace by trace (with --json, laid out
// as a table; the figures are rounded alike).
func TestREADMEBacktestTableIsTheCommandsOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("replays four weeks of one-minute rows")
	}
	var b strings.Builder
	b.WriteString(readmeTableStart + "\n\n")
	b.WriteString("| trace | strategy | top-ups | min below threshold | min at or below zero | lowest EUR | EUR held above target (mean) |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	for _, name := range readmeTraces {
		path := "internal/backtest/testdata/" + name + ".csv"
		args := append(backtestArgs(filepath.Join(artifactRoot, path)), "--json")
		code, stdout, stderr := runOnce(t, nil, args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d, %s", path, code, stderr)
		}
		var out struct {
			Strategies []struct {
				Name   string  `json:"name"`
				TopUps int     `json:"topups"`
				Below  float64 `json:"minutes_below_threshold"`
				Zero   float64 `json:"minutes_at_zero"`
				Lowest string  `json:"lowest_balance"`
				Held   string  `json:"eur_held_above_target"`
			} `json:"strategies"`
		}
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Strategies {
			fmt.Fprintf(&b, "| `%s.csv` | `%s` | %d | %.1f | %.1f | %s | %s |\n", name, s.Name, s.TopUps, s.Below, s.Zero, s.Lowest, s.Held)
		}
	}
	b.WriteString("\n" + readmeTableEnd)
	want := b.String()
	readme := readArtifact(t, "README.md")
	start, end := strings.Index(readme, readmeTableStart), strings.Index(readme, readmeTableEnd)
	if start < 0 || end < start || readme[start:end+len(readmeTableEnd)] != want {
		t.Errorf("the README's backtest table is not what the command prints; it should read:\n\n%s", want)
	}
	line := "topup-watchdog backtest --trace internal/backtest/testdata/$trace.csv " + strings.Join(readmeBacktestFlags, " ") + " --json"
	if !strings.Contains(readme, line) {
		t.Errorf("the README does not give the command line of its table: %s", line)
	}
}
