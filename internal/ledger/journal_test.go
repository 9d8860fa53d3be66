package ledger

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// countWrites counts the rewrites of f's state file from now on.
func countWrites(f *File) *int {
	n := new(int)
	f.fault = func(s step) error {
		if s == stepCreate {
			*n++
		}
		return nil
	}
	return n
}

// journalLines returns the lines of the journal of the ledger at path.
func journalLines(t testing.TB, path string) []string {
	t.Helper()
	return strings.Split(strings.TrimSuffix(string(mustRead(t, journalPath(path))), "\n"), "\n")
}

// fileReadings returns the readings the state file itself holds.
func fileReadings(t testing.TB, path string) []Reading {
	t.Helper()
	s, err := Decode(mustRead(t, path))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return s.Readings
}

// withJournal opens a ledger whose state file holds a record and the reading
// r0, then adds r1 to r3 through the journal, and lets go of it as a killed
// process does.
func withJournal(t *testing.T) (path string, rs []Reading) {
	t.Helper()
	path = statePath(t)
	f := mustOpen(t, path)
	rs = []Reading{reading(0, "40"), reading(30*time.Second, "39.5"), reading(time.Minute, "39"), reading(90*time.Second, "38.5")}
	mustUpdate(t, f, func(s *State) error { s.TopUps = append(s.TopUps, record("a", 0)); s.AddReading(rs[0]); return nil })
	for _, r := range rs[1:] {
		mustUpdate(t, f, addReadings(r))
	}
	crash(f)
	if n := len(journalLines(t, path)); n != 4 {
		t.Fatalf("journal of %d lines, want a header and 3 readings", n)
	}
	return path, rs
}

func TestAReadingOnlyUpdateLeavesTheStateFileAlone(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	mustUpdate(t, f, appendRecord(record("a", 0)))
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	before, data := mustStat(t, path), mustRead(t, path)
	writes := countWrites(f)
	rs := []Reading{reading(0, "12.5"), reading(30*time.Second, "12.25"), reading(time.Minute, "11")}
	for _, r := range rs {
		mustUpdate(t, f, addReadings(r))
	}
	after := mustStat(t, path)
	if *writes != 0 || !os.SameFile(before, after) || !after.ModTime().Equal(old) || string(mustRead(t, path)) != string(data) {
		t.Errorf("%d rewrites, same inode %v, mtime %v, contents same %v: want the state file untouched",
			*writes, os.SameFile(before, after), after.ModTime(), string(mustRead(t, path)) == string(data))
	}
	wantReadings(t, "View", mustView(t, f).Readings, rs...)
	crash(f)
	g := mustOpen(t, path)
	wantReadings(t, "after a kill and a restart", mustView(t, g).Readings, rs...)
	if err := g.Problem(); err != nil {
		t.Errorf("Problem() = %v", err)
	}
	// Open folded them into the file and started the journal again.
	wantReadings(t, "the state file after the restart", fileReadings(t, path), rs...)
	if n := len(journalLines(t, path)); n != 1 {
		t.Errorf("journal of %d lines after Open, want its header alone", n)
	}
}

func mustStat(t testing.TB, path string) os.FileInfo {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// The child of TestAKilledProcessKeepsItsReadings: it writes a record and
// three readings, says so, and waits to be killed.
const childEnv = "LEDGER_TEST_KILLED_CHILD"

func TestAKilledProcessKeepsItsReadings(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		_ = f.Update(ctx, appendRecord(record("a", 0)))
		for i := range 3 {
			_ = f.Update(ctx, addReadings(reading(time.Duration(i)*30*time.Second, "20")))
		}
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute)
		os.Exit(3) // not killed: the parent reports it
	}
	path := statePath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAKilledProcessKeepsItsReadings$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Kill() // SIGKILL: no Close, no deferred call
	_ = cmd.Wait()
	if line != "ready\n" {
		t.Fatalf("the child said %q", line)
	}
	if n := len(fileReadings(t, path)); n != 0 {
		t.Fatalf("the state file holds %d readings: the test shows nothing", n)
	}
	st := mustView(t, mustOpen(t, path))
	want := []Reading{reading(0, "20"), reading(30*time.Second, "20"), reading(time.Minute, "20")}
	wantReadings(t, "after SIGKILL", st.Readings, want...)
	if len(st.TopUps) != 1 {
		t.Errorf("records %v, want [a]", ids(st))
	}
}

