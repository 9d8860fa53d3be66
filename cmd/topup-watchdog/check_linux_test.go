package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// runCheckOn runs check with stdout on out, stderr in a buffer.
func runCheckOn(t *testing.T, env map[string]string, out *os.File, args ...string) (code int, stderr string) {
	t.Helper()
	errOut := newOutput()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := run(ctx, append([]string{"check"}, args...), lookup(env), out, errOut)
	return exitCode(err), errOut.String()
}

// On a terminal, check answers a person in one line: what it would do and
// why, amounts first; nothing else on stdout, and no log line on stderr
// unless something is wrong.
func TestCheckAnswersAPersonOnATerminal(t *testing.T) {
	for _, tt := range []struct{ balance, amount, want string }{
		{"5", "", "top up: balance 5.00 EUR is below the threshold 10.00 EUR (dry run: nothing sent)\n"},
		{"5.125", "25", "top up 25.00 EUR: balance 5.125 EUR is below the threshold 10.00 EUR (dry run: nothing sent)\n"},
		{"42.1", "25", "no top-up: balance 42.10 EUR is at or above the threshold 10.00 EUR\n"},
	} {
		acct, srv := startAccount(t, testAccount(tt.balance, time.Minute))
		env := testEnv(t, srv.URL)
		if tt.amount != "" {
			env["TOPUP_AMOUNT"] = tt.amount
		}
		createLedger(t, env["TOPUP_STATE_FILE"])
		tty, shown := openPTY(t)
		code, stderr := runCheckOn(t, env, tty)
		if got := shown(); code != exitOK || got != tt.want || stderr != "" {
			t.Errorf("balance %s: exit %d, terminal %q, stderr %q; want exit 0, %q and no stderr", tt.balance, code, got, stderr, tt.want)
		}
		if n := acct.Stats().TopUpRequests; n != 0 {
			t.Errorf("check sent %d top-ups", n)
		}
	}
}

// A read that fails is said on stderr, for a person, and exits 1.
func TestCheckOnATerminalSaysWhyTheBalanceCouldNotBeRead(t *testing.T) {
	_, srv := startAccount(t, testAccount("5", time.Minute))
	env := testEnv(t, srv.URL)
	env["VONAGE_API_SECRET"] = "wrong-secret-value"
	createLedger(t, env["TOPUP_STATE_FILE"])
	tty, shown := openPTY(t)
	code, stderr := runCheckOn(t, env, tty)
	if got := shown(); code != exitFatal || got != "" {
		t.Errorf("exit %d, terminal %q; want exit 1 and nothing on stdout", code, got)
	}
	if !strings.Contains(stderr, " ERROR check failed ") || !strings.Contains(stderr, "authentication failed") || strings.Contains(stderr, "{") {
		t.Errorf("stderr is not the console line of the failed read: %q", stderr)
	}
}

// With --json on a terminal, and whenever stdout is not one (a pipe), check
// prints the JSON log lines, the decision among them, as before.
func TestCheckPrintsJSONWithTheFlagOrToAPipe(t *testing.T) {
	_, srv := startAccount(t, testAccount("5", time.Minute))
	env := testEnv(t, srv.URL)
	env["TOPUP_LOG_FORMAT"] = "console" // --json overrides it; a pipe keeps it
	createLedger(t, env["TOPUP_STATE_FILE"])

	tty, shown := openPTY(t)
	code, stderr := runCheckOn(t, env, tty, "--json")
	assertDecisionLine(t, "--json on a terminal", code, shown(), stderr)

	delete(env, "TOPUP_LOG_FORMAT")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	code, stderr = runCheckOn(t, env, w)
	_ = w.Close()
	piped, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	assertDecisionLine(t, "a pipe", code, string(piped), stderr)
}

// assertDecisionLine checks that out is JSON lines, one of them the
// decision to top up.
func assertDecisionLine(t *testing.T, where string, code int, out, stderr string) {
	t.Helper()
	if code != exitOK || stderr != "" {
		t.Errorf("%s: exit %d, stderr %q", where, code, stderr)
	}
	decisions := 0
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("%s: not a JSON line: %q", where, l)
			continue
		}
		if m["msg"] == "decision" && m["action"] == "top_up" && m["balance"] == "5" && m["dry_run"] == true {
			decisions++
		}
	}
	if decisions != 1 {
		t.Errorf("%s: %d decision lines to top up, want 1:\n%s", where, decisions, out)
	}
}
