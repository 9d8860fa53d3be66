// Package logging builds the program's zap logger: JSON lines (or console
// text for people: console.go) on one writer, never sampled, with every
// secret redacted from each entry's values before it is encoded.
package logging

import (
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The formats of New.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// New returns a logger writing to out at level and above. redact, if not nil,
// is applied to the message, the logger name, the stack and every field of
// each entry, keys and nested values included, before it is encoded: the
// contract forbids the API secret and the trx anywhere the watchdog writes,
// so this is the last line of defence. Redacting values, not encoded lines,
// keeps every line valid whatever a secret holds. zap's own error output
// (lines about failed writes, not JSON) is redacted line by line.
func New(out io.Writer, level zapcore.Level, format string, redact func(string) string) *zap.Logger {
	enc := zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		MessageKey:     "msg",
		NameKey:        "logger",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     zapcore.RFC3339NanoTimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
	}
	encoder := zapcore.NewJSONEncoder(enc)
	if format == FormatConsole {
		encoder = newConsoleEncoder(enc)
	}
	// zapcore.NewCore has no sampler: every line is written.
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(out)), level)
	errOut := out
	if redact != nil {
		core = redactingCore{Core: core, redact: redact}
		errOut = redactingWriter{out: out, redact: redact}
	}
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(errOut))))
}

// redactingWriter scrubs each write of zap's error output: plain text lines
// about zap's own failures, which no encoder makes and no JSON reader reads.
// zap hands it one whole line per Write, so a secret is never split across
// two calls.
type redactingWriter struct {
	out    io.Writer
	redact func(string) string
}

func (w redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.out, w.redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
