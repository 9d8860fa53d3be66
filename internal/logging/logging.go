// Package logging builds the program's zap logger: JSON lines (or console
// text for people) on one writer, never sampled, with every secret scrubbed
// from each line before it is written.
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
// is applied to every encoded line; the contract forbids the API secret and
// the trx anywhere the watchdog writes, so this is the last line of defence.
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
	var encoder zapcore.Encoder
	if format == FormatConsole {
		enc.EncodeTime = zapcore.RFC3339TimeEncoder
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	if redact != nil {
		out = redactingWriter{out: out, redact: redact}
	}
	// zapcore.NewCore has no sampler: every line is written.
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(out)), level)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(out))))
}

// redactingWriter scrubs each write. zap hands a core's writer one whole
// line per Write, so a secret is never split across two calls.
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
