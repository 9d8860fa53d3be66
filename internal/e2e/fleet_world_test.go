package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The fleet tests run several replicas of the binary on one simulated
// account and one real redis-server (internal/redistest), each replica with
// its own HTTP port and its own TOPUP_STATE_FILE folder, which a fleet never
// uses: the fleet's finish checks that none was created.

// The Redis passwords: the server's, and one a test configures wrongly.
// Both are distinctive, and the secret sweep looks for both.
const (
	redisPassword      = "Rd5pass-e2e-7f3c9a1b"
	redisWrongPassword = "wr0ngRd5-e2e-4d2e8b60"
)

// The binary's fleet log lines (cmd/topup-watchdog/service.go,
// internal/watchdog/log.go, internal/ledger/redis_*.go).
const (
	msgFleetStart      = "fleet on redis: the ledger, the tick and the clock are shared"
	msgFleetTickTaken  = "tick taken by another replica: it reads the balance for the fleet"
	msgFleetTickFailed = "fleet tick failed: reading the balance alone; a top-up still needs its claim in redis"
	msgFleetRedisDown  = "redis unreachable: balance checks go on, no top-up is sent until it is back"
	msgFleetRedisBack  = "redis reachable again"
	msgFleetClaimLost  = "claim lost to another replica: its top-up holds the window"
	msgFleetLost       = "ledger lost records"
	msgFleetPodClock   = "pod clock differs from redis"
	msgFleetTooOld     = "intent too old to send"
)

// fleet is one fleet test's world (the account, the receiver, the
// logbook, the sweep) with one Redis, and the replicas started on it.
type fleet struct {
	*world
	redis *redistest.Server
	rc    *redis.Client // the test's own client of redis
	root  string        // holds the replicas' state folders, which must never be created
	reps  []*replica
	// noKeys is set by a test in which no replica may write Redis (it
	// refuses their password): the finish then wants no key at all.
	noKeys bool
	// arrivals is what the ledger held as each top-up request arrived.
	arrivals *arrivals
}

// replica is one replica: one start of the binary.
type replica struct {
	*proc
	addr     string // host:port of its HTTP server
	stateDir string // the folder of its TOPUP_STATE_FILE
}

// fleetOptions are what a fleet test changes from the defaults.
type fleetOptions struct {
	account sim.Config
	env     map[string]string
	// redisArgs are redis-server's arguments after --requirepass.
	redisArgs         []string
	processEveryTopUp bool
}

// newFleet starts the account, the receiver and a redis-server that
// requires redisPassword, and points the replicas' TOPUP_REDIS_URL at it.
func newFleet(t *testing.T, o fleetOptions) *fleet {
	t.Helper()
	arr := &arrivals{}
	r := newWorld(t, worldOptions{account: o.account, env: o.env, processEveryTopUp: o.processEveryTopUp, beforeTopUp: arr.note})
	srv := redistest.Start(t, append([]string{"--requirepass", redisPassword}, o.redisArgs...)...)
	if !strings.Contains(srv.URL(), redisPassword) {
		t.Fatalf("redistest's URL does not hold the password: the tests would not prove it stays out of the output")
	}
	f := &fleet{world: r, redis: srv, root: t.TempDir(), arrivals: arr,
		rc: redis.NewClient(&redis.Options{Addr: srv.Addr, Password: redisPassword, DialTimeout: time.Second})}
	arr.watch(f.rc)
	if _, set := r.env["TOPUP_REDIS_URL"]; !set {
		r.env["TOPUP_REDIS_URL"] = srv.URL()
	}
	// Cleanups run last first: the processes are killed (their cleanups
	// come later), then finish reads Redis, then Redis stops, then the
	// world sweeps everything.
	t.Cleanup(func() { _ = f.rc.Close() })
	t.Cleanup(f.finish)
	return f
}

