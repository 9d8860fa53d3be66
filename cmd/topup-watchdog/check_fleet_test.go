package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// check on a fleet (TOPUP_REDIS_URL): it previews the decision run takes,
// on the fleet's ledger and the fleet's clock, and refuses a ledger key no
// watchdog wrote.

// fleetPassword is the test Redis's requirepass: distinctive, for the sweep.
const fleetPassword = "r3dis-Pa55word-for-the-fleet"

// steppedFleetRedis starts a password-protected redis-server whose wall
// clock (TIME) runs offset from this pod's, by the LD_PRELOAD shim of
// internal/redistest; its monotonic clock is left alone. Only
// redis-server gets the shim: the variables are gone once it runs.
func steppedFleetRedis(t *testing.T, offset time.Duration) *redistest.Server {
	t.Helper()
	var srv *redistest.Server
	step := redistest.WithClockShim(t, func() { srv = redistest.Start(t, "--requirepass", fleetPassword) })
	step(offset)
	return srv
}

// fleetEnv is testEnv for one replica of a fleet on srv under prefix, with
// a window long enough to hold for the whole test.
func fleetEnv(t *testing.T, baseURL string, srv *redistest.Server, prefix string) map[string]string {
	env := testEnv(t, baseURL)
	env["TOPUP_REDIS_URL"] = srv.URL()
	env["TOPUP_REDIS_PREFIX"] = prefix
	env["TOPUP_WINDOW"] = "15m"
	return env
}

// runUntil runs the watchdog (run) on env until its stdout has a line
// with message msg, then stops it.
func runUntil(t *testing.T, env map[string]string, msg string) string {
	t.Helper()
	r := startInProc(t, env, "run")
	r.stdout.waitFor(t, "a "+msg+" line of run", func(o *output) bool { return o.count(msg) > 0 })
	if err := r.stop(t); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, r.stderr.String())
	}
	return r.stdout.String() + r.stderr.String()
}

