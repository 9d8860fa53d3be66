package watchdog

import (
	"errors"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// errUnsentWrite is the error of an intent closed by closeUnsent.
var errUnsentWrite = errors.New("the write of this intent failed, so it was never sent; it landed all the same")

// closeUnsent closes not_sent each of the intents unsent that st holds
// pending: intents of this process whose write failed, which it never
// sent. It returns the ids it closed.
func closeUnsent(st *ledger.State, unsent []ledger.Record, now time.Time) []string {
	var closed []string
	for _, u := range unsent {
		if r := st.Find(u.ID); r != nil && r.Outcome == ledger.Pending {
			r.Outcome, r.Error, r.FinishedAt = ledger.NotSent, errUnsentWrite.Error(), now
			closed = append(closed, u.ID)
		}
	}
	return closed
}

// stillUnsent is unsent without the intents closed and those whose window
// would have ended by now, had they been sent: a write that lands later
// than that holds no window anyway.
func stillUnsent(unsent []ledger.Record, closed []string, now time.Time, s policy.Settings) []ledger.Record {
	var out []ledger.Record
	for _, u := range unsent {
		if !slices.Contains(closed, u.ID) && s.InWindow(u.PolicyTopUp(), now) {
			out = append(out, u)
		}
	}
	return out
}

// retention is how long finished records are kept: longer than every span the
// policy looks back over.
func retention(window time.Duration) time.Duration {
	return 2 * max(policy.Day, window)
}

// reconcile confirms the top-ups whose credit shows in bal (policy.Credited,
// with the amount a top-up adds), notes the lowest balance of those still
// waiting, and marks those whose window ended without a credit. A top-up
// already marked so is not confirmed later: a credit after its window is
// taken for the newer top-up it let through, not credited twice.
func reconcile(st *ledger.State, bal vonage.Balance, now time.Time, s policy.Settings, amount decimal.Decimal) (confirmed, unconfirmed []ledger.Record) {
	for i := range st.TopUps {
		r := &st.TopUps[i]
		if !r.MayHaveReached() || r.Confirmed() || r.Expired || now.Before(r.At) {
			continue
		}
		switch {
		case policy.Credited(r.BalanceBefore, r.LowestBalance(), bal.Value, amount):
			r.ConfirmedAt = now
			r.BalanceAfter.Decimal, r.BalanceAfter.Valid = bal.Value, true
			confirmed = append(confirmed, *r)
		case !s.InWindow(r.PolicyTopUp(), now):
			r.Expired = true
			unconfirmed = append(unconfirmed, *r)
		case bal.Value.LessThan(r.LowestBalance()):
			r.Lowest.Decimal, r.Lowest.Valid = bal.Value, true
		}
	}
	return confirmed, unconfirmed
}