func TestATornLastJournalLineIsDropped(t *testing.T) {
	path, rs := withJournal(t)
	j, err := os.OpenFile(journalPath(path), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = j.WriteString(`{"at":"2025-03-14T09:29:`) // the process died mid-write
	_ = j.Close()
	f := mustOpen(t, path)
	wantReadings(t, "after a torn line", mustView(t, f).Readings, rs...)
	if err := f.Problem(); err != nil {
		t.Errorf("Problem() = %v, want none for a torn last line", err)
	}
	// The next additions start on a clean journal.
	r4 := reading(2*time.Minute, "38")
	mustUpdate(t, f, addReadings(r4))
	crash(f)
	wantReadings(t, "after one more and a restart", mustView(t, mustOpen(t, path)).Readings, append(rs, r4)...)
}

func TestACorruptJournalIsDroppedAndNamed(t *testing.T) {
	tests := []struct {
		name, want string
		edit       func(lines []string) []string
	}{
		{"a line that is not a reading", `line 3: not a reading: invalid character 'g' looking for beginning of value`,
			func(l []string) []string { l[2] = "garbage"; return l }},
		{"a reading without its balance", `line 2: not a reading: a reading needs its at and its balance`,
			func(l []string) []string { l[1] = `{"at":"2025-03-14T09:27:23Z"}`; return l }},
		{"a reading with a field of its own", `line 4: not a reading: json: unknown field "api_secret"`,
			func(l []string) []string { l[3] = strings.Replace(l[3], "{", `{"api_secret":"x",`, 1); return l }},
		{"an empty line", `line 2: not a reading: unexpected end of JSON input`,
			func(l []string) []string { return append(l[:1], append([]string{""}, l[1:]...)...) }},
		{"a header that is not one", `line 1: not a journal header: json: unknown field "at"`,
			func(l []string) []string { l[0] = l[1]; return l }},
		{"a journal of a later layout", `line 1: journal version 2, this one reads version 1`,
			func(l []string) []string {
				l[0] = strings.Replace(l[0], `"readings_journal":1`, `"readings_journal":2`, 1)
				return l
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, rs := withJournal(t)
			mustWrite(t, journalPath(path), strings.Join(tt.edit(journalLines(t, path)), "\n")+"\n")
			f, err := Open(path)
			if err != nil {
				t.Fatalf("Open = %v: a bad journal must not stop the watchdog", err)
			}
			wantReadings(t, "with a bad journal", mustView(t, f).Readings, rs[0]) // the state file's alone
			want := "readings journal " + journalPath(path) + ": " + tt.want +
				": its readings were dropped (they only feed the burn rate, which starts again from the state file's)"
			if err := f.Problem(); err == nil || err.Error() != want {
				t.Errorf("Problem() = %v\nwant %s", err, want)
			}
			if len(mustView(t, f).TopUps) != 1 {
				t.Error("the record is gone")
			}
			crash(f)
			g := mustOpen(t, path)
			if err := g.Problem(); err != nil {
				t.Errorf("the next Open: Problem() = %v, want none: the journal was started again", err)
			}
			wantReadings(t, "the next Open", mustView(t, g).Readings, rs[0])
		})
	}
}

func TestAJournalThatIsNotAFileDoesNotStopTheLedger(t *testing.T) {
	for _, kind := range []string{"directory", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			path := statePath(t)
			victim := filepath.Join(filepath.Dir(path), "victim")
			mustWrite(t, victim, "not the ledger's\n")
			var err error
			if kind == "directory" {
				err = os.Mkdir(journalPath(path), 0o700)
			} else {
				err = os.Symlink(victim, journalPath(path))
			}
			if err != nil {
				t.Fatal(err)
			}
			f := mustOpen(t, path)
			if err := f.Problem(); err == nil || !strings.Contains(err.Error(), "not a regular file") ||
				!strings.Contains(err.Error(), journalPath(path)) {
				t.Errorf("Problem() = %v, want the journal named as not a regular file", err)
			}
			writes := countWrites(f)
			r := reading(0, "7")
			mustUpdate(t, f, addReadings(r))
			if *writes != 1 {
				t.Errorf("%d rewrites of the state file, want 1: without a journal a reading goes to the file", *writes)
			}
			crash(f)
			wantReadings(t, "after a restart", mustView(t, mustOpen(t, path)).Readings, r)
			if got := string(mustRead(t, victim)); got != "not the ledger's\n" {
				t.Errorf("the file the symlink names was changed to %q", got)
			}
		})
	}
}

func TestAFailedAppendGoesToTheStateFile(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	mustUpdate(t, f, appendRecord(record("a", 0)))
	writes := 0
	f.fault = func(s step) error {
		switch s {
		case stepCreate:
			writes++
		case stepJournal:
			return errors.New("no space left on device")
		}
		return nil
	}
	r1 := reading(0, "10")
	mustUpdate(t, f, addReadings(r1))
	if writes != 1 {
		t.Fatalf("%d rewrites, want 1: a reading the journal could not take goes to the file", writes)
	}
	wantReadings(t, "the state file", fileReadings(t, path), r1)
	f.fault = nil
	writes2 := countWrites(f)
	r2 := reading(time.Minute, "9")
	mustUpdate(t, f, addReadings(r2))
	if *writes2 != 0 {
		t.Errorf("%d rewrites after the journal came back, want 0", *writes2)
	}
	crash(f)
	wantReadings(t, "after a restart", mustView(t, mustOpen(t, path)).Readings, r1, r2)
}

