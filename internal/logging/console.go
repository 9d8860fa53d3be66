package logging

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// consoleWidth is the column a console line wraps at: the rest of its
// fields go on the following lines, indented by consoleIndent. A single
// field wider than that (a long error) keeps a line of its own, whole.
const consoleWidth = 120

const consoleIndent = "    "

// consoleLead are the keys a person reads first, in this order: what was
// decided or happened and why, then the amounts it was decided on. Every
// other field follows, in the order it was logged.
func consoleLead() []string {
	return []string{
		"version", "action", "reason", "outcome",
		"balance", "balance_before", "balance_after", "threshold", "target", "amount",
		"projected_balance", "burn_rate_per_min", "dry_run", "schedule", "policy", "error",
	}
}

// consoleEncoder writes an entry for people: its time, level and message,
// then its fields as key=value, the lead ones first. The fields are
// encoded by zap's JSON encoder (fields alone, in the order logged), which
// already knows every kind of field, and then rewritten: strings bare
// unless they need quotes, objects and arrays as compact JSON. Every text
// it writes goes through printable, so that no value can end a line or
// drive the terminal.
type consoleEncoder struct {
	zapcore.Encoder // the JSON encoder of the fields; With adds to it
	pool            buffer.Pool
	rank            map[string]int // consoleLead's keys and their places
}

func newConsoleEncoder(cfg zapcore.EncoderConfig) zapcore.Encoder {
	fields := zapcore.EncoderConfig{
		LineEnding: "\n", EncodeTime: cfg.EncodeTime, EncodeDuration: cfg.EncodeDuration,
	}
	rank := map[string]int{}
	for i, k := range consoleLead() {
		rank[k] = i
	}
	return &consoleEncoder{Encoder: zapcore.NewJSONEncoder(fields), pool: buffer.NewPool(), rank: rank}
}

// Clone copies the encoder and the fields added with With.
func (e *consoleEncoder) Clone() zapcore.Encoder {
	return &consoleEncoder{Encoder: e.Encoder.Clone(), pool: e.pool, rank: e.rank}
}

// EncodeEntry writes ent and fields, after those of With, on one line, or
// on several when they do not fit in consoleWidth columns.
func (e *consoleEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	encoded, err := e.Encoder.EncodeEntry(zapcore.Entry{}, fields)
	if err != nil {
		return nil, err
	}
	pairs := decodePairs(encoded.Bytes())
	encoded.Free()

	head := []string{ent.Time.Format(time.RFC3339), padLevel(ent.Level)}
	head = append(head, strings.Fields(ent.Message)...)
	if ent.LoggerName != "" {
		head = append(head, "logger="+quoteIfNeeded(ent.LoggerName))
	}
	var lead, rest []string
	slices.SortStableFunc(pairs, func(a, b pair) int { return e.place(a.key) - e.place(b.key) })
	for _, p := range pairs {
		if _, ok := e.rank[p.key]; ok {
			lead = append(lead, p.text())
		} else {
			rest = append(rest, p.text())
		}
	}
	// The one place every token passes, whatever made it: the message's
	// words, keys, quoted strings and JSON alike.
	for _, tokens := range [][]string{head, lead, rest} {
		for i, t := range tokens {
			tokens[i] = printable(t)
		}
	}

	out := e.pool.Get()
	out.AppendString(layout(head, lead, rest))
	if ent.Stack != "" {
		for _, l := range strings.Split(strings.TrimRight(ent.Stack, "\n"), "\n") {
			out.AppendString("\n" + consoleIndent + stackLine(l))
		}
	}
	out.AppendByte('\n')
	return out, nil
}

// place orders a key: consoleLead's by their place, the others after them.
func (e *consoleEncoder) place(key string) int {
	if i, ok := e.rank[key]; ok {
		return i
	}
	return len(e.rank)
}

// padLevel is the level in capitals, padded so that messages line up.
func padLevel(l zapcore.Level) string {
	return (l.CapitalString() + "    ")[:max(5, len(l.CapitalString()))]
}

// layout joins the tokens on one line when they fit. Else the head (the
// message wrapped when it is long) and as many lead fields as fit make the
// first line, and the other fields follow on indented lines.
func layout(head, lead, rest []string) string {
	all := slices.Concat(head, lead, rest)
	if width(strings.Join(all, " ")) <= consoleWidth {
		return strings.Join(all, " ")
	}
	lines := fill(nil, "", head)
	last := len(lines) - 1
	n := 0
	for n < len(lead) && width(lines[last])+1+width(lead[n]) <= consoleWidth {
		lines[last] += " " + lead[n]
		n++
	}
	if more := slices.Concat(lead[n:], rest); len(more) > 0 {
		lines = fill(lines, consoleIndent, more)
	}
	return strings.Join(lines, "\n")
}

