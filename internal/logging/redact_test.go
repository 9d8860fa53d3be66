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

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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

// assertNoSecret fails if s holds a form of a secret redact knows, outside
// the marks redact left.
func assertNoSecret(t *testing.T, redact func(string) string, where, s string) {
	t.Helper()
	for _, piece := range strings.Split(s, vonage.Redacted) {
		if redact(piece) != piece {
			t.Errorf("%s holds a secret: %q", where, s)
			return
		}
	}
}

// assertCleanValue walks a decoded JSON value: no key and no value holds a
// secret; numbers count by their text. Booleans and null hold no text.
func assertCleanValue(t *testing.T, redact func(string) string, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case nil, bool:
	case map[string]any:
		for k, e := range v {
			assertNoSecret(t, redact, where+" key", k)
			assertCleanValue(t, redact, where+"."+k, e)
		}
	case []any:
		for i, e := range v {
			assertCleanValue(t, redact, fmt.Sprintf("%s[%d]", where, i), e)
		}
	case string:
		assertNoSecret(t, redact, where, v)
	default:
		assertNoSecret(t, redact, where, fmt.Sprint(v))
	}
}

// checkJSONLines checks every line of out: valid JSON, the encoder's keys
// and the field keys (redacted) all there, no secret anywhere outside the
// values zap makes itself (ts and level). It returns the number of lines
// that are not valid JSON.
func checkJSONLines(t *testing.T, redact func(string) string, out string, keys [][]string) int {
	t.Helper()
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
				assertCleanValue(t, redact, fmt.Sprintf("line %d %s", i, k), v)
			}
		}
		for _, k := range []string{"ts", "level", "msg", "logger"} {
			delete(m, k)
		}
		assertCleanValue(t, redact, fmt.Sprintf("line %d", i), m)
	}
	return invalid
}

func TestRedactionKeepsEveryJSONLineValid(t *testing.T) {
	invalid, total := 0, 0
	for _, secret := range hostileSecrets {
		t.Run(strconv.Quote(secret), func(t *testing.T) {
			var buf bytes.Buffer
			redact := vonage.NewRedactor(secret)
			keys := logEverything(New(&buf, zapcore.DebugLevel, FormatJSON, redact), secret)
			invalid += checkJSONLines(t, redact, buf.String(), keys)
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
			redact := vonage.NewRedactor(secret)
			keys := logEverything(New(&buf, zapcore.DebugLevel, FormatConsole, redact), secret)
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != len(keys) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(keys), buf.String())
			}
			for i, l := range lines {
				parts := strings.Split(l, "\t")
				if len(parts) < 3 || !slices.Contains([]string{"INFO", "WARN"}, parts[1]) {
					t.Errorf("line %d is not time, level, message: %q", i, l)
					continue
				}
				if _, err := time.Parse(time.RFC3339, parts[0]); err != nil {
					t.Errorf("line %d: time %q: %v", i, parts[0], err)
				}
				rest := parts[2:]
				if ctx := rest[len(rest)-1]; len(keys[i]) > 0 {
					var m map[string]any
					if err := json.Unmarshal([]byte(ctx), &m); err != nil {
						t.Errorf("line %d: fields are not one JSON object (%v): %q", i, err, ctx)
					}
					assertCleanValue(t, redact, fmt.Sprintf("line %d", i), m)
					rest = rest[:len(rest)-1]
				}
				for _, p := range rest { // logger name and message
					assertNoSecret(t, redact, fmt.Sprintf("line %d", i), p)
				}
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
