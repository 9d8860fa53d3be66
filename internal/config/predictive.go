package config

import (
	"fmt"
	"time"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The values of TOPUP_POLICY.
const (
	PolicyThreshold  = "threshold"
	PolicyPredictive = "predictive"
)

// LeadTimeAuto is the TOPUP_LEAD_TIME that lets the policy work the lead
// time out: the slowest recent credit delay plus two schedule intervals.
const LeadTimeAuto = "auto"

// MaxLeadTime is the largest TOPUP_LEAD_TIME accepted: the policy's bound,
// which caps the automatic lead time too (see policy.MaxLeadTime).
const MaxLeadTime = policy.MaxLeadTime

// parsePolicy reads TOPUP_POLICY: whether the policy is the predictive one.
func parsePolicy(s string) (bool, error) {
	p, err := parseChoice(s, PolicyThreshold, PolicyPredictive)
	return p == PolicyPredictive, err
}

// parseLeadTime reads TOPUP_LEAD_TIME: 0 for auto, else a Go duration above
// 0 and at most MaxLeadTime.
func parseLeadTime(s string) (time.Duration, error) {
	if s == LeadTimeAuto {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("not %s or a duration such as 90s or 15m: %q", LeadTimeAuto, s)
	case d <= 0:
		return 0, fmt.Errorf("must be greater than 0 (or %s): %q", LeadTimeAuto, s)
	case d > MaxLeadTime:
		return 0, fmt.Errorf("must be at most %s: %q", ShortDuration(MaxLeadTime), s)
	}
	return d, nil
}

// policyName is TOPUP_POLICY as the starting line shows it.
func policyName(predictive bool) string {
	if predictive {
		return PolicyPredictive
	}
	return PolicyThreshold
}

// leadTimeText is TOPUP_LEAD_TIME as the starting line shows it.
func leadTimeText(d time.Duration) string {
	if d == 0 {
		return LeadTimeAuto
	}
	return d.String()
}

// Interval is the schedule's span between two checks as of from, for
// watchdog.Options.Interval: the span between the first two runs after from.
// That is the span the schedule's next check counts in the automatic lead
// time (a scheduled check uses the span to its own next run), so a one-off
// check decides as the next scheduled one would. For "@every d" it is d; for
// an irregular cron spec ("0 9,17 * * *") it depends on from. 0 when the
// schedule has no two runs left (or is not set); the watchdog then uses its
// default.
func (c Config) Interval(from time.Time) time.Duration {
	if c.Schedule == nil {
		return 0
	}
	first := c.Schedule.Next(from)
	if first.IsZero() {
		return 0
	}
	second := c.Schedule.Next(first)
	if second.IsZero() {
		return 0
	}
	return second.Sub(first)
}
