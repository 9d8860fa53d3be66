package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// TestFleetRedisAuthRefused points two replicas at a Redis that refuses
// their password: a wrong one (WRONGPASS), none (NOAUTH), or a wrong one in
// the file TOPUP_REDIS_URL_FILE names. With a need open, each replica goes
// on reading the balance, sends nothing (no claim can be made), writes
// nothing to Redis, its readiness says Redis is the problem, and its log
// names that problem (and never says Redis is back, nor reads a time from
// it, nor finds the ledger corrupt). Neither
// password (the server's, the wrong one) appears anywhere: the sweep looks
// for both.
func TestFleetRedisAuthRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		password string
		file     bool
	}{
		{"wrong_password", redisWrongPassword, false},
		{"no_password", "", false},
		{"wrong_password_file", redisWrongPassword, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, fleetOptions{
				account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50")},
				env:     map[string]string{"TOPUP_WINDOW": "10s"},
			})
			f.noKeys = true
			url := redisURLWith(f.redis, tc.password)
			if tc.file {
				setRedisURLFile(t, f, url)
			} else {
				f.env["TOPUP_REDIS_URL"] = url
			}
			reps := f.startReplicas(2, nil)
			var bodies []string
			for _, rep := range reps {
				f.book.waitLines(t, waitLimit, rep.n, msgFleetStart, 1)
				f.book.waitLines(t, waitLimit, rep.n, msgFleetRedisDown, 1)
				bodies = append(bodies, f.waitReady(rep, 503, "redis"))
			}
			from := time.Now()
			f.quiet(4*time.Second, "while redis refused the replicas' password")
			to := time.Now()
			if reads, min := f.readsBetween(from, to), 2*len(reps); reads < min {
				t.Errorf("%d balance reads in %s while redis refused the password, want at least %d: checks go on",
					reads, to.Sub(from).Round(time.Millisecond), min)
			}
			for _, rep := range reps {
				f.waitReady(rep, 503, "redis")
			}
			f.end()
			if n := f.acct.Stats().TopUpRequests; n != 0 {
				t.Errorf("%d top-up requests reached the account while no claim could be made, want none", n)
			}
			// The log names the problem, once: Redis refused the password.
			// It never said Redis was back, nor took a time from it.
			want := "WRONGPASS"
			if tc.password == "" {
				want = "NOAUTH"
			}
			wrong := map[string][]line{}
			for _, l := range f.book.find(func(l line) bool {
				if strings.HasPrefix(l.msg(), "check skipped") {
					return true
				}
				switch l.msg() {
				case msgFleetRedisBack, msgFleetPodClock, "redis clock stepped":
					return true
				case "ledger write failed", msgFleetRedisDown:
					return !strings.Contains(l.str("error"), want)
				}
				return false
			}) {
				wrong[l.msg()] = append(wrong[l.msg()], l)
			}
			for _, msg := range slices.Sorted(maps.Keys(wrong)) {
				l := wrong[msg]
				t.Errorf("%d %q line(s) while redis refused every command (%s), first from replica %d: %s",
					len(l), msg, want, l[0].proc, l[0].text)
			}
			down := f.book.logs(0, msgFleetRedisDown)
			t.Logf("readiness %q; log %s", bodies, down[0].text)
		})
	}
}

// TestFleetRedisURLFile runs two replicas that read the Redis URL, password
// included, from TOPUP_REDIS_URL_FILE: they form a fleet (ready, the ticks
// shared) and top up an open need exactly once, with the claim in Redis.
func TestFleetRedisURLFile(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{
		account: sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: time.Second},
		env:     map[string]string{"TOPUP_WINDOW": "10s", "TOPUP_AMOUNT": "50"},
	})
	setRedisURLFile(t, f, "  "+f.redis.URL()+"\n") // surrounding whitespace is trimmed
	reps := f.startReplicas(2, nil)
	f.waitUp(reps...)
	tops := f.waitTopUps(waitLimit, 1)
	f.waitConfirmed(waitLimit, f.book.waitLines(t, waitLimit, 0, "topup", 1)[0].str("intent_id"))
	for _, rep := range reps {
		f.waitReady(rep, 200)
	}
	f.quiet(3*time.Second, "after the credit")
	st := f.mustLedger()
	f.end()
	tops = f.acct.TopUps()
	if len(tops) != 1 || !tops[0].Applied {
		t.Errorf("the account saw %+v, want exactly one top-up, applied", tops)
	}
	checkIntentsFirst(t, st, tops, f.arrivals)
	if len(f.book.logs(0, msgFleetTickTaken)) == 0 {
		t.Errorf("no replica logged %q: the ticks are not shared", msgFleetTickTaken)
	}
}

// setRedisURLFile has the replicas read the Redis URL from a file, mode
// 0600 as a mounted secret would be, in place of TOPUP_REDIS_URL.
func setRedisURLFile(t *testing.T, f *fleet, url string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "redis-url")
	if err := os.WriteFile(path, []byte(url), 0o600); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(url) == "" {
		t.Fatal("empty redis URL")
	}
	delete(f.env, "TOPUP_REDIS_URL")
	f.env["TOPUP_REDIS_URL_FILE"] = path
}
