package main

import (
	"context"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/bintest"
	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	bintest.Remove()
	os.Exit(code)
}

// runOnce runs the program to its end and returns its exit code and output.
func runOnce(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	out, errOut := newOutput(), newOutput()
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitLimit) // a demo runs 20 s by itself
	defer cancel()
	err := run(ctx, args, lookup(env), out, errOut)
	return exitCode(err), out.String(), errOut.String()
}

// 13. Bad configuration: exit 2, every bad variable named, no secret echoed,
// no stack trace.
func TestBadConfigurationExits2NamingEveryProblem(t *testing.T) {
	env := map[string]string{
		"VONAGE_API_SECRET":     testSecret,
		"VONAGE_TOPUP_TRX":      testTRX,
		"VONAGE_TOPUP_TRX_FILE": "/run/secrets/trx",
		"VONAGE_BASE_URL":       "http://vonage.example.com/" + testSecret,
		"TOPUP_THRESHOLD":       "ten",
		"TOPUP_SCHEDULE":        "every minute",
		"TOPUP_WINDOW":          "-5m",
		"TOPUP_MAX_PER_DAY":     "-1",
		"TOPUP_NOTIFY_URL":      "ftp://hooks.example.com/" + testSecret,
	}
	code, stdout, stderr := runOnce(t, env)
	if code != exitBadConfig {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
	}
	for _, name := range []string{"VONAGE_API_KEY", "VONAGE_TOPUP_TRX", "VONAGE_BASE_URL", "TOPUP_THRESHOLD",
		"TOPUP_SCHEDULE", "TOPUP_WINDOW", "TOPUP_MAX_PER_DAY", "TOPUP_NOTIFY_URL"} {
		if !strings.Contains(stderr, "\n  "+name+" ") && !strings.Contains(stderr, "\n  "+name+":") {
			t.Errorf("stderr does not name %s on a line of its own:\n%s", name, stderr)
		}
	}
	assertClean(t, "output", stdout+stderr, "Sup3r")
	for _, bad := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(stdout+stderr, bad) {
			t.Errorf("output holds %q:\n%s", bad, stdout+stderr)
		}
	}
	if stdout != "" {
		t.Errorf("stdout should be empty on a bad configuration: %q", stdout)
	}
}

func TestEveryCommandHasHelpAndBadFlagsExit2(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runOnce(t, nil, c.name, "--help")
			if code != exitOK || !strings.Contains(stderr, "usage: topup-watchdog "+c.name) {
				t.Errorf("--help: exit %d, stderr %q", code, stderr)
			}
			if code, _, _ := runOnce(t, nil, c.name, "--no-such-flag"); code != exitBadConfig {
				t.Errorf("a bad flag exits %d, want 2", code)
			}
		})
	}
	if code, stdout, _ := runOnce(t, nil, "--help"); code != exitOK || !strings.Contains(stdout, "Commands:") {
		t.Errorf("top-level --help: exit %d, stdout %q", code, stdout)
	}
	if code, _, stderr := runOnce(t, nil, "frobnicate"); code != exitBadConfig || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
}

