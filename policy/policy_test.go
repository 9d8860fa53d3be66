package policy_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

var (
	noon     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	settings = policy.Settings{
		Threshold: decimal.RequireFromString("10"),
		Target:    decimal.RequireFromString("120"),
		Window:    15 * time.Minute,
		MaxPerDay: 2,
	}
)

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ago(d time.Duration) time.Time { return noon.Add(-d) }

func TestDecide(t *testing.T) {
	tests := []struct {
		name string
		in   policy.Input
		want policy.Decision
	}{
		{
			name: "does nothing while the balance is at or above the threshold",
			in:   policy.Input{Balance: eur("10"), AutoReload: true},
			want: policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK},
		},
		{
			name: "tops up when the balance falls below the threshold",
			in:   policy.Input{Balance: eur("9.99999999"), AutoReload: true},
			want: policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold, Refilling: true},
		},
		{
			name: "goes on refilling above the threshold until the target",
			in:   policy.Input{Balance: eur("60"), AutoReload: true, Refilling: true},
			want: policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonRefilling, Refilling: true},
		},
		{
			name: "ends the refill once the balance reaches the target",
			in:   policy.Input{Balance: eur("120"), AutoReload: true, Refilling: true},
			want: policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK},
		},
		{
			name: "is blocked when auto-reload is disabled, before any other rule",
			in: policy.Input{Balance: eur("5"), AutoReload: false,
				TopUps: []policy.TopUp{{At: ago(time.Minute), Status: policy.Pending}}},
			want: policy.Decision{Action: policy.ActionBlocked, Reason: policy.ReasonAutoReloadDisabled, Refilling: true, TopUps24h: 1},
		},
		{
			name: "waits while an earlier top-up is unconfirmed inside its window",
			in: policy.Input{Balance: eur("5"), AutoReload: true,
				TopUps: []policy.TopUp{{At: ago(14*time.Minute + 59*time.Second), Status: policy.Pending}}},
			want: policy.Decision{Action: policy.ActionBlocked, Reason: policy.ReasonWindowOpen, Refilling: true, TopUps24h: 1},
		},
		{
			name: "tops up again once the window has passed without a credit",
			in: policy.Input{Balance: eur("5"), AutoReload: true,
				TopUps: []policy.TopUp{{At: ago(15 * time.Minute), Status: policy.Pending}}},
			want: policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold, Refilling: true, TopUps24h: 1},
		},
		{
			name: "tops up again at once after the credit of the last one showed up",
			in: policy.Input{Balance: eur("55"), AutoReload: true, Refilling: true,
				TopUps: []policy.TopUp{{At: ago(time.Minute), Status: policy.Confirmed}}},
			want: policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonRefilling, Refilling: true, TopUps24h: 1},
		},
		{
			name: "waits after a rejection for a window",
			in: policy.Input{Balance: eur("5"), AutoReload: true,
				TopUps: []policy.TopUp{{At: ago(time.Minute), Status: policy.Rejected}}},
			want: policy.Decision{Action: policy.ActionBlocked, Reason: policy.ReasonRecentlyRejected, Refilling: true},
		},
		{
			name: "tries again a window after a rejection",
			in: policy.Input{Balance: eur("5"), AutoReload: true,
				TopUps: []policy.TopUp{{At: ago(16 * time.Minute), Status: policy.Rejected}}},
			want: policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold, Refilling: true},
		},
		{
			name: "stops at the daily cap of requests that may have reached Vonage",
			in: policy.Input{Balance: eur("5"), AutoReload: true, TopUps: []policy.TopUp{
				{At: ago(23 * time.Hour), Status: policy.Confirmed},
				{At: ago(time.Hour), Status: policy.Pending},
				{At: ago(time.Minute), Status: policy.NotSent},
			}},
			want: policy.Decision{Action: policy.ActionBlocked, Reason: policy.ReasonDailyCapReached, Refilling: true, TopUps24h: 2},
		},
		{
			name: "counts the daily cap over a rolling 24 hours",
			in: policy.Input{Balance: eur("5"), AutoReload: true, TopUps: []policy.TopUp{
				{At: ago(24 * time.Hour), Status: policy.Confirmed},
				{At: ago(time.Hour), Status: policy.Confirmed},
			}},
			want: policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold, Refilling: true, TopUps24h: 1},
		},
		{
			name: "treats a top-up dated after now (a clock stepped back) as inside every span",
			in: policy.Input{Balance: eur("5"), AutoReload: true,
				TopUps: []policy.TopUp{{At: noon.Add(time.Hour), Status: policy.Pending}}},
			want: policy.Decision{Action: policy.ActionBlocked, Reason: policy.ReasonWindowOpen, Refilling: true, TopUps24h: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = noon
			if got := policy.Decide(settings, tt.in); got != tt.want {
				t.Errorf("Decide() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRefillEndsAtTheThresholdWhenTheTargetIsTheThreshold(t *testing.T) {
	s := settings
	s.Target = s.Threshold
	got := policy.Decide(s, policy.Input{Balance: eur("10"), AutoReload: true, Refilling: true, Now: noon})
	want := policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK}
	if got != want {
		t.Errorf("Decide() = %+v, want %+v", got, want)
	}
}

func TestZeroCapNeverTopsUp(t *testing.T) {
	s := settings
	s.MaxPerDay = 0
	got := policy.Decide(s, policy.Input{Balance: eur("1"), AutoReload: true, Now: noon})
	if got.Action != policy.ActionBlocked || got.Reason != policy.ReasonDailyCapReached {
		t.Errorf("Decide() = %+v, want blocked by the daily cap", got)
	}
}

func TestStatusNames(t *testing.T) {
	for s, want := range map[policy.Status]string{
		policy.Pending: "pending", policy.Confirmed: "confirmed", policy.Rejected: "rejected",
		policy.NotSent: "not_sent", policy.Status(0): "invalid",
	} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}