// startReplica starts one more replica with the fleet's configuration plus
// extra, on its own port and state folder.
func (f *fleet) startReplica(extra map[string]string) *replica {
	f.t.Helper()
	port := strconv.Itoa(freePort(f.t))
	dir := filepath.Join(f.root, fmt.Sprintf("replica-%d-state", len(f.procs)+1))
	env := map[string]string{
		"TOPUP_LISTEN_ADDR": "127.0.0.1:" + port,
		"TOPUP_STATE_FILE":  filepath.Join(dir, "state.json"),
	}
	maps.Copy(env, extra)
	rep := &replica{proc: f.start(env), addr: "127.0.0.1:" + port, stateDir: dir}
	f.reps = append(f.reps, rep)
	return rep
}

// startReplicas starts n replicas with the same extra configuration.
func (f *fleet) startReplicas(n int, extra map[string]string) []*replica {
	f.t.Helper()
	out := make([]*replica, n)
	for i := range out {
		out[i] = f.startReplica(extra)
	}
	return out
}

// waitUp waits until each replica has logged that it is in a fleet and has
// taken part in a tick: it decided, or saw the tick taken.
func (f *fleet) waitUp(reps ...*replica) {
	f.t.Helper()
	for _, rep := range reps {
		f.book.waitLines(f.t, waitLimit, rep.n, msgFleetStart, 1)
		f.book.waitFor(f.t, waitLimit, fmt.Sprintf("replica %d's first tick", rep.n), func() bool {
			return len(f.book.logs(rep.n, "decision"))+len(f.book.logs(rep.n, msgFleetTickTaken)) > 0
		})
	}
}

// live returns the replicas still running.
func (f *fleet) live() []*replica {
	var out []*replica
	for _, rep := range f.reps {
		if !rep.exited() {
			out = append(out, rep)
		}
	}
	return out
}

// replicaOf returns the replica of process n.
func (f *fleet) replicaOf(n int) *replica {
	for _, rep := range f.reps {
		if rep.n == n {
			return rep
		}
	}
	f.t.Fatalf("no replica is process %d", n)
	return nil
}

// get fetches path from the replica's HTTP server and adds the body to the
// sweep; status is 0 when the server did not answer.
func (f *fleet) get(rep *replica, path string) (status int, body string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+rep.addr+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	f.sweep.Add(fmt.Sprintf("replica %d %s", rep.n, path), data)
	return resp.StatusCode, string(data)
}

// metrics scrapes the replica's /metrics, waiting for its server.
func (f *fleet) metrics(rep *replica) string {
	f.t.Helper()
	f.book.waitLines(f.t, waitLimit, rep.n, "http server listening", 1)
	status, body := f.get(rep, "/metrics")
	if status != http.StatusOK {
		f.t.Fatalf("replica %d's /metrics answered %d", rep.n, status)
	}
	return body
}

