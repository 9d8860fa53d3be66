package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

func TestJSONLinesHaveTheContractKeys(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, zapcore.InfoLevel, FormatJSON, nil)
	log.Info("decision", zap.String("balance", "10.17127500"))

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON object: %v: %q", err, buf.String())
	}
	if line["msg"] != "decision" || line["level"] != "info" || line["balance"] != "10.17127500" {
		t.Errorf("line = %v", line)
	}
	if _, err := time.Parse(time.RFC3339Nano, line["ts"].(string)); err != nil {
		t.Errorf("ts is not RFC 3339: %v", err)
	}
}

func TestNothingIsSampledAway(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, zapcore.InfoLevel, FormatJSON, nil)
	const n = 1000 // zap's production sampler keeps 100 a second of one message
	for range n {
		log.Info("decision")
	}
	if got := strings.Count(buf.String(), "\n"); got != n {
		t.Errorf("wrote %d lines, want %d", got, n)
	}
}

func TestSecretsAreScrubbedFromEveryLine(t *testing.T) {
	var buf bytes.Buffer
	redact := strings.NewReplacer("hunter2", "[REDACTED]").Replace
	log := New(&buf, zapcore.DebugLevel, FormatJSON, redact)
	log.Error("check failed", zap.String("error", "GET /x?api_secret=hunter2 failed"))
	log.Debug("hunter2")

	sweep := secrettest.New("hunter2")
	sweep.Add("log", buf.Bytes())
	sweep.Check(t)
	if strings.Count(buf.String(), "[REDACTED]") != 2 {
		t.Errorf("want two redactions: %s", buf.String())
	}
}

func TestLevelFilters(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, zapcore.WarnLevel, FormatConsole, nil)
	log.Info("quiet")
	log.Warn("loud")
	if strings.Contains(buf.String(), "quiet") || !strings.Contains(buf.String(), "loud") {
		t.Errorf("output = %q", buf.String())
	}
}
