package logging

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// unprintables are characters a console line must never hold raw: each
// could end a line early, move the cursor, recolour or reorder what
// follows it on a terminal, or hide text, so a value holding one could
// forge a line. Invalid UTF-8 is among them: a terminal reads it as it
// likes.
func unprintables() []struct{ name, s string } {
	list := []struct{ name, s string }{
		{"NUL", "\x00"}, {"LF", "\n"}, {"CR", "\r"}, {"tab", "\t"}, {"BS", "\b"}, {"ESC", "\x1b"},
		{"DEL", "\x7f"}, {"NEL U+0085", "\u0085"}, {"CSI U+009B", "\u009b"}, {"C1 U+0080", "\u0080"},
		{"LS U+2028", "\u2028"}, {"PS U+2029", "\u2029"},
		{"LRM U+200E", "\u200e"}, {"RLM U+200F", "\u200f"}, {"ALM U+061C", "\u061c"},
		{"ZWSP U+200B", "\u200b"}, {"ZWJ U+200D", "\u200d"}, {"WJ U+2060", "\u2060"},
		{"SHY U+00AD", "\u00ad"}, {"BOM U+FEFF", "\ufeff"}, {"tag U+E0001", "\U000e0001"},
		{"invalid byte", "\xff"}, {"truncated rune", "\xe2\x80"}, {"surrogate", "\xed\xa0\x80"},
	}
	for r := rune(0x202a); r <= 0x202e; r++ { // LRE RLE PDF LRO RLO
		list = append(list, struct{ name, s string }{fmt.Sprintf("bidi U+%04X", r), string(r)})
	}
	for r := rune(0x2066); r <= 0x2069; r++ { // LRI RLI FSI PDI
		list = append(list, struct{ name, s string }{fmt.Sprintf("bidi U+%04X", r), string(r)})
	}
	return list
}

// unprintable reports whether r must not appear raw in a console line:
// C0 and C1 controls, DEL, the line and paragraph separators, and the
// format characters (category Cf: bidi controls, zero widths, tags).
// The line's own end, '\n', is counted apart.
func unprintable(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r)
}

// rawIn names what of out is unprintable, line ends aside, or "" when
// nothing is.
func rawIn(out string) string {
	if !utf8.ValidString(out) {
		return "invalid UTF-8"
	}
	var found []string
	for _, r := range strings.TrimSuffix(out, "\n") {
		if r != '\n' && unprintable(r) {
			found = append(found, fmt.Sprintf("U+%04X", r))
		}
	}
	return strings.Join(found, " ")
}

// plain is a fmt.Stringer.
type plain string

func (p plain) String() string { return string(p) }

// nested is a zapcore.ObjectMarshaler holding s in a key, a value, and an
// array in an object within. (Short enough that the line fits in
// consoleWidth whatever s escapes to.)
type nested struct{ s string }

func (n nested) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddByteString("k"+n.s, []byte(n.s))
	return enc.AddObject("o", zapcore.ObjectMarshalerFunc(func(enc zapcore.ObjectEncoder) error {
		return enc.AddArray("l", zapcore.ArrayMarshalerFunc(func(enc zapcore.ArrayEncoder) error {
			enc.AppendString(n.s)
			return nil
		}))
	}))
}

// record is a struct logged by reflection.
type record struct {
	Name string            `json:"name"`
	Tags []string          `json:"tags"`
	Meta map[string]string `json:"meta"`
}

// consoleKinds are the ways s can reach a console line: the message, a
// key, the logger name, and every kind of field, nested ones included.
func consoleKinds() []struct {
	name string
	log  func(l *zap.Logger, s string)
} {
	return []struct {
		name string
		log  func(l *zap.Logger, s string)
	}{
		{"message", func(l *zap.Logger, s string) { l.Info("m" + s + "x") }},
		{"message word alone", func(l *zap.Logger, s string) { l.Info("a " + s + " b") }},
		{"key", func(l *zap.Logger, s string) { l.Info("m", zap.String("k"+s, "v")) }},
		{"lead key value", func(l *zap.Logger, s string) { l.Info("m", zap.String("reason", s)) }},
		{"logger name", func(l *zap.Logger, s string) { l.Named("n" + s).Info("m") }},
		{"With", func(l *zap.Logger, s string) { l.With(zap.String("w", s)).Info("m") }},
		{"String", func(l *zap.Logger, s string) { l.Info("m", zap.String("k", "a"+s+"b")) }},
		{"Strings", func(l *zap.Logger, s string) { l.Info("m", zap.Strings("k", []string{"a" + s, s + "b"})) }},
		{"Any map", func(l *zap.Logger, s string) { l.Info("m", zap.Any("k", map[string]string{"a" + s: s + "b"})) }},
		{"Any slice", func(l *zap.Logger, s string) { l.Info("m", zap.Any("k", []string{"a" + s})) }},
		{"Any []any", func(l *zap.Logger, s string) { l.Info("m", zap.Any("k", []any{"a" + s, 1})) }},
		{"Any struct", func(l *zap.Logger, s string) {
			l.Info("m", zap.Any("k", record{Name: s, Tags: []string{"t"}, Meta: map[string]string{s: "v"}}))
		}},
		{"Reflect", func(l *zap.Logger, s string) { l.Info("m", zap.Reflect("k", []any{map[string]any{s: []string{s}}})) }},
		{"Error", func(l *zap.Logger, s string) { l.Info("m", zap.Error(errors.New("a"+s+"b"))) }},
		{"wrapped Error", func(l *zap.Logger, s string) { l.Info("m", zap.Error(fmt.Errorf("w%s: %w", s, errors.New(s)))) }},
		{"NamedError", func(l *zap.Logger, s string) { l.Info("m", zap.NamedError("e"+s, errors.New(s))) }},
		{"Errors", func(l *zap.Logger, s string) { l.Info("m", zap.Errors("k", []error{errors.New(s)})) }},
		{"Stringer", func(l *zap.Logger, s string) { l.Info("m", zap.Stringer("k", plain("a"+s))) }},
		{"ByteString", func(l *zap.Logger, s string) { l.Info("m", zap.ByteString("k", []byte("a"+s))) }},
		{"ByteStrings", func(l *zap.Logger, s string) { l.Info("m", zap.ByteStrings("k", [][]byte{[]byte(s)})) }},
		{"Namespace", func(l *zap.Logger, s string) { l.Info("m", zap.Namespace("ns"+s), zap.String("k"+s, "a"+s)) }},
		{"Object", func(l *zap.Logger, s string) { l.Info("m", zap.Object("k", nested{s})) }},
		{"Dict", func(l *zap.Logger, s string) {
			l.Info("m", zap.Dict("k", zap.String("a"+s, s), zap.Strings("l", []string{s})))
		}},
	}
}