func TestVersionNamesVersionCommitAndGo(t *testing.T) {
	code, stdout, _ := runOnce(t, nil, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "topup-watchdog ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestStartingLineShowsTheConfigurationWithoutSecrets(t *testing.T) {
	acct, srv := startAccount(t, testAccount("50", time.Minute))
	_ = acct
	r := startInProc(t, testEnv(t, srv.URL))
	r.stdout.waitFor(t, "a decision", func(o *output) bool { return o.count("decision") > 0 })
	if err := r.stop(t); err != nil {
		t.Fatalf("run() = %v after a stop, want nil", err)
	}
	var lines []map[string]any
	for _, l := range r.stdout.lines() {
		if l["level"] != "debug" { // the scheduler's own chatter may come last
			lines = append(lines, l)
		}
	}
	first := lines[0]
	if first["msg"] != "starting" || first["api_key"] != config.MaskKey(testKey) || first["threshold"] != "10" {
		t.Errorf("first line = %v", first)
	}
	if second := lines[1]; second["msg"] != msgAmountUnset || second["level"] != "warn" {
		t.Errorf("second line = %v, want the warning that TOPUP_AMOUNT is not set", second)
	}
	last := lines[len(lines)-1]
	if last["msg"] != "stopped" || lines[len(lines)-2]["msg"] != "stopping" {
		t.Errorf("last lines = %v, %v", lines[len(lines)-2], last)
	}
	assertClean(t, "stdout", r.stdout.String()+r.stderr.String())
}

func TestCheckPrintsTheDecisionAndSendsNothing(t *testing.T) {
	acct, srv := startAccount(t, testAccount("5", time.Minute))
	env := testEnv(t, srv.URL)
	before := createLedger(t, env["TOPUP_STATE_FILE"])
	code, stdout, stderr := runOnce(t, env, "check")
	if code != exitOK {
		t.Fatalf("check exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"msg":"decision"`) || !strings.Contains(stdout, `"action":"top_up"`) {
		t.Errorf("check printed %q", stdout)
	}
	if n := acct.Stats().TopUpRequests; n != 0 {
		t.Errorf("check sent %d top-ups", n)
	}
	if after, err := os.ReadFile(env["TOPUP_STATE_FILE"]); err != nil || string(after) != string(before) {
		t.Errorf("check changed the state file (%v):\n%s\nwas\n%s", err, after, before)
	}
	env["VONAGE_API_SECRET"] = "wrong-secret"
	if code, _, _ := runOnce(t, env, "check"); code != exitFatal {
		t.Errorf("check with a wrong secret exits %d, want 1", code)
	}
}

// 11. Dry run: decisions logged, zero requests to the top-up endpoint.
func TestDryRunNeverCallsTheTopUpEndpoint(t *testing.T) {
	acct, srv := startAccount(t, testAccount("5", time.Minute))
	env := testEnv(t, srv.URL)
	env["TOPUP_DRY_RUN"] = "true"
	r := startInProc(t, env)
	r.stdout.waitFor(t, "two decisions", func(o *output) bool { return o.count("decision") >= 2 })
	_ = r.stop(t)
	if n := acct.Stats().TopUpRequests; n != 0 {
		t.Fatalf("dry run sent %d top-ups", n)
	}
	for _, l := range r.stdout.lines() {
		if l["msg"] == "decision" && (l["dry_run"] != true || l["action"] != "top_up") {
			t.Errorf("decision = %v", l)
		}
	}
}

func TestACorruptLedgerStopsTheProgramNamingTheFile(t *testing.T) {
	acct, srv := startAccount(t, testAccount("5", time.Minute))
	env := testEnv(t, srv.URL)
	if err := os.WriteFile(env["TOPUP_STATE_FILE"], []byte(`{"version":1,"topups":[{"id":"a"`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runOnce(t, env)
	if code != exitFatal {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, env["TOPUP_STATE_FILE"]) || !strings.Contains(stderr, "corrupt") {
		t.Errorf("stderr does not name the file and the problem: %q", stderr)
	}
	if n := acct.Stats().BalanceRequests + acct.Stats().TopUpRequests; n != 0 {
		t.Errorf("%d requests on a corrupt ledger", n)
	}
	assertClean(t, "output", stdout+stderr)
}

// testBasic is the test account's Basic token, base64(key:secret).
var testBasic = base64.StdEncoding.EncodeToString([]byte(testKey + ":" + testSecret))

// assertClean fails when out is empty or holds a form of the test secret,
// the trx, the Basic token or a fragment in more (internal/secrettest).
func assertClean(t *testing.T, where, out string, more ...string) {
	t.Helper()
	sweep := secrettest.New(append([]string{testSecret, testTRX, testBasic}, more...)...)
	sweep.Add(where, []byte(out))
	sweep.Check(t)
}

// Bad testing hooks are reported together, like every other problem.
func TestBadTestingHooksAreReportedAtOnce(t *testing.T) {
	_, srv := startAccount(t, testAccount("50", time.Minute))
	env := testEnv(t, srv.URL)
	env[crashEnv], env[pauseEnv] = "sometimes", "never"
	code, _, stderr := runOnce(t, env)
	if code != exitBadConfig {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{crashEnv + `: not one of`, `"sometimes"`, pauseEnv + `: not one of`, `"never"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %s:\n%s", want, stderr)
		}
	}
}
