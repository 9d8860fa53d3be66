package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// The tests run as root, which chmod does not stop, so a read-only or full
// state folder is a real file system: a tmpfs mounted for the test, read-only
// or a few pages in size. Writing a file until ENOSPC fills it; deleting that
// file frees it again.

// TestDiskFaults gives the binary a state folder it cannot use and checks
// that it says so clearly, never sends a top-up on a ledger it could not
// write, and never repeats one when a supervisor restarts it in a loop.
func TestDiskFaults(t *testing.T) {
	t.Parallel()
	t.Run("read_only", testReadOnly)
	t.Run("full_at_start", testFullAtStart)
	t.Run("full_when_a_top_up_is_wanted", testFullWhenWanted)
	t.Run("full_after_the_request", testFullAfterRequest)
	for _, c := range []struct{ name, want string }{
		{"truncated", "unexpected end of JSON input"},
		{"empty", "empty file"},
		{"garbage", "invalid character"},
	} {
		t.Run("corrupt_"+c.name, func(t *testing.T) { testCorrupt(t, c.name, c.want) })
	}
}

// lowAccount is an account below the threshold of 10: any watchdog that
// starts checking tops it up at once.
func lowAccount() sim.Config {
	return sim.Config{Balance: eur("5"), AutoReload: true, TopUpAmount: eur("50"), CreditDelay: time.Minute}
}

// testReadOnly: a fresh read-only folder, then a read-only folder holding a
// ledger with a top-up in its window.
func testReadOnly(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "64k")
	remount(t, dir, syscall.MS_RDONLY)
	r := newWorld(t, worldOptions{account: lowAccount(), stateDir: dir})
	r.exitsEveryTime(3, "read-only file system")

	remount(t, dir, 0)
	writeLedger(t, r.stateFile(), pendingLedger(time.Now()))
	remount(t, dir, syscall.MS_RDONLY)
	r.exitsEveryTime(3, "read-only file system")
	r.noRequests()
}

// testFullAtStart: the ledger cannot even be created.
func testFullAtStart(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "16k")
	fill(t, dir)
	r := newWorld(t, worldOptions{account: lowAccount(), stateDir: dir})
	r.exitsEveryTime(3, "no space left on device")
	r.noRequests()
}

// testFullWhenWanted: the disk fills while the watchdog runs, then the
// balance falls: the intent cannot be written, so nothing is sent, check
// after check, until space is freed.
func testFullWhenWanted(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "16k")
	acct := lowAccount()
	acct.Balance = eur("30")
	r := newWorld(t, worldOptions{account: acct, stateDir: dir})
	p := r.start(nil)
	r.book.waitLines(t, waitLimit, p.n, "decision", 1)
	r.waitScrape(p)
	filler := fill(t, dir)
	r.acct.SetBalance(eur("5"))

	failed := r.book.waitLines(t, waitLimit, p.n, "ledger write failed", 3)
	for _, l := range failed {
		if l.fields["topup_wanted"] != true || l.fields["topup_sent"] != false ||
			!strings.Contains(l.str("error"), "no space left on device") || !strings.Contains(l.str("error"), r.stateFile()) {
			t.Errorf("ledger write failed line %s, want topup_wanted, not sent, ENOSPC naming the file", l.text)
		}
	}
	if n := r.acct.Stats().TopUpRequests; n != 0 {
		t.Fatalf("%d top-up requests while the intent could not be written, want none", n)
	}
	if p.exited() {
		t.Fatalf("the watchdog exited on a full disk: %v", p.state)
	}
	r.scrape()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	top := r.book.waitLines(t, waitLimit, p.n, "topup", 1)[0]
	if top.str("outcome") != "succeeded" {
		t.Errorf("topup line once space is back: %s, want succeeded", top.text)
	}
	p.stop(t)
	if n := r.acct.Stats().TopUpRequests; n != 1 {
		t.Errorf("%d top-up requests in all, want 1", n)
	}
}

// testFullAfterRequest: the intent is written and the request applied, then
// the disk fills before the outcome can be written. The intent stays pending
// on disk and holds the window: the running watchdog sends nothing more, a
// restart loop on the full disk exits every time, and a restart once space
// is back still holds the window.
func testFullAfterRequest(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "16k")
	r := newWorld(t, worldOptions{account: lowAccount(), stateDir: dir,
		env: map[string]string{"TOPUP_WINDOW": "1m", "TOPUP_REQUEST_TIMEOUT": "2s"}})
	if err := r.acct.Script(sim.EndpointTopUp, sim.FaultAppliedNoAnswer); err != nil {
		t.Fatal(err)
	}
	p := r.start(nil)
	r.waitAccount(waitLimit, "the top-up held", func(s sim.Stats) bool { return s.Hanging == 1 })
	filler := fill(t, dir)

	first := r.book.waitLines(t, waitLimit, p.n, "ledger write failed", 1)[0]
	if first.str("outcome") != "unknown" || first.str("intent_id") == "" {
		t.Errorf("ledger write failed line %s, want the outcome unknown of the intent", first.text)
	}
	r.book.waitLines(t, waitLimit, p.n, "ledger write failed", 3)
	if n := r.acct.Stats().TopUpRequests; n != 1 {
		t.Fatalf("%d top-up requests, want 1", n)
	}
	r.waitScrape(p)
	p.kill(t)

	r.exitsEveryTime(3, "no space left on device")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	st := r.ledger()
	if len(st.TopUps) != 1 || st.TopUps[0].Outcome != ledger.Pending || st.TopUps[0].ID != first.str("intent_id") {
		t.Fatalf("ledger on disk %+v, want the intent %s pending", st.TopUps, first.str("intent_id"))
	}
	p = r.start(nil)
	for _, d := range r.book.waitLines(t, waitLimit, p.n, "decision", 3) {
		if d.str("action") != "blocked" || d.str("reason") != "window_open" {
			t.Errorf("decision after the restart: %s, want blocked/window_open", d.text)
		}
	}
	p.stop(t)
	if n := r.acct.Stats().TopUpRequests; n != 1 {
		t.Errorf("%d top-up requests in all, want 1", n)
	}
}

