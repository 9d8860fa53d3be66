package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// fixedClock is 2026-03-02 09:15:00 UTC.
type fixedClock struct{}

func (fixedClock) Now() time.Time                         { return time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC) }
func (fixedClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

func console(buf *bytes.Buffer, redact func(string) string) *zap.Logger {
	return New(buf, zapcore.DebugLevel, FormatConsole, redact).WithOptions(zap.WithClock(fixedClock{}))
}

func TestConsoleLines(t *testing.T) {
	long := strings.Repeat("x", 130)
	tests := []struct {
		name string
		log  func(*zap.Logger)
		want string
	}{
		{"a line that fits stays one, lead fields first", func(l *zap.Logger) {
			l.Info("topup confirmed", zap.String("intent_id", "3dfc"), zap.String("balance_before", "12.34"),
				zap.String("balance_after", "37.34"), zap.Int64("after_ms", 3000))
		}, "2026-03-02T09:15:00Z INFO  topup confirmed balance_before=12.34 balance_after=37.34 intent_id=3dfc after_ms=3000\n"},
		{"lead fields fill the first line, the others follow indented", func(l *zap.Logger) {
			l.Info("decision", zap.String("balance", "24.93801593"), zap.Bool("auto_reload", true),
				zap.String("threshold", "25"), zap.String("target", "40"), zap.String("action", "top_up"),
				zap.String("reason", "below_threshold"), zap.Bool("dry_run", false), zap.Int("topups_24h", 0),
				zap.Bool("refilling", true), zap.Bool("window_open", true), zap.String("burn_rate_per_min", "60.000531"),
				zap.String("projected_balance", "-575.06729407"), zap.Int64("lead_time_ms", 600000), zap.Bool("lead_time_auto", true))
		}, "2026-03-02T09:15:00Z INFO  decision action=top_up reason=below_threshold balance=24.93801593 threshold=25 target=40\n" +
			"    projected_balance=-575.06729407 burn_rate_per_min=60.000531 dry_run=false auto_reload=true topups_24h=0\n" +
			"    refilling=true window_open=true lead_time_ms=600000 lead_time_auto=true\n"},
		{"a long message wraps at words", func(l *zap.Logger) {
			l.Warn("TOPUP_AMOUNT is not set: any rise of the balance, a refund of a few cents included, confirms a pending " +
				"top-up and lets the next one go out before its credit; set it to the amount of the auto-reload payment")
		}, "2026-03-02T09:15:00Z WARN  TOPUP_AMOUNT is not set: any rise of the balance, a refund of a few cents included, confirms\n" +
			"    a pending top-up and lets the next one go out before its credit; set it to the amount of the auto-reload payment\n"},
		{"values are quoted when they must be, objects are JSON", func(l *zap.Logger) {
			l.Named("http").With(zap.String("replica", "pod a")).Error("x", zap.Error(errors.New(`say "no"`)),
				zap.String("empty", ""), zap.String("eq", "a=b"), zap.Duration("d", 1500*time.Millisecond),
				zap.Time("at", time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC)), zap.Strings("ids", []string{"a", "b"}),
				zap.Float64("f", 0.5), zap.String("tab", "a\tb"))
		}, `2026-03-02T09:15:00Z ERROR x logger=http error="say \"no\""` + "\n" +
			`    replica="pod a" empty="" eq="a=b" d=1.5s at=2026-01-01T00:00:00.000000005Z ids=["a","b"] f=0.5 tab="a\tb"` + "\n"},
		{"a field wider than a line has one of its own", func(l *zap.Logger) {
			l.Error("check failed", zap.String("error", long), zap.Int("attempts", 3))
		}, "2026-03-02T09:15:00Z ERROR check failed\n    error=" + long + "\n    attempts=3\n"},
		{"no fields", func(l *zap.Logger) { l.Info("stopping") }, "2026-03-02T09:15:00Z INFO  stopping\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(console(&buf, nil))
			if buf.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", buf.String(), tt.want)
			}
		})
	}
}

func TestConsoleLinesAreRedacted(t *testing.T) {
	var buf bytes.Buffer
	log := console(&buf, strings.NewReplacer("hunter2", "[REDACTED]").Replace)
	log.Error("check failed hunter2", zap.String("error", "GET /x?api_secret=hunter2"), zap.Any("m", map[string]string{"k": "hunter2"}))
	want := `2026-03-02T09:15:00Z ERROR check failed [REDACTED] error="GET /x?api_secret=[REDACTED]" m={"k":"[REDACTED]"}` + "\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestConsoleStackFollowsIndented(t *testing.T) {
	var buf bytes.Buffer
	enc := newConsoleEncoder(zapcore.EncoderConfig{})
	out, err := enc.EncodeEntry(zapcore.Entry{Level: zapcore.ErrorLevel, Time: fixedClock{}.Now(), Message: "panic recovered",
		Stack: "main.f\n\t/src/main.go:10\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(out.Bytes())
	want := "2026-03-02T09:15:00Z ERROR panic recovered\n    main.f\n    \t/src/main.go:10\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}
