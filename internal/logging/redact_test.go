package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// hostileSecrets are secrets that a scrub of encoded lines turns into broken
// JSON, or that hide in the syntax of a line: one character, JSON syntax,
// a JSON literal, a key of every line, a line break, an escape character.
var hostileSecrets = []string{
	"a", `"`, ":", "false", "}", "{", ",", "level", "msg", "x\ny", "\n", `\`, "<", "1", "é",
	"Sup3r-S3cret/+=value",
}

// stringerFunc is a fmt.Stringer.
type stringerFunc func() string

func (f stringerFunc) String() string { return f() }

// request is logged by reflection.
type request struct {
	Path    string
	Retried bool
	Header  map[string]string
}

// logEverything logs one line of every kind of field holding secret, in the
// clear and escaped, and returns the field keys of each line.
func logEverything(log *zap.Logger, secret string) [][]string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret), strconv.Quote(secret)}
	var keys [][]string
	line := func(msg string, fields ...zap.Field) {
		var k []string
		for _, f := range fields {
			k = append(k, f.Key)
			if f.Type == zapcore.NamespaceType {
				break // the fields after it are inside it
			}
		}
		keys = append(keys, k)
		log.Info(msg, fields...)
	}
	line("decision", zap.String("balance", "10.17127500"), zap.Bool("dry_run", false),
		zap.Int("attempts", 3), zap.Float64("ratio", 0.5), zap.Duration("took", 1500*time.Millisecond),
		zap.Time("at", time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)))
	line("check failed: "+secret, zap.Error(fmt.Errorf("GET /x?api_secret=%s: %w", forms[1], errors.New(secret))))
	line("escaped", zap.String("query", forms[1]), zap.String("path", forms[2]), zap.String("quoted", forms[3]),
		zap.ByteString("raw", []byte(secret)), zap.Strings("list", forms))
	line("key", zap.String("k"+secret, "v"), zap.Stringer("url", stringerFunc(func() string { return "https://x/" + secret })))
	line("object", zap.Object("req", zapcore.ObjectMarshalerFunc(func(enc zapcore.ObjectEncoder) error {
		enc.AddString("path", "/"+secret)
		enc.AddBool("ok", false)
		return enc.AddArray("ids", zapcore.ArrayMarshalerFunc(func(a zapcore.ArrayEncoder) error {
			a.AppendString(secret)
			a.AppendInt(1)
			a.AppendDuration(time.Second)
			return nil
		}))
	})))
	line("reflected", zap.Any("body", map[string]any{"secret": secret, secret: 1, "nested": []any{secret, false}}),
		zap.Reflect("request", request{Path: "/" + secret, Header: map[string]string{secret: secret}}))
	line("namespace", zap.Namespace("ns"), zap.String("inner", secret))
	keys = append(keys, []string{"component"})
	log.With(zap.String("component", "watch-"+secret)).Info("with")
	keys = append(keys, nil)
	log.Named("w-" + secret).Warn(secret)
	return keys
}

// judge tells whether the text a logger that redacts with redact wrote
// holds secret.
type judge struct {
	secret string
	redact func(string) string
}

func newJudge(secret string) judge { return judge{secret: secret, redact: vonage.NewRedactor(secret)} }

// leaks are the forms of the secret that s holds outside the marks the
// redactor left. They come from the one list of forms (internal/secrettest),
// not from the redactor, which would only judge itself. A one-character
// secret is held to those forms in their exact case: the sweep matches in
// any case, and "A" is not a leak of "a", but a letter of the text around
// it.
func (j judge) leaks(s string) []string {
	pieces := strings.Split(s, vonage.Redacted)
	if utf8.RuneCountInString(j.secret) == 1 {
		var out []string
		for _, f := range secrettest.Forms(j.secret) {
			if slices.ContainsFunc(pieces, func(p string) bool { return strings.Contains(p, f) }) {
				out = append(out, strconv.Quote(f))
			}
		}
		return out
	}
	sweep := secrettest.New(j.secret)
	for i, p := range pieces {
		sweep.Add(fmt.Sprintf("piece %d", i), []byte(p))
	}
	return sweep.Leaks()
}

// assertNoSecret fails if s holds a form of the secret outside the
// redactor's marks.
func assertNoSecret(t *testing.T, j judge, where, s string) {
	t.Helper()
	if l := j.leaks(s); len(l) > 0 {
		t.Errorf("%s holds a secret: %q: %s", where, s, l)
	}
}

// assertCleanValue walks a decoded JSON value: no key and no value holds a
// secret; numbers count by their text. Booleans and null hold no text.
func assertCleanValue(t *testing.T, j judge, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case nil, bool:
	case map[string]any:
		for k, e := range v {
			assertNoSecret(t, j, where+" key", k)
			assertCleanValue(t, j, where+"."+k, e)
		}
	case []any:
		for i, e := range v {
			assertCleanValue(t, j, fmt.Sprintf("%s[%d]", where, i), e)
		}
	case string:
		assertNoSecret(t, j, where, v)
	default:
		assertNoSecret(t, j, where, fmt.Sprint(v))
	}
}

// checkJSONLines checks every line of out: valid JSON, the encoder's keys
// and the field keys (redacted) all there, no secret anywhere outside the
// values zap makes itself (ts and level). It returns the number of lines
// that are not valid JSON.
func checkJSONLines(t *testing.T, j judge, out string, keys [][]string) int {
	t.Helper()
	redact := j.redact
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(keys) {
		t.Errorf("%d lines, want %d:\n%s", len(lines), len(keys), out)
	}
	invalid := 0
	for i, l := range lines {
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		if err := d.Decode(&m); err != nil || d.More() {
			invalid++
			t.Errorf("line %d is not one JSON object (%v): %s", i, err, l)
			continue
		}
		for _, k := range []string{"level", "ts", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d has no key %q: %s", i, k, l)
			}
		}
		if i < len(keys) {
			for _, k := range keys[i] {
				if _, ok := m[redact(k)]; !ok {
					t.Errorf("line %d has no key %q: %s", i, redact(k), l)
				}
			}
		}
		if v, ok := m[redact("dry_run")]; ok && v != false {
			t.Errorf("line %d: dry_run = %#v, want the literal false: %s", i, v, l)
		}
		// The encoder's keys are the encoder's; the message and the logger
		// name are values.
		for _, k := range []string{"msg", "logger"} {
			if v, ok := m[k]; ok {
				assertCleanValue(t, j, fmt.Sprintf("line %d %s", i, k), v)
			}
		}
		for _, k := range []string{"ts", "level", "msg", "logger"} {
			delete(m, k)
		}
		assertCleanValue(t, j, fmt.Sprintf("line %d", i), m)
	}
	return invalid
}

func TestRedactionKeepsEveryJSONLineValid(t *testing.T) {
	invalid, total := 0, 0
	for _, secret := range hostileSecrets {
		t.Run(strconv.Quote(secret), func(t *testing.T) {
			var buf bytes.Buffer
			j := newJudge(secret)
			keys := logEverything(New(&buf, zapcore.DebugLevel, FormatJSON, j.redact), secret)
			invalid += checkJSONLines(t, j, buf.String(), keys)
			total += len(keys)
		})
	}
	if invalid > 0 {
		t.Errorf("%d of %d lines are not valid JSON", invalid, total)
	}
}

func TestRedactionKeepsConsoleLinesIntact(t *testing.T) {
	for _, secret := range hostileSecrets {
		t.Run(strconv.Quote(secret), func(t *testing.T) {
			var buf bytes.Buffer
			j := newJudge(secret)
			keys := logEverything(New(&buf, zapcore.DebugLevel, FormatConsole, j.redact), secret)
			entries := consoleEntries(buf.String())
			if len(entries) != len(keys) {
				t.Fatalf("%d entries, want %d:\n%s", len(entries), len(keys), buf.String())
			}
			for i, e := range entries {
				c, err := parseConsole(e)
				if err != nil {
					t.Errorf("entry %d: %v: %q", i, err, e)
					continue
				}
				if _, err := time.Parse(time.RFC3339, c.time); err != nil || !slices.Contains([]string{"INFO", "WARN"}, c.level) {
					t.Errorf("entry %d does not start with a time and a level: %q", i, e)
				}
				for _, w := range c.words { // the message
					assertNoSecret(t, j, fmt.Sprintf("entry %d message", i), w)
				}
				for _, k := range keys[i] {
					if _, ok := c.fields[j.redact(k)]; !ok {
						t.Errorf("entry %d has no field %q: %q", i, j.redact(k), e)
					}
				}
				assertCleanValue(t, j, fmt.Sprintf("entry %d", i), c.fields)
			}
		})
	}
}

func TestRedactionKeepsTheOtherValuesAsTheyWere(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, zapcore.DebugLevel, FormatJSON, vonage.NewRedactor("Sup3r-S3cret/+=value"))
	log.Info("decision", zap.String("balance", "10.17127500"), zap.Bool("dry_run", false),
		zap.Int("attempts", 3), zap.Duration("took", 1500*time.Millisecond),
		zap.Object("req", zapcore.ObjectMarshalerFunc(func(enc zapcore.ObjectEncoder) error {
			enc.AddTime("at", time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC))
			return nil
		})),
		zap.Namespace("ns"), zap.Int("inner", 1))
	want := `"msg":"decision","balance":"10.17127500","dry_run":false,"attempts":3,"took":"1.5s",` +
		`"req":{"at":"2025-03-14T09:26:53Z"},"ns":{"inner":1}}` + "\n"
	if got := buf.String(); !strings.HasSuffix(got, want) {
		t.Errorf("line = %s\nwant it to end %s", got, want)
	}
}

// BenchmarkDecisionLine is the watchdog's most frequent line, redacted.
func BenchmarkDecisionLine(b *testing.B) {
	log := New(io.Discard, zapcore.InfoLevel, FormatJSON, vonage.NewRedactor("Sup3r-S3cret/+=value", "8ef2447e69604f642ae59363aa5f781b"))
	b.ReportAllocs()
	for b.Loop() {
		log.Info("decision", zap.String("balance", "10.17127500"), zap.Bool("auto_reload", true),
			zap.String("threshold", "10"), zap.String("action", "none"), zap.String("reason", "balance_ok"),
			zap.Bool("dry_run", false), zap.Int("topups_24h", 0), zap.Bool("refilling", false))
	}
}