// fill appends tokens to lines on new lines of at most consoleWidth
// columns, the first starting with start and the others with
// consoleIndent. A token never splits: one too wide has a line of its own.
func fill(lines []string, start string, tokens []string) []string {
	line := start
	for _, t := range tokens {
		switch {
		case line == start || line == consoleIndent:
			line += t
		case width(line)+1+width(t) > consoleWidth:
			lines = append(lines, line)
			line = consoleIndent + t
		default:
			line += " " + t
		}
	}
	return append(lines, line)
}

func width(s string) int { return utf8.RuneCountInString(s) }

// pair is one field: its key and its value as the console writes it.
type pair struct{ key, value string }

func (p pair) text() string { return quoteIfNeeded(p.key) + "=" + p.value }

// decodePairs reads the JSON object the fields encoder wrote, keeping the
// order of its keys. It cannot fail on what that encoder writes; should it
// all the same, the object is kept whole under the key "fields".
func decodePairs(data []byte) []pair {
	dec := json.NewDecoder(bytes.NewReader(data))
	var pairs []pair
	if _, err := dec.Token(); err != nil {
		return []pair{{"fields", string(bytes.TrimSpace(data))}}
	}
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		var raw json.RawMessage
		if err != nil || !ok || dec.Decode(&raw) != nil {
			return []pair{{"fields", string(bytes.TrimSpace(data))}}
		}
		pairs = append(pairs, pair{key, consoleValue(raw)})
	}
	return pairs
}

// consoleValue is a JSON value as the console writes it: a string bare
// when it can be, anything else as its JSON text.
func consoleValue(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return quoteIfNeeded(s)
	}
	return string(raw)
}

// quoteIfNeeded quotes s when it would not read back as one value: empty,
// or holding a space, a quote, an equals sign, what does not print or
// what is not UTF-8. strconv.Quote escapes exactly what printable would
// (and invalid bytes as \xff, which says more than U+FFFD): a quoted
// string reads back as it was logged.
func quoteIfNeeded(s string) string {
	if s == "" || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return r == ' ' || r == '"' || r == '=' || r == '\\' || !unicode.IsPrint(r)
	}) {
		return strconv.Quote(s)
	}
	return s
}

// printable is s with every character that would not show as itself on a
// terminal written as a \u escape: what unicode.IsPrint refuses, that is
// C0 and C1 controls, DEL, U+2028 and U+2029, the bidi controls and every
// other format character (Cf), spaces other than ' ', private and
// unassigned code points; and each byte that is not UTF-8, as \ufffd. A
// line then cannot be ended early, recoloured, reordered or hidden by
// what a value holds. The escapes are JSON's (a character above U+FFFF is
// a surrogate pair), so that JSON stays JSON and means what it meant; a
// string strconv.Quote made holds nothing to escape and comes back as it
// is.
func printable(s string) string {
	var b strings.Builder
	last := 0 // s[:last] is in b
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if (r != utf8.RuneError || size > 1) && unicode.IsPrint(r) {
			i += size
			continue
		}
		if last == 0 {
			b.Grow(len(s) + 16)
		}
		b.WriteString(s[last:i])
		writeEscape(&b, r)
		i += size
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// writeEscape writes r as JSON escapes it: \uXXXX, or two of them, a
// surrogate pair, above U+FFFF. An invalid byte comes as utf8.RuneError.
func writeEscape(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	units := []rune{r}
	if r > 0xffff {
		hi, lo := utf16.EncodeRune(r)
		units = []rune{hi, lo}
	}
	for _, u := range units {
		b.WriteString(`\u`)
		b.WriteByte(hex[u>>12&0xf])
		b.WriteByte(hex[u>>8&0xf])
		b.WriteByte(hex[u>>4&0xf])
		b.WriteByte(hex[u&0xf])
	}
}

// stackLine is a line of a stack trace made printable but for its tabs,
// which are how Go's traces indent a file under its function.
func stackLine(l string) string {
	parts := strings.Split(l, "\t")
	for i, p := range parts {
		parts[i] = printable(p)
	}
	return strings.Join(parts, "\t")
}