// waitReady polls the replica's /readyz until its status is want and its
// body holds every one of words, and returns the body.
func (f *fleet) waitReady(rep *replica, want int, words ...string) string {
	f.t.Helper()
	deadline := time.Now().Add(waitLimit)
	var status int
	var body string
	for {
		status, body = f.get(rep, "/readyz")
		ok := status == want
		for _, w := range words {
			ok = ok && strings.Contains(body, w)
		}
		if ok {
			return body
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("replica %d's /readyz: %d %q after %s, want %d holding %q; last output:\n%s",
				rep.n, status, body, waitLimit, want, words, f.book.tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// end scrapes the metrics and readiness of every live replica for the
// sweep, then stops each cleanly (SIGTERM, exit 0).
func (f *fleet) end() {
	f.t.Helper()
	for _, rep := range f.live() {
		f.metrics(rep)
		f.get(rep, "/readyz")
		f.get(rep, "/healthz")
	}
	for _, rep := range f.live() {
		rep.stop(f.t)
	}
}

// finish checks that no replica created its state folder, sweeps every
// value in Redis, and checks that the replicas wrote nothing but JSON log
// lines (and the test hooks' lines).
func (f *fleet) finish() {
	for _, rep := range f.reps {
		if _, err := os.Stat(rep.stateDir); err == nil {
			f.t.Errorf("replica %d created its TOPUP_STATE_FILE folder %s: a fleet must not use the state file", rep.n, rep.stateDir)
			entries, _ := os.ReadDir(rep.stateDir)
			for _, e := range entries {
				if data, err := os.ReadFile(filepath.Join(rep.stateDir, e.Name())); err == nil {
					f.sweep.Add(fmt.Sprintf("replica %d state folder %s", rep.n, e.Name()), data)
				}
			}
		}
	}
	f.sweepRedis()
	var stray []line
	for _, l := range f.book.all() {
		if l.fields == nil && !strings.Contains(l.text, "test hook: ") {
			stray = append(stray, l)
		}
	}
	if len(stray) > 0 {
		f.t.Errorf("%d line(s) of the replicas' output are not JSON log lines (a library's own logger: it bypasses the log's format and its redaction), first [%d %s]: %s",
			len(stray), stray[0].proc, stray[0].stream, stray[0].text)
	}
}

// record returns the ledger record of intent id, or nil.
func record(st ledger.State, id string) *ledger.Record {
	for i := range st.TopUps {
		if st.TopUps[i].ID == id {
			return &st.TopUps[i]
		}
	}
	return nil
}

// topUpLines returns the topup lines, of every replica, in order.
func (f *fleet) topUpLines() []line { return f.book.logs(0, "topup") }

// linesBetween returns process n's (0: any) lines with message msg that the
// test received in [from, to).
func (f *fleet) linesBetween(n int, msg string, from, to time.Time) []line {
	var out []line
	for _, l := range f.book.logs(n, msg) {
		if !l.at.Before(from) && l.at.Before(to) {
			out = append(out, l)
		}
	}
	return out
}

// readsBetween counts the balance answers the account gave in [from, to).
func (f *fleet) readsBetween(from, to time.Time) int {
	n := 0
	for _, rd := range f.balanceReads() {
		if !rd.at.Before(from) && rd.at.Before(to) {
			n++
		}
	}
	return n
}

// topUpsBetween returns the account's top-up requests received in [from, to).
func (f *fleet) topUpsBetween(from, to time.Time) []sim.TopUp {
	var out []sim.TopUp
	for _, tu := range f.acct.TopUps() {
		if !tu.ReceivedAt.Before(from) && tu.ReceivedAt.Before(to) {
			out = append(out, tu)
		}
	}
	return out
}

// quiet waits for d and fails the test if a top-up request reaches the
// account meanwhile.
func (f *fleet) quiet(d time.Duration, why string) {
	f.t.Helper()
	n := f.acct.Stats().TopUpRequests
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := f.acct.Wait(ctx, func(s sim.Stats) bool { return s.TopUpRequests > n }); err == nil {
		f.t.Errorf("a top-up request reached the account %s: %+v", why, f.acct.TopUps()[n:])
	}
}

// waitTopUps waits until the account has recorded n top-up requests (it
// counts a request when it arrives, and records it once processed), and
// returns them.
func (f *fleet) waitTopUps(limit time.Duration, n int) []sim.TopUp {
	f.t.Helper()
	f.waitAccount(limit, fmt.Sprintf("%d top-up request(s)", n), func(sim.Stats) bool { return len(f.acct.TopUps()) >= n })
	return f.acct.TopUps()
}

// waitConfirmed waits until some replica logs the confirmation of intent id,
// and returns the line.
func (f *fleet) waitConfirmed(limit time.Duration, id string) line {
	f.t.Helper()
	var got line
	f.book.waitFor(f.t, limit, "the confirmation of "+id, func() bool {
		for _, l := range f.book.logs(0, "topup confirmed") {
			if l.str("intent_id") == id {
				got = l
				return true
			}
		}
		return false
	})
	return got
}

// metricValue is the value of one series (name and labels as exposed, e.g.
// topup_watchdog_fleet_ticks_total{result="won"}) in a /metrics body.
func metricValue(body, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// ticksOf is a replica's fleet tick counts from its /metrics: won,
// skipped, failed.
func ticksOf(body string) string {
	var parts []string
	for _, res := range []string{"won", "skipped", "failed"} {
		v, ok := metricValue(body, `topup_watchdog_fleet_ticks_total{result="`+res+`"}`)
		if !ok {
			parts = append(parts, res+"=?")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%g", res, v))
	}
	return strings.Join(parts, " ")
}

// fleetStamp is a time for failure messages.
func fleetStamp(t time.Time) string { return t.Format("15:04:05.000") }
