package backtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParseTrace feeds ParseTrace arbitrary bytes. It must never panic; a
// trace it accepts must have rows in strictly increasing UTC time, the last
// at most MaxSpan after the first, and no negative spend; a trace it
// refuses must be a *TraceError naming the file, worded for a person: no Go
// internals. More seeds are in
// testdata/fuzz/FuzzParseTrace.
func FuzzParseTrace(f *testing.F) {
	f.Add([]byte("timestamp,spend\n2024-05-01T10:00:00Z,0.25\n2024-05-01T10:01:00.5+02:00,1\n"))
	f.Add([]byte("# c\n\n2024-05-01T10:00:00Z, 0\n2024-05-01T10:00:00Z,1\n"))
	f.Add([]byte(`{"ts":"2024-05-01T10:00:00Z","msg":"decision","balance":"20"}` + "\n" +
		`{"ts":"2024-05-01T10:01:00Z","msg":"topup","balance_before":"20"}` + "\n" +
		`{"ts":"2024-05-01T10:02:00Z","msg":"decision","balance":19.5}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := ParseTrace("fuzz.csv", bytes.NewReader(data))
		if err != nil {
			te, ok := errors.AsType[*TraceError](err)
			if !ok || te.Path != "fuzz.csv" || !strings.HasPrefix(err.Error(), "fuzz.csv") {
				t.Fatalf("error %T %q, want a *TraceError naming fuzz.csv", err, err)
			}
			for _, internal := range []string{"json:", "parsing time", "strconv", "decimal:", "can't convert"} {
				if strings.Contains(err.Error(), internal) {
					t.Fatalf("error %q holds Go's own wording %q", err, internal)
				}
			}
			return
		}
		if len(tr.Rows) == 0 {
			t.Fatal("a trace accepted with no rows")
		}
		for i, r := range tr.Rows {
			if r.Spend.IsNegative() {
				t.Fatalf("row %d: negative spend %s", i, r.Spend)
			}
			if r.At.Location().String() != "UTC" {
				t.Fatalf("row %d: time %v not in UTC", i, r.At)
			}
			if i > 0 && !r.At.After(tr.Rows[i-1].At) {
				t.Fatalf("row %d at %v, not after row %d at %v", i, r.At, i-1, tr.Rows[i-1].At)
			}
		}
		if first, last := tr.Rows[0].At, tr.Rows[len(tr.Rows)-1].At; last.After(first.Add(MaxSpan)) {
			t.Fatalf("rows from %v to %v: more than %s apart", first, last, MaxSpan)
		}
		if tr.HasStart && !tr.Rows[0].Spend.IsZero() {
			t.Fatalf("a log's first row spends %s, want 0", tr.Rows[0].Spend)
		}
	})
}