// decisionOf returns the fields of the one decision line of a check's
// JSON output.
func decisionOf(t *testing.T, stdout string) map[string]any {
	t.Helper()
	o := newOutput()
	_, _ = o.Write([]byte(stdout))
	var found []map[string]any
	for _, l := range o.lines() {
		if l["msg"] == "decision" {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d decision lines, want 1; stdout:\n%s", len(found), stdout)
	}
	return found[0]
}

// Redis's clock is an hour off the pod's (behind, or ahead). run dates its
// top-up on the fleet's clock (Redis's TIME) and holds the window after
// it; check must decide on the same clock, so it too finds the top-up
// inside its window: no top-up, the window open. Deciding on the pod's
// clock instead, it found the top-up an hour old (behind: "topup
// unconfirmed", and top_up inside the window run holds) or dated an hour
// ahead of its clock.
func TestCheckOnAFleetDecidesOnTheFleetsClock(t *testing.T) {
	for _, offset := range []time.Duration{-time.Hour, time.Hour} {
		t.Run("redis "+offset.String(), func(t *testing.T) {
			srv := steppedFleetRedis(t, offset)
			acct, api := startAccount(t, testAccount("5", time.Hour)) // the top-up is not credited during the test
			env := fleetEnv(t, api.URL, srv, "clock-test")
			out := runUntil(t, env, "topup")
			if n := acct.Stats().TopUpRequests; n != 1 {
				t.Fatalf("run sent %d top-ups, want 1:\n%s", n, out)
			}

			code, stdout, stderr := runOnce(t, env, "check")
			if code != exitOK || stderr != "" {
				t.Fatalf("check: exit %d, stderr %q; want exit 0 and no stderr; stdout:\n%s", code, stderr, stdout)
			}
			d := decisionOf(t, stdout)
			if d["action"] != "blocked" || d["reason"] != "window_open" || d["window_open"] != true {
				t.Errorf("check decides action %v, reason %v, window_open %v; want blocked, window_open, true (run's decision inside the window); stdout:\n%s",
					d["action"], d["reason"], d["window_open"], stdout)
			}
			for _, msg := range []string{"topup unconfirmed", "ledger record dated ahead of the clock: counted as written now"} {
				o := newOutput()
				_, _ = o.Write([]byte(stdout))
				if n := o.count(msg); n != 0 {
					t.Errorf("check logged %q %d times: it judged the fleet's top-up on the pod's clock; stdout:\n%s", msg, n, stdout)
				}
			}
			if n := acct.Stats().TopUpRequests; n != 1 {
				t.Errorf("%d top-ups after check, want run's 1", n)
			}
			assertClean(t, "run and check", out+stdout+stderr, fleetPassword, srv.URL())
		})
	}
}

// check on a fleet ledger key nobody wrote (a typo in TOPUP_REDIS_PREFIX,
// another database, another API key) refuses, as for a state file that
// does not exist: exit 1 before asking Vonage anything, a message naming
// the key, the prefix and the Redis (never its password), and nothing
// written to Redis. On the key a watchdog wrote, check works as before.
func TestCheckOnAFleetRefusesALedgerNobodyWrote(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", fleetPassword)
	acct, api := startAccount(t, testAccount("50", time.Hour))
	written := fleetEnv(t, api.URL, srv, "fleet-a")
	out := runUntil(t, written, "decision")
	before := acct.Stats()

	typo := fleetEnv(t, api.URL, srv, "fleet-b")
	code, stdout, stderr := runOnce(t, typo, "check")
	key := ledgerKey(t, srv, "fleet-a", "fleet-b")
	want := "topup-watchdog: check: the fleet's ledger " + key + " does not exist on redis redis://" + srv.Addr + "/0: " +
		"no watchdog with TOPUP_REDIS_PREFIX=fleet-b and this API key has written it (or Redis lost it and no watchdog has checked since); " +
		"check TOPUP_REDIS_PREFIX, the database in TOPUP_REDIS_URL and VONAGE_API_KEY; check only reads the ledger\n"
	if code != exitFatal || stdout != "" || stderr != want {
		t.Errorf("prefix nobody wrote: exit %d, stdout %q, stderr\n%q\nwant exit 1, no stdout, stderr\n%q", code, stdout, stderr, want)
	}
	if got := acct.Stats(); got.BalanceRequests+got.TopUpRequests != before.BalanceRequests+before.TopUpRequests {
		t.Errorf("check asked Vonage with no ledger: %+v, before %+v", got, before)
	}
	keys, err := srv.Client().Keys(context.Background(), "fleet-b*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("check wrote %v to Redis (%v), want nothing", keys, err)
	}
	if strings.Contains(stderr, testKey) {
		t.Errorf("the message holds the API key itself: %q", stderr)
	}

	code, stdout2, stderr2 := runOnce(t, written, "check")
	if code != exitOK || stderr2 != "" {
		t.Fatalf("prefix run wrote: exit %d, stderr %q; stdout:\n%s", code, stderr2, stdout2)
	}
	if d := decisionOf(t, stdout2); d["action"] != "none" || d["reason"] != "balance_ok" {
		t.Errorf("check on the fleet's ledger decides %v/%v, want none/balance_ok; stdout:\n%s", d["action"], d["reason"], stdout2)
	}
	assertClean(t, "run and check", out+stdout+stderr+stdout2+stderr2, fleetPassword, srv.URL())
}

// ledgerKey is the key of the test account's ledger under prefix on srv,
// found from the one a watchdog wrote under written: the hash tag is the
// account's, whatever the prefix (README: <prefix>:{<hash>}:ledger).
func ledgerKey(t *testing.T, srv *redistest.Server, written, prefix string) string {
	t.Helper()
	keys, err := srv.Client().Keys(context.Background(), written+":{*}:ledger").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the ledger keys under %s are %v (%v), want one", written, keys, err)
	}
	tag := strings.TrimSuffix(strings.TrimPrefix(keys[0], written+":"), ":ledger")
	if len(tag) != 18 || strings.Contains(keys[0], testKey) {
		t.Fatalf("ledger key %q: want %s:{<16 hex digits of a hash of the API key>}:ledger", keys[0], written)
	}
	return prefix + ":" + tag + ":ledger"
}
