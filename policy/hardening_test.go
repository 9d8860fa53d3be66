package policy_test

import (
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

func TestDecideHolds(t *testing.T) {
	s := settings
	s.Flight = 5 * time.Minute
	s.Backoff = 30 * time.Second
	notSent := func(d time.Duration) policy.TopUp {
		return policy.TopUp{At: ago(d), Ended: ago(d), Status: policy.NotSent, Attempts: 1}
	}
	blocked := func(r policy.Reason) policy.Decision {
		return policy.Decision{Action: policy.ActionBlocked, Reason: r, Refilling: true, TopUps24h: 0}
	}
	topUp := policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold, Refilling: true}
	tests := []struct {
		name   string
		topUps []policy.TopUp
		want   policy.Decision
	}{
		{
			name:   "counts the window of a finished top-up from the end of its last attempt",
			topUps: []policy.TopUp{{At: ago(20 * time.Minute), Ended: ago(14 * time.Minute), Status: policy.Pending}},
			want:   policy.Decision{Action: policy.ActionBlocked, Reason: policy.ReasonWindowOpen, Refilling: true, TopUps24h: 1},
		},
		{
			name:   "counts the window of an unfinished top-up from the latest its request can end",
			topUps: []policy.TopUp{{At: ago(19*time.Minute + 59*time.Second), Status: policy.Pending}},
			want:   policy.Decision{Action: policy.ActionBlocked, Reason: policy.ReasonWindowOpen, Refilling: true, TopUps24h: 1},
		},
		{
			name:   "tops up once an unfinished top-up's latest end is a window ago",
			topUps: []policy.TopUp{{At: ago(20 * time.Minute), Status: policy.Pending}},
			want:   policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold, Refilling: true, TopUps24h: 1},
		},
		{
			name:   "holds top-ups until a 429's Retry-After has passed",
			topUps: []policy.TopUp{{At: ago(time.Minute), Ended: ago(time.Minute), Status: policy.NotSent, HoldUntil: noon.Add(time.Nanosecond)}},
			want:   blocked(policy.ReasonRateLimited),
		},
		{
			name:   "tops up again at the instant the Retry-After ends",
			topUps: []policy.TopUp{{At: ago(time.Hour), Ended: ago(time.Hour), Status: policy.NotSent, HoldUntil: noon}},
			want:   topUp,
		},
		{
			name:   "tries again at once after one top-up that was not sent",
			topUps: []policy.TopUp{notSent(time.Second)},
			want:   topUp,
		},
		{
			name:   "backs off after two top-ups in a row that were not sent",
			topUps: []policy.TopUp{notSent(time.Minute), notSent(29 * time.Second)},
			want:   blocked(policy.ReasonBackingOff),
		},
		{
			name:   "tries again once the back-off has passed",
			topUps: []policy.TopUp{notSent(time.Minute), notSent(30 * time.Second)},
			want:   topUp,
		},
		{
			name:   "doubles the back-off with each further top-up that was not sent",
			topUps: []policy.TopUp{notSent(3 * time.Minute), notSent(2 * time.Minute), notSent(59 * time.Second)},
			want:   blocked(policy.ReasonBackingOff),
		},
		{
			name: "caps the back-off at five minutes",
			topUps: []policy.TopUp{notSent(time.Hour), notSent(time.Hour), notSent(time.Hour), notSent(time.Hour),
				notSent(time.Hour), notSent(time.Hour), notSent(time.Hour), notSent(time.Hour), notSent(5 * time.Minute)},
			want: topUp,
		},
		{
			name: "counts no not-sent top-up that never tried (a stop or a pause came first)",
			topUps: []policy.TopUp{notSent(time.Minute), {At: ago(40 * time.Second), Ended: ago(40 * time.Second), Status: policy.NotSent},
				{At: ago(20 * time.Second), Ended: ago(20 * time.Second), Status: policy.NotSent}},
			want: topUp,
		},
		{
			name: "counts a request in the daily cap by the latest it can have ended",
			topUps: []policy.TopUp{{At: ago(25 * time.Hour), Ended: ago(23 * time.Hour), Status: policy.Confirmed},
				{At: ago(24*time.Hour + 4*time.Minute), Status: policy.Confirmed}},
			want: policy.Decision{Action: policy.ActionBlocked, Reason: policy.ReasonDailyCapReached, Refilling: true, TopUps24h: 2},
		},
		{
			name:   "counts only the not-sent top-ups since the last one of another status",
			topUps: []policy.TopUp{notSent(3 * time.Hour), {At: ago(2 * time.Hour), Ended: ago(2 * time.Hour), Status: policy.Confirmed}, notSent(time.Second)},
			want:   policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold, Refilling: true, TopUps24h: 1},
		},
		{
			name: "reports the rejection before the Retry-After, and the Retry-After before the back-off",
			topUps: []policy.TopUp{notSent(time.Minute), {At: ago(time.Second), Ended: ago(time.Second), Status: policy.NotSent,
				HoldUntil: noon.Add(time.Hour)}, {At: ago(time.Second), Status: policy.Rejected}},
			want: blocked(policy.ReasonRecentlyRejected),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := policy.Decide(s, policy.Input{Balance: eur("5"), AutoReload: true, Now: noon, TopUps: tt.topUps})
			if got != tt.want {
				t.Errorf("Decide() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBackoffIsOffWithoutABase(t *testing.T) {
	s := settings // Backoff 0
	got := policy.Decide(s, policy.Input{Balance: eur("5"), AutoReload: true, Now: noon, TopUps: []policy.TopUp{
		{At: ago(time.Second), Status: policy.NotSent}, {At: ago(time.Second), Status: policy.NotSent}}})
	if got.Action != policy.ActionTopUp {
		t.Errorf("Decide() = %+v, want a top-up", got)
	}
}

func TestCredited(t *testing.T) {
	tests := []struct {
		name                            string
		before, lowest, balance, amount string
		want                            bool
	}{
		{"without an amount any rise above the balance before is a credit", "10", "4", "10.01", "0", true},
		{"without an amount a rise that stays under the balance before is none", "10", "4", "9.99", "0", false},
		{"a refund of a few cents is not the credit of a top-up of 50", "10", "10", "10.05", "50", false},
		{"a refund after some spend is not a credit either", "10", "9.50", "10.05", "50", false},
		{"a rise of half the amount from the lowest balance is a credit", "10", "4", "29", "50", true},
		{"a rise of just under half the amount is none", "10", "4", "28.99", "50", false},
		{"a credit eaten by spend since the intent still counts", "10", "-20", "5", "50", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.Credited(eur(tt.before), eur(tt.lowest), eur(tt.balance), eur(tt.amount)); got != tt.want {
				t.Errorf("Credited(%s, %s, %s, %s) = %t, want %t", tt.before, tt.lowest, tt.balance, tt.amount, got, tt.want)
			}
		})
	}
}