// testCorrupt: a ledger that cannot be read is refused, never replaced by
// an empty one (which would repeat the top-up it records), however often
// the binary is restarted, and it is left as it was for a person to look at.
func testCorrupt(t *testing.T, kind, want string) {
	t.Parallel()
	r := newWorld(t, worldOptions{account: lowAccount()})
	valid, err := json.MarshalIndent(pendingLedger(time.Now()), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"truncated": valid[:len(valid)/2],
		"empty":     {},
		"garbage":   []byte("\x00\x17\xff\xfe garbage {]"),
	}[kind]
	if err := os.WriteFile(r.stateFile(), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	r.exitsEveryTime(5, "corrupt: ", want, "refusing to start from an empty ledger")
	r.noRequests()
	if got, err := os.ReadFile(r.stateFile()); err != nil || !bytes.Equal(got, bad) {
		t.Errorf("the corrupt ledger was changed: %q (%v), want it left as %q", got, err, bad)
	}
}

// exitsEveryTime starts the binary n times, as a supervisor's restart loop
// would, and checks that each run exits 1 at once with one error line that
// names the state file and holds every one of wants.
func (r *world) exitsEveryTime(n int, wants ...string) {
	r.t.Helper()
	for i := range n {
		p := r.start(nil)
		st := p.wait(r.t, waitLimit)
		if st.ExitCode() != 1 {
			r.t.Fatalf("run %d: %v, want exit status 1; output:\n%s", p.n, st, r.book.tail(10))
		}
		errs := r.book.find(func(l line) bool { return l.proc == p.n && l.stream == "stderr" })
		if len(errs) != 1 {
			r.t.Fatalf("run %d wrote %d lines to stderr, want one error line:\n%s", p.n, len(errs), r.book.tail(10))
		}
		msg := errs[0].text
		if !strings.HasPrefix(msg, "topup-watchdog: ") || !strings.Contains(msg, r.stateFile()) {
			r.t.Errorf("run %d: error %q, want one line naming %s", p.n, msg, r.stateFile())
		}
		for _, w := range wants {
			if !strings.Contains(msg, w) {
				r.t.Errorf("run %d: error %q, want it to say %q", p.n, msg, w)
			}
		}
		if len(r.book.logs(p.n, "decision")) != 0 {
			r.t.Errorf("run %d decided something on a ledger it could not open", p.n)
		}
		if i == 0 {
			r.t.Logf("exit 1: %s", msg)
		}
	}
}

// noRequests checks that the account saw no top-up request.
func (r *world) noRequests() {
	r.t.Helper()
	if s := r.acct.Stats(); s.TopUpRequests != 0 {
		r.t.Errorf("%d top-up requests, want none: %+v", s.TopUpRequests, s)
	}
}

// pendingLedger is a ledger whose last top-up, decided at at, may have
// reached Vonage and is unconfirmed: a restart must hold its window.
func pendingLedger(at time.Time) ledger.State {
	return ledger.State{Version: ledger.SchemaVersion, Refilling: true, TopUps: []ledger.Record{
		{ID: "0123456789abcdef", At: at.Add(-time.Second).UTC(), BalanceBefore: eur("5"), Outcome: ledger.Pending},
	}}
}

func writeLedger(t *testing.T, path string, s ledger.State) {
	t.Helper()
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Decode(data); err != nil {
		t.Fatalf("the test's ledger does not decode: %v", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mountTmpfs mounts a tmpfs of size on a fresh folder for the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("mount -t tmpfs refused (%v): the disk-fault tests need root with CAP_SYS_ADMIN, as CI has", err)
		}
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// remount makes the tmpfs at dir read-only (syscall.MS_RDONLY) or writable
// again (0).
func remount(t *testing.T, dir string, flags uintptr) {
	t.Helper()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|flags, ""); err != nil {
		t.Fatalf("remount %s: %v", dir, err)
	}
}

// fill writes a file in dir until the file system is full, checks that not
// one more byte fits, and returns the file's path: removing it frees the
// space.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for err == nil {
		_, err = f.Write(chunk)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fill %s: %v, want ENOSPC", dir, err)
	}
	for n := len(chunk) / 2; n > 0; n /= 2 { // the last partial page, if any
		_, _ = f.Write(chunk[:n])
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), []byte("x"), 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("%s is not full: writing one byte gave %v", dir, err)
	}
	_ = os.Remove(filepath.Join(dir, "probe"))
	return path
}
