package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A watchdog whose ledger lock file is removed stops with exit 1 and an
// error naming the lock file, rather than go on beside a second watchdog
// that could now open the same ledger.
func TestALostLedgerLockStopsTheProgram(t *testing.T) {
	for _, tt := range []struct{ name, schedule string }{
		{"between checks", "@every 1h"}, // found by the periodic check
		{"at a check", "@every 1s"},     // found by the check's ledger update, or the periodic one
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := startAccount(t, testAccount("50", time.Minute))
			env := testEnv(t, srv.URL)
			env["TOPUP_SCHEDULE"] = tt.schedule
			r := startInProc(t, env)
			r.stdout.waitFor(t, "a decision", func(o *output) bool { return o.count("decision") > 0 })
			lock := env["TOPUP_STATE_FILE"] + ".lock"
			if err := os.Remove(lock); err != nil {
				t.Fatal(err)
			}

			var err error
			select {
			case err = <-r.done:
				r.done <- err
			case <-time.After(waitLimit):
				t.Fatalf("still running %s after its lock file was removed; output:\n%s", waitLimit, r.stdout)
			}
			if code := exitCode(err); code != exitFatal {
				t.Fatalf("exit %d, want 1: %v", code, err)
			}
			stderr := r.stderr.String()
			if !strings.HasPrefix(stderr, "topup-watchdog: ") || !strings.Contains(stderr, lock+" was removed") ||
				!strings.Contains(stderr, "ledger lock lost") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr is not one line naming the lock file and the loss: %q", stderr)
			}
			if n := r.stdout.count(msgStoppedWithError); n != 1 {
				t.Errorf("%d lines %q, want 1; output:\n%s", n, msgStoppedWithError, r.stdout)
			}
			for _, l := range r.stdout.lines() {
				if l["msg"] == msgStoppedWithError && len(l) != 3 {
					t.Errorf("%v: the error that stops the watchdog is printed on stderr alone", l)
				}
			}
			assertClean(t, "output", r.stdout.String()+stderr)
		})
	}
}
