package config

import (
	"testing"
	"time"
)

func TestLoadAcceptsSchedules(t *testing.T) {
	from := time.Date(2025, time.March, 3, 10, 0, 1, 0, time.UTC)
	tests := []struct {
		spec string
		next time.Time
	}{
		{"*/5 * * * * *", from.Add(4 * time.Second)},
		{"*/5 * * * *", from.Add(5*time.Minute - time.Second)},
		{"@every 15s", from.Add(15 * time.Second)},
		{"@every 1s", from.Add(time.Second)},
		{"CRON_TZ=Europe/Berlin 0 9 * * *", time.Date(2025, time.March, 4, 8, 0, 0, 0, time.UTC)},
		{"TZ=UTC @hourly", from.Add(time.Hour - time.Second)},
		{"0 0 29 2 *", time.Date(2028, time.February, 29, 0, 0, 0, 0, time.Local)},
	}
	for _, tt := range tests {
		c := mustLoad(t, with(map[string]string{"TOPUP_SCHEDULE": tt.spec}))
		if c.ScheduleSpec != tt.spec {
			t.Errorf("ScheduleSpec = %q, want %q", c.ScheduleSpec, tt.spec)
		}
		if got := c.Schedule.Next(from); !got.Equal(tt.next) {
			t.Errorf("%q: Next(%v) = %v, want %v", tt.spec, from, got, tt.next)
		}
	}
}

func TestLoadRefusesBadSchedules(t *testing.T) {
	for _, spec := range []string{
		"garbage", "* * * *", "* * * * * * *", "@every 100ms", "@every 0s", "@every -5s",
		"@every", "@sometimes", "CRON_TZ=UTC", "TZ=UTC\t* * * * *", "CRON_TZ=Nowhere/Else * * * * *",
		"0 0 30 2 *", "61 * * * * *",
	} {
		got := problemsOf(t, with(map[string]string{"TOPUP_SCHEDULE": spec}))
		if len(got) != 1 {
			t.Errorf("%q: problems %q, want one", spec, got)
		}
	}
}

func TestScheduleParserReadsWhatLoadAccepts(t *testing.T) {
	if _, err := ScheduleParser().Parse("CRON_TZ=Europe/Berlin */10 * * * * *"); err != nil {
		t.Errorf("ScheduleParser: %v", err)
	}
}
