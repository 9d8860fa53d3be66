package policy

import "github.com/shopspring/decimal"

var half = decimal.New(5, -1)

// Credited reports whether a balance read after a top-up shows that
// top-up's credit. before is the balance when its intent was written and
// lowest the lowest balance read since (before included).
//
// With amount unknown (zero: TOPUP_AMOUNT unset), any balance above before
// counts, as the contract's first rule 6 says. With it known (every top-up adds the amount
// of the auto-reload payment), only a rise from lowest of at least half of
// amount counts: a refund or a stray credit of a few cents confirms nothing,
// and the spend between the intent and the credit does not hide the credit.
func Credited(before, lowest, balance, amount decimal.Decimal) bool {
	if !amount.IsPositive() {
		return balance.GreaterThan(before)
	}
	return balance.Sub(lowest).GreaterThanOrEqual(amount.Mul(half))
}
