package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzLoad places arbitrary text in the variables that take the most
// parsing. Load must never panic; a Config it accepts must keep its
// promises; its problems must never hold the secret, even one pasted into
// an input. More seeds are in
// testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	f.Add("25", "", "@every 30s", "15m", "https://rest.nexmo.com", "5")
	f.Add("SECRET-fuzz-0451", "x", "0 SECRET-fuzz-0451 * * *", "1SECRET-fuzz-0451", "https://SECRET-fuzz-0451", "%q")
	const secret = "SECRET-fuzz-0451"
	f.Fuzz(func(t *testing.T, threshold, target, schedule, window, baseURL, maxPerDay string) {
		m := map[string]string{
			"VONAGE_API_KEY":    "abcd1234",
			"VONAGE_API_SECRET": secret,
			"VONAGE_TOPUP_TRX":  "trx-value",
			"TOPUP_THRESHOLD":   threshold,
			"TOPUP_TARGET":      target,
			"TOPUP_SCHEDULE":    schedule,
			"TOPUP_WINDOW":      window,
			"VONAGE_BASE_URL":   baseURL,
			"TOPUP_MAX_PER_DAY": maxPerDay,
		}
		c, err := Load(getenv(m))
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) == 0 {
				t.Fatalf("error %T %q, want *Errors with problems", err, err)
			}
			// Not even when an input holds it: every problem is redacted.
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("problems hold the secret:\n%v", err)
			}
			return
		}
		if !c.Threshold.IsPositive() || c.Target.LessThan(c.Threshold) {
			t.Fatalf("threshold %s, target %s: want 0 < threshold <= target", c.Threshold, c.Target)
		}
		if c.Window <= 0 || c.MaxPerDay < 0 || c.Schedule == nil {
			t.Fatalf("window %v, max per day %d, schedule %v", c.Window, c.MaxPerDay, c.Schedule)
		}
		if strings.HasSuffix(c.BaseURL, "/") || !strings.HasPrefix(c.BaseURL, "http") {
			t.Fatalf("base URL %q not normalised", c.BaseURL)
		}
	})
}
