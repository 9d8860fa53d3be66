package config

import (
	"testing"
	"time"
)

func TestLoadReadsThePolicyAndTheLeadTime(t *testing.T) {
	tests := []struct {
		policy, leadTime string
		predictive       bool
		lead             time.Duration
		logged           [2]string // policy, lead_time on the starting line
	}{
		{"", "", false, 0, [2]string{"threshold", "auto"}},
		{"threshold", "auto", false, 0, [2]string{"threshold", "auto"}},
		{"predictive", "", true, 0, [2]string{"predictive", "auto"}},
		{"predictive", "90s", true, 90 * time.Second, [2]string{"predictive", "1m30s"}},
		{"threshold", "15m", false, 15 * time.Minute, [2]string{"threshold", "15m0s"}},
		{"predictive", "1ns", true, time.Nanosecond, [2]string{"predictive", "1ns"}},
		{"predictive", "24h", true, 24 * time.Hour, [2]string{"predictive", "24h0m0s"}},
	}
	for _, tt := range tests {
		c := mustLoad(t, with(map[string]string{"TOPUP_POLICY": tt.policy, "TOPUP_LEAD_TIME": tt.leadTime}))
		if c.Predictive != tt.predictive || c.LeadTime != tt.lead {
			t.Errorf("TOPUP_POLICY=%q TOPUP_LEAD_TIME=%q: Predictive %v, LeadTime %v; want %v, %v",
				tt.policy, tt.leadTime, c.Predictive, c.LeadTime, tt.predictive, tt.lead)
		}
		got := logged(c)
		if got["policy"] != tt.logged[0] || got["lead_time"] != tt.logged[1] {
			t.Errorf("TOPUP_POLICY=%q TOPUP_LEAD_TIME=%q: logged policy %v, lead_time %v; want %q, %q",
				tt.policy, tt.leadTime, got["policy"], got["lead_time"], tt.logged[0], tt.logged[1])
		}
	}
}

// A bad policy and a bad lead time are two problems among the others, in
// the order of Variables.
func TestLoadReportsThePolicyWithTheOtherProblems(t *testing.T) {
	got := problemsOf(t, with(map[string]string{
		"TOPUP_DRY_RUN":         "often",
		"TOPUP_POLICY":          "predictive ",
		"TOPUP_LEAD_TIME":       "10 m",
		"TOPUP_REQUEST_TIMEOUT": "0s",
	}))
	assertProblems(t, got, []string{
		`TOPUP_DRY_RUN: not a boolean (true or false): "often"`,
		`TOPUP_POLICY: not threshold or predictive: "predictive "`,
		`TOPUP_LEAD_TIME: not auto or a duration such as 90s or 15m: "10 m"`,
		`TOPUP_REQUEST_TIMEOUT: must be greater than 0: "0s"`,
	})
}

func TestIntervalIsTheSpanBetweenTheNextTwoRuns(t *testing.T) {
	from := time.Date(2025, time.March, 3, 10, 0, 1, 500, time.UTC) // a Monday
	tests := []struct {
		spec string
		want time.Duration
	}{
		{"@every 30s", 30 * time.Second},
		{"@every 1s", time.Second},
		{"@every 1m30s", 90 * time.Second},
		{"@every 1500ms", time.Second}, // cron runs @every on whole seconds
		{"*/5 * * * * *", 5 * time.Second},
		{"*/5 * * * *", 5 * time.Minute},
		{"@hourly", time.Hour},
		{"CRON_TZ=UTC @every 15s", 15 * time.Second},
		// Irregular: the runs at 17:00 and 09:00 the next day follow from.
		{"TZ=UTC 0 9,17 * * *", 16 * time.Hour},
		{"TZ=UTC 0 10,11,15 * * *", 4 * time.Hour}, // 11:00, then 15:00
		{"TZ=UTC 0 9 * * 1-5", 24 * time.Hour},     // Tuesday, then Wednesday
		{"TZ=UTC 0 9 * * 5", 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		c := mustLoad(t, with(map[string]string{"TOPUP_SCHEDULE": tt.spec}))
		if got := c.Interval(from); got != tt.want {
			t.Errorf("%q: Interval(%v) = %v, want %v", tt.spec, from, got, tt.want)
		}
	}
}

func TestIntervalOfAnIrregularScheduleDependsOnWhenItIsAsked(t *testing.T) {
	c := mustLoad(t, with(map[string]string{"TOPUP_SCHEDULE": "TZ=UTC 0 9,17 * * *"}))
	morning := time.Date(2025, time.March, 3, 8, 0, 0, 0, time.UTC)  // 09:00, then 17:00
	evening := time.Date(2025, time.March, 3, 12, 0, 0, 0, time.UTC) // 17:00, then 09:00
	if got := c.Interval(morning); got != 8*time.Hour {
		t.Errorf("Interval(%v) = %v, want 8h", morning, got)
	}
	if got := c.Interval(evening); got != 16*time.Hour {
		t.Errorf("Interval(%v) = %v, want 16h", evening, got)
	}
}

func TestIntervalWithoutASchedule(t *testing.T) {
	if got := (Config{}).Interval(time.Now()); got != 0 {
		t.Errorf("Interval of no schedule = %v, want 0", got)
	}
}