// TestConsoleEscapesUnprintables logs each unprintable character in each
// way it can reach the console, with and without a redactor (which
// rewrites every field before the encoder sees it): the line holds none
// of them raw, stays the one line it is, and still reads back.
func TestConsoleEscapesUnprintables(t *testing.T) {
	redactors := map[string]func(string) string{"plain": nil, "redacted": func(s string) string { return s }}
	for rname, redact := range redactors {
		for _, kind := range consoleKinds() {
			for _, c := range unprintables() {
				t.Run(rname+"/"+kind.name+"/"+c.name, func(t *testing.T) {
					var buf bytes.Buffer
					kind.log(console(&buf, redact), c.s)
					out := buf.String()
					if raw := rawIn(out); raw != "" {
						t.Errorf("raw %s in %q", raw, out)
					}
					if n := strings.Count(out, "\n"); n != 1 || !strings.HasSuffix(out, "\n") {
						t.Errorf("%d lines, want 1: %q", n, out)
					}
					if _, err := parseConsole(strings.TrimSuffix(out, "\n")); err != nil {
						t.Errorf("does not read back (%v): %q", err, out)
					}
				})
			}
		}
	}
}

// TestConsoleEscapesReadBackAsLogged: escaping loses nothing. A string
// reads back as Go unquotes it, an array or object as JSON decodes it,
// holding the very character logged (invalid bytes as U+FFFD, as zap
// writes them).
func TestConsoleEscapesReadBackAsLogged(t *testing.T) {
	for _, c := range unprintables() {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			console(&buf, nil).Info("m", zap.String("s", c.s), zap.Strings("l", []string{c.s}),
				zap.Any("o", map[string]string{c.s: c.s}))
			e, err := parseConsole(strings.TrimSuffix(buf.String(), "\n"))
			if err != nil {
				t.Fatalf("%v: %q", err, buf.String())
			}
			want := perByteValid(c.s)
			wantFields := map[string]any{"s": want, "l": []any{want}, "o": map[string]any{want: want}}
			if !reflect.DeepEqual(e.fields, wantFields) {
				t.Errorf("read back %#v, want %#v, from %q", e.fields, wantFields, buf.String())
			}
		})
	}
}

// perByteValid is s with each byte that is not UTF-8 replaced by U+FFFD,
// as zap's JSON encoder does it.
func perByteValid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// TestConsoleStackEscapesUnprintables: a stack keeps its lines and the
// tabs that indent them, and nothing else unprintable.
func TestConsoleStackEscapesUnprintables(t *testing.T) {
	for _, c := range unprintables() {
		if c.s == "\n" || c.s == "\t" { // the stack's own layout
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			enc := newConsoleEncoder(zapcore.EncoderConfig{})
			out, err := enc.EncodeEntry(zapcore.Entry{Level: zapcore.ErrorLevel, Time: fixedClock{}.Now(),
				Message: "panic recovered", Stack: "main.f" + c.s + "()\n\t/src/main.go:10" + c.s + "\n"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if raw := rawIn(strings.ReplaceAll(got, "\t", "")); raw != "" {
				t.Errorf("raw %s in %q", raw, got)
			}
			if n := strings.Count(got, "\n"); n != 3 || !strings.Contains(got, "\n    \t/src/main.go:10") {
				t.Errorf("%d lines, want 3, the last indented by a tab: %q", n, got)
			}
		})
	}
}

// TestConsoleKeepsWhatPrints: printable text other than ASCII (accents,
// CJK, emoji, a combining mark) is written as it is, in strings and in
// JSON alike.
func TestConsoleKeepsWhatPrints(t *testing.T) {
	var buf bytes.Buffer
	s := "é日本🙂e\u0301"
	console(&buf, nil).Info("m"+s, zap.String("s", s), zap.Strings("l", []string{s}))
	want := "2026-03-02T09:15:00Z INFO  m" + s + " s=" + s + ` l=["` + s + `"]` + "\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

// BenchmarkConsoleEntry is the cost of a typical console line, a
// decision: mostly ASCII, a list and an object among its fields.
func BenchmarkConsoleEntry(b *testing.B) {
	log := New(io.Discard, zapcore.DebugLevel, FormatConsole, nil)
	b.ReportAllocs()
	for b.Loop() {
		log.Info("decision", zap.String("action", "top_up"), zap.String("reason", "below_threshold"),
			zap.String("balance", "24.93801593"), zap.String("threshold", "25"), zap.Bool("dry_run", false),
			zap.Strings("schedules", []string{"weekday", "night"}), zap.Any("limits", map[string]int{"per_day": 3}),
			zap.String("note", "crédit épuisé"))
	}
}
