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
