package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The test account's credentials: distinctive, so a leak is easy to find.
const (
	testKey    = "abcd1234"
	testSecret = "Sup3r-S3cret/+=value"
	testTRX    = "8ef2447e69604f642ae59363aa5f781b"
)

// waitLimit bounds every wait for something the program should do soon; a
// test that reaches it has failed.
const waitLimit = 20 * time.Second

// output is a buffer safe for concurrent use that signals every write, so a
// test waits for a line instead of sleeping.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// lines returns the JSON log lines so far; other lines are skipped.
func (o *output) lines() []map[string]any {
	o.mu.Lock()
	data := bytes.Clone(o.buf.Bytes())
	o.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// count counts the log lines with message msg.
func (o *output) count(msg string) int {
	n := 0
	for _, l := range o.lines() {
		if l["msg"] == msg {
			n++
		}
	}
	return n
}

// waitFor waits until cond holds for the output, or fails the test.
func (o *output) waitFor(t *testing.T, what string, cond func(*output) bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		ch := o.changed
		o.mu.Unlock()
		if cond(o) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("waited %s for %s; output:\n%s", waitLimit, what, o.String())
		}
	}
}

// lookup turns a map into a lookupenv.
func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// inProc is run() started by startInProc in the test process.
type inProc struct {
	stdout, stderr *output
	cancel         context.CancelFunc
	done           chan error
}

// startInProc runs the program in this process, as main would.
func startInProc(t *testing.T, env map[string]string, args ...string) *inProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &inProc{stdout: newOutput(), stderr: newOutput(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx, args, lookup(env), r.stdout, r.stderr) }()
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

// stop is SIGTERM: it cancels the program's context and waits for run.
func (r *inProc) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // a second stop gets the same answer
		return err
	case <-time.After(waitLimit):
		t.Fatalf("run did not return %s after its stop", waitLimit)
		return nil
	}
}

// testAccount is an account at 50 EUR with auto-reload on and 50 EUR top-ups
// credited after delay.
func testAccount(balance string, delay time.Duration) sim.Config {
	return sim.Config{
		APIKey: testKey, APISecret: testSecret, TRX: testTRX,
		Balance: decimal.RequireFromString(balance), AutoReload: true,
		TopUpAmount: decimal.NewFromInt(50), CreditDelay: delay,
	}
}

// startAccount serves a simulated account on loopback.
func startAccount(t *testing.T, cfg sim.Config) (*sim.Account, *httptest.Server) {
	t.Helper()
	acct, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(acct.Handler())
	t.Cleanup(srv.Close)
	return acct, srv
}

// testEnv is a valid configuration against baseURL, with a check every
// second, query authentication and debug logs: the most revealing setting.
func testEnv(t *testing.T, baseURL string) map[string]string {
	return map[string]string{
		"VONAGE_API_KEY":        testKey,
		"VONAGE_API_SECRET":     testSecret,
		"VONAGE_TOPUP_TRX":      testTRX,
		"VONAGE_BASE_URL":       baseURL,
		"VONAGE_AUTH":           "query",
		"TOPUP_THRESHOLD":       "10",
		"TOPUP_SCHEDULE":        "@every 1s",
		"TOPUP_STATE_FILE":      filepath.Join(t.TempDir(), "state.json"),
		"TOPUP_LISTEN_ADDR":     "",
		"TOPUP_LOG_LEVEL":       "debug",
		"TOPUP_REQUEST_TIMEOUT": "2s",
	}
}

// environ turns a map into a process environment.
func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
