package backtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// MaxLineBytes bounds one line of a trace: a longer line is refused, so
// that a file with no line breaks cannot take all the memory.
const MaxLineBytes = 1 << 20

// MaxSpan bounds a trace: its last row is at most 366 days after its first,
// a year, leap or not. A row beyond is refused with its line. The bound also
// keeps every span of the replay (at most twice MaxSpan, with the step
// before the first row) far inside a time.Duration.
const MaxSpan = 366 * 24 * time.Hour

// MaxRows bounds the rows of a trace: a year of the watchdog's decisions at
// 30 s (1,054,080) fits. The replay keeps some kilobytes a row, so a trace of
// a year of one-second rows would take tens of gigabytes; the row beyond is
// refused with its line.
const MaxRows = 1_100_000

// maxDigits bounds the characters of one amount, far above any balance or
// spend in EUR, so that a pathological number cannot make the replay's
// arithmetic slow.
const maxDigits = 40

// The problems ReadTrace reports about a whole file, in a *TraceError with
// no line.
var (
	// ErrEmptyTrace is a trace with no rows: nothing but blank lines,
	// comments or a header.
	ErrEmptyTrace = errors.New("empty trace")
	// ErrNoDecisions is a watchdog log without a single decision line:
	// no balance to take spend from.
	ErrNoDecisions = errors.New(`no "decision" lines in the log: nothing to replay`)
)

// TraceError is a trace refused, or a trace file that cannot be read: the
// file, the line of the problem (0 when the problem is the whole file) and
// the problem, worded for a person. The command maps it to exit 2.
type TraceError struct {
	Path string
	Line int
	Err  error
}

// Error reads "path:line: problem", or "path: problem" without a line.
func (e *TraceError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

// Unwrap returns the problem, so that errors.Is finds ErrEmptyTrace and
// ErrNoDecisions.
func (e *TraceError) Unwrap() error { return e.Err }

// ReadTrace reads the trace in the file at path, in either format that
// ParseTrace reads. A file that cannot be opened or read is a *TraceError
// too, without a line: a bad argument, like a bad trace.
func ReadTrace(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, &TraceError{Path: path, Err: pathCause(err)}
	}
	defer f.Close()
	return ParseTrace(path, f)
}

