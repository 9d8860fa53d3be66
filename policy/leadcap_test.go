package policy_test

import (
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// A schedule with a night between two runs (a check a minute from 09:00 to
// 17:59, then none until 09:00) gives the evening's last check an interval
// of 15 hours: two of them and a credit delay would project 31 hours ahead.
// The automatic lead time stops at a day, as a set one must.
func TestTheAutomaticLeadTimeIsNeverMoreThanADay(t *testing.T) {
	s := settings
	s.Interval = 15 * time.Hour
	credited := []policy.TopUp{{At: ago(2 * time.Hour), Status: policy.Confirmed, ConfirmedAt: ago(time.Hour)}}
	lead, auto := s.LeadTimeFor(credited)
	if lead != policy.MaxLeadTime || !auto {
		t.Errorf("LeadTimeFor = %s (auto %t) with an interval of 15h and a credit delay of 1h, want the bound %s, auto", lead, auto, policy.MaxLeadTime)
	}
}
