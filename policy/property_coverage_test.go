package policy_test

// What the sequences of property_test.go went through: the coverage that
// tells that they reached every rule, and the committed fuzz seeds that
// must reach them all.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/oracle"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// seqCoverage counts what the sequences went through, so that a test can
// tell that they reached every rule.
type seqCoverage map[string]int

// seqSee counts what one decision went through.
func seqSee(seen seqCoverage, s policy.Settings, in policy.Input, d policy.Decision, f oracle.Facts) {
	wants, blocks := f.Wants(), f.Blocks()
	seen[string(d.Action)+"/"+string(d.Reason)]++
	if f.Below && len(blocks) == 0 {
		seen["liveness applied"]++
	}
	if f.WindowOpen && d.Action != policy.ActionTopUp && !f.AutoReloadOff && len(wants) > 0 {
		seen["window held"]++
	}
	if f.WindowOpen && in.Now.Sub(seqLatestAt(in.TopUps)) >= s.Window {
		seen["window held past its intent"]++
	}
	if len(wants) > 0 && wants[0] == policy.ReasonProjectedBelowThreshold && d.Action == policy.ActionBlocked {
		seen["projected, blocked/"+string(d.Reason)]++
	}
	if !s.Predictive && d.RateKnown && d.Projected.LessThan(s.Threshold) && d.Action == policy.ActionNone {
		seen["the threshold policy passed over a projection below the threshold"]++
	}
	switch {
	case d.RateKnown && !d.LeadAuto:
		seen["rate known, lead time set"]++
	case d.RateKnown && slices.ContainsFunc(in.TopUps, func(t policy.TopUp) bool { return !t.ConfirmedAt.IsZero() }):
		seen["rate known, lead time from the credit delays"]++
	}
}

// seqLatestAt is the newest intent time of the pending top-ups.
func seqLatestAt(topUps []policy.TopUp) time.Time {
	var latest time.Time
	for _, t := range topUps {
		if t.Status == policy.Pending && t.At.After(latest) {
			latest = t.At
		}
	}
	return latest
}

// TestDecideSequenceSeedsReachEveryRule runs the committed fuzz seeds, the
// hand-made scenarios the fuzzer starts from, and checks that together they
// reach every action and reason.
func TestDecideSequenceSeedsReachEveryRule(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecideSequence", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	seen := seqCoverage{}
	for _, p := range paths {
		data, err := seqReadSeed(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := seqCheck(seqDecode(data), seen); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
	seqRequireCoverage(t, seen)
}

// seqReadSeed reads a "go test fuzz v1" file holding one []byte.
func seqReadSeed(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		return nil, fmt.Errorf("%s: not a go test fuzz v1 file of one []byte", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(s), nil
}

func seqRequireCoverage(t *testing.T, seen seqCoverage) {
	t.Helper()
	for _, k := range []string{
		"none/balance_ok", "top_up/below_threshold", "top_up/refilling",
		"blocked/auto_reload_disabled", "blocked/window_open", "blocked/recently_rejected",
		"blocked/daily_cap_reached", "liveness applied", "window held",
		"blocked/rate_limited", "blocked/backing_off", "window held past its intent",
		"top_up/projected_below_threshold", "a refill started by the projection went on",
		"projected, blocked/auto_reload_disabled", "projected, blocked/window_open",
		"projected, blocked/recently_rejected", "projected, blocked/rate_limited",
		"projected, blocked/backing_off", "projected, blocked/daily_cap_reached",
		"the threshold policy passed over a projection below the threshold",
		"rate known, lead time set", "rate known, lead time from the credit delays",
	} {
		if seen[k] == 0 {
			t.Errorf("no reading reached %s; seen %v", k, seen)
		}
	}
}
