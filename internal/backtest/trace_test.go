package backtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func parse(t *testing.T, text string) Trace {
	t.Helper()
	tr, err := ParseTrace("trace.csv", strings.NewReader(text))
	if err != nil {
		t.Fatalf("ParseTrace: %v", err)
	}
	return tr
}

func wantRows(t *testing.T, tr Trace, want ...string) {
	t.Helper()
	var got []string
	for _, r := range tr.Rows {
		if r.At.Location() != time.UTC {
			t.Errorf("row at %v is not in UTC", r.At)
		}
		got = append(got, r.At.Format(time.RFC3339Nano)+" "+r.Spend.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseTraceReadsACSVWithHeaderCommentsAndBlankLines(t *testing.T) {
	tr := parse(t, "\ufeff# exported from billing\n"+
		"  TimeStamp , Spend \r\n"+
		"\n"+
		"2024-05-01T10:00:00Z,0.25\r\n"+
		"# a comment between rows\n"+
		"2024-05-01T12:01:00.5+02:00, 1.5\n"+
		"\"2024-05-01T10:02:00Z\",\"0\"\n"+
		"2024-05-01T10:03:00.000000001Z,0.0069") // no final line break
	wantRows(t, tr,
		"2024-05-01T10:00:00Z 0.25",
		"2024-05-01T10:01:00.5Z 1.5",
		"2024-05-01T10:02:00Z 0",
		"2024-05-01T10:03:00.000000001Z 0.0069")
	if tr.HasStart || !tr.StartBalance.IsZero() || tr.Path != "trace.csv" {
		t.Fatalf("start %v %v, path %q: a CSV says no start balance", tr.StartBalance, tr.HasStart, tr.Path)
	}
}

func TestParseTraceTakesAHeaderOnlyBeforeTheFirstRow(t *testing.T) {
	_, err := ParseTrace("trace.csv", strings.NewReader("2024-05-01T10:00:00Z,1\ntimestamp,spend\n"))
	wantError(t, err, `trace.csv:2: the time "timestamp" is not an RFC 3339 time such as 2024-05-01T10:00:00Z`)
}

// A watchdog log, as internal/logging writes it.
const logText = `{"level":"info","ts":"2024-05-01T10:00:00.000000001Z","msg":"starting","version":"1.2.3"}
{"level":"info","ts":"2024-05-01T10:00:00.5Z","msg":"decision","balance":"20","auto_reload":true,"threshold":"5","target":"10","action":"none","reason":"balance_ok","dry_run":false,"topups_24h":0}
{"level":"warn","ts":"2024-05-01T10:00:30Z","msg":"check failed","error":"vonage: 503","attempts":3}

{"level":"info","ts":"2024-05-01T10:01:00.5Z","msg":"decision","balance":"18.75","action":"none"}
{"level":"info","ts":"2024-05-01T10:01:01Z","msg":"topup","intent_id":"x","outcome":"succeeded","balance_before":"18.75"}
{"level":"info","ts":"2024-05-01T12:01:30.5+02:00","msg":"decision","balance":"28.5","action":"none"}
{"level":"info","ts":"2024-05-01T10:02:00.5Z","msg":"decision","balance":"27.9900","action":"none"}
`

func TestParseTraceReadsTheWatchdogsLogForItsDecisions(t *testing.T) {
	tr := parse(t, logText)
	wantRows(t, tr,
		"2024-05-01T10:00:00.5Z 0",    // the first decision: the start
		"2024-05-01T10:01:00.5Z 1.25", // the fall since the previous decision
		"2024-05-01T10:01:30.5Z 0",    // a rise is a credit, not negative spend
		"2024-05-01T10:02:00.5Z 0.51") // 28.5 - 27.9900, exact
	if !tr.HasStart || !tr.StartBalance.Equal(decimal.NewFromInt(20)) {
		t.Fatalf("start %v %v, want 20 true", tr.StartBalance, tr.HasStart)
	}
}

func TestParseTraceTakesABalanceWrittenAsAJSONNumber(t *testing.T) {
	tr := parse(t, `{"ts":"2024-05-01T10:00:00Z","msg":"decision","balance":7.5}`)
	if !tr.StartBalance.Equal(decimal.RequireFromString("7.5")) || len(tr.Rows) != 1 {
		t.Fatalf("start %v, rows %v", tr.StartBalance, tr.Rows)
	}
}

func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if _, ok := errors.AsType[*TraceError](err); !ok {
		t.Errorf("error %T, want *TraceError", err)
	}
	if err.Error() != want {
		t.Fatalf("error:\n%s\nwant:\n%s", err, want)
	}
}

func TestParseTraceRefusesWithTheFileAndLine(t *testing.T) {
	const t0 = "2024-05-01T10:00:00Z"
	tests := []struct {
		name, text, want string
	}{
		{"repeated time", t0 + ",1\n\n2024-05-01T12:00:00+02:00,1\n",
			`trace.csv:3: the time "2024-05-01T12:00:00+02:00" repeats line 1's "2024-05-01T10:00:00Z": times must be strictly increasing`},
		{"unsorted", "# x\n" + t0 + ",1\n2024-05-01T09:59:59.9Z,1\n",
			`trace.csv:3: the time "2024-05-01T09:59:59.9Z" is before line 2's "2024-05-01T10:00:00Z": times must be strictly increasing, rows sorted by time`},
		{"negative spend", t0 + ",-0.5\n", `trace.csv:1: the spend -0.5 is negative: a row gives the EUR spent since the previous row`},
		{"bad decimal", t0 + ",abc\n", `trace.csv:1: the spend "abc" is not a decimal such as 0.25`},
		{"exponent", t0 + ",1e3\n", `trace.csv:1: the spend "1e3" is not a decimal such as 0.25`},
		{"empty spend", t0 + ",\n", `trace.csv:1: the spend "" is not a decimal such as 0.25`},
		{"too many digits", t0 + "," + strings.Repeat("9", 41) + "\n",
			`trace.csv:1: the spend "9999999999999999999999999999999999999999"... has more than 40 digits`},
		{"bad time", "2024-05-01 10:00:00,1\n", `trace.csv:1: the time "2024-05-01 10:00:00" is not an RFC 3339 time such as 2024-05-01T10:00:00Z`},
		{"one field", t0 + "\n", `trace.csv:1: the row has 1 field, want 2: timestamp,spend`},
		{"three fields", t0 + ",1,2\n", `trace.csv:1: the row has 3 fields, want 2: timestamp,spend`},
		{"empty", "", `trace.csv: empty trace`},
		{"only blanks, comments and a header", "\n  \n# nothing\ntimestamp,spend\n", `trace.csv: empty trace`},
		{"no decisions", `{"ts":"` + t0 + `","msg":"starting"}` + "\n", `trace.csv: no "decision" lines in the log: nothing to replay`},
		{"not JSON", `{"ts":"` + t0 + `","msg":"starting"}` + "\n2024-05-01T10:00:01Z INFO decision\n",
			`trace.csv:2: the line is not a JSON object: a log must be the watchdog's JSON lines (TOPUP_LOG_FORMAT=json)`},
		{"not an object", `{"ts":"` + t0 + `","msg":"starting"}` + "\nnull\n",
			`trace.csv:2: the line is not a JSON object: a log must be the watchdog's JSON lines (TOPUP_LOG_FORMAT=json)`},
		{"torn last line", `{"ts":"` + t0 + `","msg":"decision","balance":"1"}` + "\n" + `{"ts":"2024-05-01T10:00:01Z","msg":"deci`,
			`trace.csv:2: the last line is not a JSON object, and has no line break: cut short while the watchdog wrote it`},
		{"bad balance", `{"ts":"` + t0 + `","msg":"decision","balance":"abc"}`, `trace.csv:1: the balance "abc" is not a decimal such as 0.25`},
		{"balance of the wrong type", `{"ts":"` + t0 + `","msg":"decision","balance":true}`, `trace.csv:1: the balance true is not a decimal string such as "12.50"`},
		{"no balance", `{"ts":"` + t0 + `","msg":"decision"}`, `trace.csv:1: the decision has no "balance"`},
		{"no ts", `{"msg":"decision","balance":"1"}`, `trace.csv:1: the decision has no "ts"`},
		{"ts of the wrong type", `{"ts":1714557600,"msg":"decision","balance":"1"}`,
			`trace.csv:1: the ts 1714557600 is not an RFC 3339 time such as 2024-05-01T10:00:00Z`},
		{"bad ts", `{"ts":"yesterday","msg":"decision","balance":"1"}`,
			`trace.csv:1: the ts "yesterday" is not an RFC 3339 time such as 2024-05-01T10:00:00Z`},
		{"rows centuries apart", "1700-01-01T00:00:00Z,1\n2000-01-01T00:00:00Z,1\n",
			`trace.csv:2: the row at 2000-01-01T00:00:00Z is 300 years after the first (line 1): a trace covers at most 366 days`},
		{"the whole range of RFC 3339", "# x\n0000-01-01T00:00:00Z,1\n9999-12-31T23:59:59.999999999Z,1\n",
			`trace.csv:3: the row at 9999-12-31T23:59:59.999999999Z is 9999 years after the first (line 2): a trace covers at most 366 days`},
		{"a second over a year", "2024-01-01T00:00:00+01:00,1\n2024-06-01T00:00:00Z,1\n2024-12-31T23:00:00.5Z,1\n",
			`trace.csv:3: the row at 2024-12-31T23:00:00.5Z is 366 days and 500ms after the first (line 1): a trace covers at most 366 days`},
		{"a decision over a year", `{"ts":"2024-01-01T00:00:00Z","msg":"decision","balance":"2"}` + "\n" + `{"ts":"2025-06-01T12:00:00Z","msg":"decision","balance":"1"}`,
			`trace.csv:2: the decision at 2025-06-01T12:00:00Z is 517 days and 12h0m0s after the first (line 1): a trace covers at most 366 days`},
		{"repeated ts", `{"ts":"` + t0 + `","msg":"decision","balance":"2"}` + "\n" + `{"ts":"` + t0 + `","msg":"decision","balance":"1"}`,
			`trace.csv:2: the ts "2024-05-01T10:00:00Z" repeats line 1's "2024-05-01T10:00:00Z": times must be strictly increasing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrace("trace.csv", strings.NewReader(tt.text))
			wantError(t, err, tt.want)
		})
	}
}

// A trace covers up to MaxSpan from its first row: 2024, a leap year, from
// its first instant to the next year's.
func TestParseTraceReadsAYear(t *testing.T) {
	tr := parse(t, "2024-01-01T00:00:00Z,1\n2024-07-01T00:00:00Z,1\n2025-01-01T00:00:00Z,1\n")
	if got := tr.Rows[2].At.Sub(tr.Rows[0].At); got != MaxSpan || MaxSpan != 366*24*time.Hour {
		t.Fatalf("rows %s apart, MaxSpan %s: want both 366 days", got, MaxSpan)
	}
}

// MaxRows rows are read; the row after them is refused with its line. The
// parser starts one row short of the bound, so as not to read a million.
func TestParseTraceRefusesARowBeyondMaxRows(t *testing.T) {
	p := parser{tr: Trace{Rows: make([]Row, MaxRows-1)}, line: MaxRows - 1}
	for i, line := range []string{"2024-01-01T00:00:00Z,1", "2024-01-01T00:00:01Z,1"} {
		p.line++
		err := p.parseLine([]byte(line))
		switch {
		case i == 0 && (err != nil || len(p.tr.Rows) != MaxRows):
			t.Fatalf("row %d: %v, %d rows; want it read", p.line, err, len(p.tr.Rows))
		case i == 1:
			err = &TraceError{Path: "trace.csv", Line: p.line, Err: err}
			wantError(t, err, "trace.csv:1100001: the trace has more than 1,100,000 rows: a backtest replays at most that many (a year of the watchdog's decisions at 30s)")
		}
	}
}

func TestThousandsPutsACommaBetweenEachThreeDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1_100_000: "1,100,000", -1234567: "-1,234,567", -123: "-123"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDaysWritesASpanForAPerson(t *testing.T) {
	for d, want := range map[time.Duration]string{
		90 * time.Second: "1m30s", 24 * time.Hour: "1 day", MaxSpan: "366 days",
		2*MaxSpan + time.Hour: "732 days and 1h0m0s", 25 * time.Hour: "1 day and 1h0m0s",
	} {
		if got := Days(d); got != want {
			t.Errorf("Days(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestParseTraceNamesTheWholeFileProblems(t *testing.T) {
	_, err := ParseTrace("trace.csv", strings.NewReader(""))
	if !errors.Is(err, ErrEmptyTrace) {
		t.Fatalf("error %v, want ErrEmptyTrace", err)
	}
	_, err = ParseTrace("trace.log", strings.NewReader(`{"msg":"starting"}`))
	if !errors.Is(err, ErrNoDecisions) {
		t.Fatalf("error %v, want ErrNoDecisions", err)
	}
}

func TestParseTraceRefusesALineOverTheBound(t *testing.T) {
	text := "2024-05-01T10:00:00Z,1\n2024-05-01T10:01:00Z," + strings.Repeat("1", MaxLineBytes) + "\n"
	_, err := ParseTrace("trace.csv", strings.NewReader(text))
	wantError(t, err, "trace.csv:2: the line is longer than 1 MiB")
}

func TestReadTraceReadsAFileAndRefusesAMissingOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, []byte("timestamp,spend\n2024-05-01T10:00:00Z,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := ReadTrace(path)
	if err != nil || tr.Path != path || len(tr.Rows) != 1 {
		t.Fatalf("ReadTrace: %v, %+v", err, tr)
	}
	missing := filepath.Join(filepath.Dir(path), "missing.csv")
	_, err = ReadTrace(missing)
	wantError(t, err, missing+": no such file or directory")
	_, err = ReadTrace(filepath.Dir(path))
	wantError(t, err, filepath.Dir(path)+": read: is a directory")
}

// monthCSV is a month of one-minute rows.
func monthCSV() []byte {
	var b bytes.Buffer
	b.WriteString("timestamp,spend\n")
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 43200 {
		fmt.Fprintf(&b, "%s,%d.%02d\n", t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i%3, i%100)
	}
	return b.Bytes()
}

func BenchmarkReadTraceMonth(b *testing.B) {
	data := monthCSV()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		tr, err := ParseTrace("month.csv", bytes.NewReader(data))
		if err != nil || len(tr.Rows) != 43200 {
			b.Fatalf("ParseTrace: %v, %d rows", err, len(tr.Rows))
		}
	}
}