// ParseTrace reads a trace from r; name names it in messages and in the
// Trace's Path. The format is taken from the content: a first non-blank
// byte '{' means the watchdog's JSON log, anything else a CSV file.
//
// A CSV file has rows "timestamp,spend": an RFC 3339 time (fractional
// seconds and any offset allowed, stored as UTC) and the EUR spent since
// the previous row, a plain decimal such as 0.25 (no exponent, never
// negative). Spaces around a field and double quotes around a whole field
// are allowed; blank lines and lines starting with '#' are ignored, and the
// first row may be the header "timestamp,spend" (in any case).
//
// A JSON log is read for its "decision" lines: their "ts" and "balance".
// The first decision gives a row with spend 0 at its time, and the
// trace's StartBalance; each later one spends the fall of the balance
// since the previous decision, and nothing when it rose (a credit is not
// negative spend, as policy.Spend counts it). Spend in a span where a
// credit landed is hidden by the credit. Other lines are skipped, blank
// lines too; a line that is not a JSON object is refused, a last line cut
// short by a writer still writing included.
//
// In both formats times must be strictly increasing, the last row at most
// MaxSpan after the first, and the rows at most MaxRows. A refused trace is
// a *TraceError naming the line; a UTF-8 byte order mark is ignored.
func ParseTrace(name string, r io.Reader) (Trace, error) {
	p := parser{tr: Trace{Path: name}, size: sizeHint(r)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	sc.Split(p.split)
	for sc.Scan() {
		p.line++
		if err := p.parseLine(sc.Bytes()); err != nil {
			return Trace{}, &TraceError{Path: name, Line: p.line, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Trace{}, &TraceError{Path: name, Line: p.line + 1,
				Err: fmt.Errorf("the line is longer than %d MiB", MaxLineBytes>>20)}
		}
		return Trace{}, &TraceError{Path: name, Err: fmt.Errorf("read: %w", pathCause(err))}
	}
	if len(p.tr.Rows) == 0 {
		if p.format == formatJSON {
			return Trace{}, &TraceError{Path: name, Err: ErrNoDecisions}
		}
		return Trace{}, &TraceError{Path: name, Err: ErrEmptyTrace}
	}
	return p.tr, nil
}

// pathCause strips the operation and path from a *fs.PathError: the
// TraceError names the file already.
func pathCause(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// sizeHint is how many bytes r holds, when it can tell: a regular file's
// size, a bytes or strings reader's length; 0 otherwise.
func sizeHint(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return 0
}

// The bytes a row takes at least, about, in each format, to size the rows
// from the file's size: "2024-05-01T10:00:00Z,0.5" and a decision line
// among the log's others. The hint is capped at maxHintRows.
const (
	csvRowBytes  = 24
	jsonRowBytes = 256
	maxHintRows  = 1 << 20
)

// The formats a parser reads, known from the first non-blank line.
const (
	formatUnknown = iota
	formatCSV
	formatJSON
)

var bom = []byte("\ufeff")

// parser holds what reading a trace has learnt so far.
type parser struct {
	tr     Trace
	format int
	line   int
	// header is whether a CSV header may still come: before any row.
	header bool
	// prevAt, prevText and prevLine are the last row's time, as the file
	// wrote it, and its line; prevBalance the last decision's balance.
	prevAt      time.Time
	prevText    string
	prevLine    int
	prevBalance decimal.Decimal
	// firstAt and firstLine are the first row's time and line, which no
	// row may be more than MaxSpan after.
	firstAt   time.Time
	firstLine int
	// unterminated is whether the last line read had no line break.
	unterminated bool
	// size is sizeHint's, to give the rows their capacity at once.
	size int64
}

// addRow appends a row, the first one taking the capacity of all the rows
// the size of the input suggests: growing a month of rows by append
// allocates some five times their size. A row beyond MaxRows is refused.
func (p *parser) addRow(r Row) error {
	if len(p.tr.Rows) >= MaxRows {
		return fmt.Errorf("the trace has more than %s rows: a backtest replays at most that many (a year of the watchdog's decisions at 30s)",
			Thousands(MaxRows))
	}
	if p.tr.Rows == nil && p.size > 0 {
		per := int64(csvRowBytes)
		if p.format == formatJSON {
			per = jsonRowBytes
		}
		p.tr.Rows = make([]Row, 0, min(p.size/per+1, maxHintRows))
	}
	p.tr.Rows = append(p.tr.Rows, r)
	return nil
}

// split is bufio.ScanLines, noting a last line without a line break.
func (p *parser) split(data []byte, atEOF bool) (int, []byte, error) {
	advance, token, err := bufio.ScanLines(data, atEOF)
	if atEOF && token != nil && advance == len(data) && bytes.IndexByte(data, '\n') < 0 {
		p.unterminated = true
	}
	return advance, token, err
}

// parseLine reads one line, learning the format from the first non-blank
// one.
func (p *parser) parseLine(b []byte) error {
	if p.line == 1 {
		b = bytes.TrimPrefix(b, bom)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if p.format == formatUnknown {
		p.format, p.header = formatCSV, true
		if b[0] == '{' {
			p.format = formatJSON
		}
	}
	if p.format == formatJSON {
		return p.jsonLine(b)
	}
	return p.csvLine(b)
}

// csvLine reads one non-blank line of a CSV trace.
func (p *parser) csvLine(b []byte) error {
	if b[0] == '#' {
		return nil
	}
	if n := bytes.Count(b, []byte{','}) + 1; n != 2 {
		fields := "fields"
		if n == 1 {
			fields = "field"
		}
		return fmt.Errorf("the row has %d %s, want 2: timestamp,spend", n, fields)
	}
	ts, sp, _ := bytes.Cut(b, []byte{','})
	ts, sp = csvField(ts), csvField(sp)
	if p.header {
		p.header = false
		if bytes.EqualFold(ts, []byte("timestamp")) && bytes.EqualFold(sp, []byte("spend")) {
			return nil
		}
	}
	at, err := p.parseTime("time", string(ts))
	if err != nil {
		return err
	}
	spend, err := parseAmount("spend", string(sp))
	if err != nil {
		return err
	}
	if spend.IsNegative() {
		return fmt.Errorf("the spend %s is negative: a row gives the EUR spent since the previous row", sp)
	}
	return p.addRow(Row{At: at, Spend: spend})
}

// csvField trims the spaces around a field, then the double quotes around
// it, as a spreadsheet may write them.
func csvField(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = bytes.TrimSpace(b[1 : len(b)-1])
	}
	return b
}

// logLine is what the parser takes from a line of the JSON log. The values
// are kept raw so that a value of the wrong type is reported in words.
type logLine struct {
	Msg     json.RawMessage `json:"msg"`
	TS      json.RawMessage `json:"ts"`
	Balance json.RawMessage `json:"balance"`
}

// jsonLine reads one non-blank line of a JSON log.
func (p *parser) jsonLine(b []byte) error {
	var l logLine
	if err := json.Unmarshal(b, &l); err != nil || b[0] != '{' {
		if p.unterminated {
			return errors.New("the last line is not a JSON object, and has no line break: cut short while the watchdog wrote it")
		}
		return errors.New("the line is not a JSON object: a log must be the watchdog's JSON lines (TOPUP_LOG_FORMAT=json)")
	}
	if msg, ok := jsonString(l.Msg); !ok || msg != "decision" {
		return nil
	}
	if l.TS == nil {
		return errors.New(`the decision has no "ts"`)
	}
	ts, ok := jsonString(l.TS)
	if !ok {
		return fmt.Errorf("the ts %s is not an RFC 3339 time such as 2024-05-01T10:00:00Z", clipRaw(string(l.TS)))
	}
	at, err := p.parseTime("ts", ts)
	if err != nil {
		return err
	}
	if l.Balance == nil {
		return errors.New(`the decision has no "balance"`)
	}
	text, ok := jsonString(l.Balance)
	if !ok {
		// A JSON number is taken as the exact text it is written in.
		text = string(l.Balance)
		if !config.IsPlainDecimal(text) {
			return fmt.Errorf("the balance %s is not a decimal string such as \"12.50\"", clipRaw(text))
		}
	}
	balance, err := parseAmount("balance", text)
	if err != nil {
		return err
	}
	spend := decimal.Zero
	if len(p.tr.Rows) == 0 {
		p.tr.StartBalance, p.tr.HasStart = balance, true
	} else {
		spend = policy.Spend(p.prevBalance, balance)
	}
	if err := p.addRow(Row{At: at, Spend: spend}); err != nil {
		return err
	}
	p.prevBalance = balance
	return nil
}

// jsonString is the string a raw JSON value holds, and false when it does
// not hold a string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// parseTime reads the RFC 3339 time of the current row, which must come
// after the previous row's and at most MaxSpan after the first row's; what
// names the field in messages.
func (p *parser) parseTime(what, s string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("the %s %s is not an RFC 3339 time such as 2024-05-01T10:00:00Z", what, clip(s))
	}
	at = at.UTC()
	if p.prevLine > 0 && !at.After(p.prevAt) {
		if at.Equal(p.prevAt) {
			return time.Time{}, fmt.Errorf("the %s %s repeats line %d's %s: times must be strictly increasing",
				what, clip(s), p.prevLine, clip(p.prevText))
		}
		return time.Time{}, fmt.Errorf("the %s %s is before line %d's %s: times must be strictly increasing, rows sorted by time",
			what, clip(s), p.prevLine, clip(p.prevText))
	}
	if p.prevLine == 0 {
		p.firstAt, p.firstLine = at, p.line
	} else if at.After(p.firstAt.Add(MaxSpan)) {
		// Times compared, not their difference: rows centuries apart
		// would overflow a time.Duration.
		row := "row"
		if p.format == formatJSON {
			row = "decision"
		}
		return time.Time{}, fmt.Errorf("the %s at %s is %s after the first (line %d): a trace covers at most %s",
			row, at.Format(time.RFC3339Nano), after(p.firstAt, at), p.firstLine, Days(MaxSpan))
	}
	p.prevAt, p.prevText, p.prevLine = at, s, p.line
	return at, nil
}

// parseAmount reads a plain decimal such as 12.50 or -3: digits, at most
// one point with digits on both sides, an optional leading minus; no
// exponent, no plus, no NaN or infinity. what names it in messages.
func parseAmount(what, s string) (decimal.Decimal, error) {
	if !config.IsPlainDecimal(s) {
		return decimal.Decimal{}, fmt.Errorf("the %s %s is not a decimal such as 0.25", what, clip(s))
	}
	if len(s) > maxDigits {
		return decimal.Decimal{}, fmt.Errorf("the %s %s has more than %d digits", what, clip(s), maxDigits)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("the %s %s is not a decimal such as 0.25", what, clip(s))
	}
	return d, nil
}