// A crash after a rewrite of the state file and before the journal started
// again leaves a journal that names the previous file: it is ignored,
// though its readings are later than the file's (a step of the clock back
// moved the file's).
func TestAStaleJournalIsIgnored(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	mustUpdate(t, f, appendRecord(record("a", 0)))
	mustUpdate(t, f, addReadings(reading(0, "5"), reading(time.Minute, "4")))
	f.fault = func(s step) error {
		if s == stepJournalReset {
			return errors.New("crashed")
		}
		return nil
	}
	mustUpdate(t, f, func(s *State) error { s.Shift(-time.Hour); return nil })
	want := mustView(t, f).Readings
	crash(f)
	g := mustOpen(t, path)
	wantReadings(t, "after a restart", mustView(t, g).Readings, want...)
	if err := g.Problem(); err != nil {
		t.Errorf("Problem() = %v, want none for a stale journal", err)
	}
}

func TestAChangeOfTheReadingsThatAddsNoneRewritesTheFile(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	mustUpdate(t, f, addReadings(reading(0, "5"), reading(time.Minute, "4"), reading(2*time.Minute, "3")))
	writes := countWrites(f)
	mustUpdate(t, f, func(s *State) error { s.ClampAhead(at(90*time.Second), time.Second); return nil })
	mustUpdate(t, f, addReadings(reading(30*time.Second, "4.5"))) // the clock went back
	if *writes != 2 {
		t.Errorf("%d rewrites, want 2", *writes)
	}
	crash(f)
	wantReadings(t, "after a restart", mustView(t, mustOpen(t, path)).Readings, reading(0, "5"), reading(30*time.Second, "4.5"))
}

func TestTheJournalStaysBounded(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	mustUpdate(t, f, appendRecord(record("a", 0)))
	writes := countWrites(f)
	const checks = 3000
	var largest int64
	for i := range checks {
		mustUpdate(t, f, addReadings(reading(time.Duration(i)*30*time.Second, "1000")))
		if i%50 == 0 {
			largest = max(largest, mustStat(t, journalPath(path)).Size())
		}
	}
	largest = max(largest, mustStat(t, journalPath(path)).Size())
	line := int64(len(journalLines(t, path)[1]) + 1)
	if largest > journalMax || *writes == 0 || int64(*writes) > checks*line/(journalMax/2) {
		t.Errorf("journal up to %d bytes (at most %d) with %d rewrites of the state file in %d checks", largest, journalMax, *writes, checks)
	}
	t.Logf("%d checks: %d rewrites, journal up to %d bytes, %d a line", checks, *writes, largest, line)
	for _, l := range journalLines(t, path)[1:] {
		var r Reading
		if err := unmarshalStrict([]byte(l), &r); err != nil {
			t.Fatalf("journal line %q: %v", l, err)
		}
	}
	want := mustView(t, f).Readings
	if len(want) != 16 || !want[15].At.Equal(at((checks-1)*30*time.Second)) {
		t.Fatalf("View holds %d readings up to %v, want the 16 newest", len(want), want[len(want)-1].At)
	}
	crash(f)
	wantReadings(t, "after a restart", mustView(t, mustOpen(t, path)).Readings, want...)
}

func TestTheJournalHasTheStateFilesPermissions(t *testing.T) {
	path := statePath(t)
	mustWrite(t, journalPath(path), "")
	if err := os.Chmod(journalPath(path), 0o644); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	mustUpdate(t, f, addReadings(reading(0, "1")))
	if mode := mustStat(t, journalPath(path)).Mode().Perm(); mode != 0o600 {
		t.Errorf("journal mode %o, want 600", mode)
	}
}

func TestReadFileAddsTheJournal(t *testing.T) {
	path := statePath(t)
	f := mustOpen(t, path)
	mustUpdate(t, f, addReadings(reading(0, "3"), reading(time.Minute, "2")))
	mustUpdate(t, f, addReadings(reading(2*time.Minute, "1")))
	s, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantReadings(t, "ReadFile", s.Readings, reading(0, "3"), reading(time.Minute, "2"), reading(2*time.Minute, "1"))
	if n := len(fileReadings(t, path)); n == 3 {
		t.Error("the state file holds every reading: the test shows nothing")
	}
}
