package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// FuzzLoad places arbitrary text in the variables that take the most
// parsing, and in the policy's. Load must never panic; a Config it accepts must keep its
// promises; its problems must never hold the secret, even one pasted into
// an input. More seeds are in
// testdata/fuzz/FuzzLoad.
// fuzzFrom is the instant FuzzLoad asks for a schedule's interval from.
var fuzzFrom = time.Date(2025, time.March, 3, 10, 0, 1, 0, time.UTC)

func FuzzLoad(f *testing.F) {
	f.Add("25", "", "@every 30s", "15m", "https://rest.nexmo.com", "5", "", "")
	f.Add("25", "50", "0 9,17 * * *", "15m", "https://rest.nexmo.com", "5", "predictive", "auto")
	f.Add("25", "", "@every 30s", "15m", "https://rest.nexmo.com", "5", "predictive", "24h")
	f.Add("SECRET-fuzz-0451", "x", "0 SECRET-fuzz-0451 * * *", "1SECRET-fuzz-0451", "https://SECRET-fuzz-0451", "%q",
		"SECRET-fuzz-0451", "-1SECRET-fuzz-0451")
	const secret = "SECRET-fuzz-0451"
	f.Fuzz(func(t *testing.T, threshold, target, schedule, window, baseURL, maxPerDay, policy, leadTime string) {
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
			"TOPUP_POLICY":      policy,
			"TOPUP_LEAD_TIME":   leadTime,
		}
		c, err := Load(getenv(m))
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) == 0 {
				t.Fatalf("error %T %q, want *Errors with problems", err, err)
			}
			// Not even when an input holds it: every problem is redacted.
			sweep := secrettest.New(secret)
			sweep.Add("problems", []byte(err.Error()))
			sweep.Check(t)
			return
		}
		if !c.Threshold.IsPositive() || c.Target.LessThan(c.Threshold) {
			t.Fatalf("threshold %s, target %s: want 0 < threshold <= target", c.Threshold, c.Target)
		}
		if c.Window <= 0 || c.MaxPerDay < 0 || c.Schedule == nil {
			t.Fatalf("window %v, max per day %d, schedule %v", c.Window, c.MaxPerDay, c.Schedule)
		}
		if c.Predictive != (policy == PolicyPredictive) || c.LeadTime < 0 || c.LeadTime > MaxLeadTime ||
			(c.LeadTime == 0) != (leadTime == "" || leadTime == LeadTimeAuto) {
			t.Fatalf("policy %q, lead time %q: Predictive %v, LeadTime %v", policy, leadTime, c.Predictive, c.LeadTime)
		}
		// A schedule that Load accepts fires, and again after that.
		if d := c.Interval(fuzzFrom); d <= 0 {
			t.Fatalf("schedule %q: Interval = %v, want above 0", schedule, d)
		}
		if strings.HasSuffix(c.BaseURL, "/") || !strings.HasPrefix(c.BaseURL, "http") {
			t.Fatalf("base URL %q not normalised", c.BaseURL)
		}
	})
}
