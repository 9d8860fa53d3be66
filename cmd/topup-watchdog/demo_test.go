package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The README's first command: `go run ./cmd/topup-watchdog demo --duration
// 20s` exits 0 by itself, shows a top-up and its confirmation, and prints
// the summary.
func TestDemoShowsATopUpItsConfirmationAndASummary(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runOnce(t, nil, "demo", "--duration", "20s")
	if code != exitOK {
		t.Fatalf("demo exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"\ttopup\t", `"outcome": "succeeded"`, "\ttopup confirmed\t", "Demo summary", "checks ", "lowest balance"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	m := regexp.MustCompile(`top-ups\s+(\d+) succeeded`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no top-up count in the summary:\n%s", stdout)
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 {
		t.Errorf("summary counts %d succeeded top-ups, want at least 1", n)
	}
	if !regexp.MustCompile(`credits confirmed [1-9]`).MatchString(stdout) {
		t.Errorf("summary shows no confirmed credit:\n%s", stdout)
	}
}
