package ledger

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// survives an encode and a second decode unchanged. The seed corpus is in
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			return
		}
		encoded, err := encode(s)
		if err != nil {
			t.Fatalf("encode an accepted state: %v", err)
		}
		again, err := Decode(encoded)
		if err != nil {
			t.Fatalf("decode the encoding of an accepted state: %v\n%s", err, encoded)
		}
		if !equalStates(s, again) {
			t.Fatalf("round trip changed the state\n got %+v\nwant %+v", again, s)
		}
		reencoded, err := encode(again)
		if err != nil || !bytes.Equal(reencoded, encoded) {
			t.Fatalf("encoding is not stable: %v\n%s\n%s", err, encoded, reencoded)
		}
	})
}

// TestFuzzSeedsMatchTheirNames checks that the valid_ seeds decode and the
// invalid_ ones do not, so the corpus covers both sides.
func TestFuzzSeedsMatchTheirNames(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	for _, p := range paths {
		_, err := Decode(readSeed(t, p))
		if valid := strings.HasPrefix(filepath.Base(p), "valid_"); valid != (err == nil) {
			t.Errorf("%s: Decode error = %v", filepath.Base(p), err)
		}
	}
}

// readSeed returns the one []byte value of a "go test fuzz v1" file.
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lit, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")")
	data, err := strconv.Unquote(lit)
	if !ok || !ok2 || err != nil {
		t.Fatalf("%s: not a go test fuzz v1 []byte seed: %v", path, err)
	}
	return []byte(data)
}

// FuzzJournal checks that no journal makes parseJournal panic, and that
// whatever it accepts, folded with AddReading as Open folds it, is a valid
// list of readings.
func FuzzJournal(f *testing.F) {
	const sum = "0123"
	header := `{"readings_journal":1,"state_sha256":"` + sum + `"}` + "\n"
	f.Add([]byte(header + `{"at":"2026-11-30T09:00:00Z","balance":"12.5","auto_reload":true}` + "\n"))
	f.Add([]byte(header + `{"at":"2026-11-30T09:00:30Z","balance":12}` + "\n" + `{"at":"2026-11-30T09:00:00Z","balance":"1"}` + "\n"))
	f.Add([]byte(header + `{"at":"2026-11-30T09:00:00Z","bal`))
	f.Add([]byte(header + "garbage\n"))
	f.Add([]byte(`{"readings_journal":1,"state_sha256":"other"}` + "\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, stale, line, err := parseJournal(data, sum)
		switch {
		case err != nil && (rs != nil || line < 1):
			t.Fatalf("an error at line %d with %d readings", line, len(rs))
		case stale && rs != nil:
			t.Fatal("a stale journal gave readings")
		}
		var s State
		for _, r := range rs {
			s.AddReading(r)
		}
		if err := validateReadings(s.Readings); err != nil {
			t.Fatalf("folded readings are invalid: %v", err)
		}
	})
}
