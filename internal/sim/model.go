package sim

import (
	"math/big"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// balancePlaces is how many decimal places Vonage reports.
const balancePlaces = 8

// spendPlaces is the precision, in decimal places of EUR, of what a Spend
// has taken by an instant inside its span when that is not a short decimal
// (share): Amount × elapsed / span, a third of a row's spend for one. At
// either end of the span it is exact, so the error never adds up: every
// balance is within 1e-20 EUR of the exact one, far below the 8 places
// Vonage shows.
const spendPlaces = 20

// event is a jump of the balance at an instant: a burst, the credit of a
// top-up, or SetBalance/Drain. Between events the balance falls linearly at
// the pace of the drain and the spends, so the whole history is known
// exactly from the events and the spends.
type event struct {
	at    time.Time
	delta decimal.Decimal
}

// spend is a Spend on the account's clock.
type spend struct {
	from, to time.Time
	amount   decimal.Decimal
}

// cursor is a position in the history: it has summed every event at or
// before at, and every spend that ended by then. Moving it forward costs
// only what it passes, so balances read as time goes on cost O(1) each,
// amortized; moving it back starts it over from the beginning.
type cursor struct {
	at     time.Time
	events int             // events at or before at
	jumps  decimal.Decimal // their sum
	spends int             // spends ended at or before at
	spent  decimal.Decimal // their amounts' sum
}

// move moves c to t. The caller holds a.mu.
func (a *Account) move(c *cursor, t time.Time) {
	if t.Before(c.at) {
		*c = cursor{}
	}
	for c.events < len(a.events) && !a.events[c.events].at.After(t) {
		c.jumps = c.jumps.Add(a.events[c.events].delta)
		c.events++
	}
	for c.spends < len(a.spends) && !a.spends[c.spends].to.After(t) {
		c.spent = c.spent.Add(a.spends[c.spends].amount)
		c.spends++
	}
	c.at = t
}

// left is the balance at t but for the events: the starting balance less
// what the drain and the spends took from the start to t, c standing at t.
// The caller holds a.mu.
func (a *Account) left(c *cursor, t time.Time) decimal.Decimal {
	v := a.startValue.Sub(c.spent)
	if t.After(a.start) && !a.drain.IsZero() {
		v = v.Sub(a.drainOver(a.start, t))
	}
	if c.spends < len(a.spends) {
		if s := a.spends[c.spends]; s.from.Before(t) {
			v = v.Sub(share(s.amount, t.Sub(s.from), s.to.Sub(s.from)))
		}
	}
	return v
}

// addEvent inserts e after every event at the same instant or earlier, and
// keeps a.cur's sums. The caller holds a.mu.
func (a *Account) addEvent(at time.Time, delta decimal.Decimal) {
	i, _ := slices.BinarySearchFunc(a.events, at, func(e event, t time.Time) int {
		if e.at.After(t) {
			return 1
		}
		return -1
	})
	a.events = slices.Insert(a.events, i, event{at: at, delta: delta})
	if !at.After(a.cur.at) { // i <= a.cur.events: the cursor has passed it
		a.cur.events++
		a.cur.jumps = a.cur.jumps.Add(delta)
	}
}

// balanceAt is the exact balance at t: the starting balance, less the drain
// and the spends since the start, plus every event at or before t. The
// caller holds a.mu.
func (a *Account) balanceAt(t time.Time) decimal.Decimal {
	return a.valueAt(&a.cur, t)
}

// valueAt is the exact balance at t, moving c there. The caller holds a.mu.
func (a *Account) valueAt(c *cursor, t time.Time) decimal.Decimal {
	a.move(c, t)
	return a.left(c, t).Add(c.jumps)
}

// share is amount × part / whole: exact when it is a decimal of at most
// shareDigits places more than amount (half of a minute's spend is; a
// third is not), else rounded to spendPlaces. An exact share keeps the
// balances short decimals, which compare and add faster than long ones.
func share(amount decimal.Decimal, part, whole time.Duration) decimal.Decimal {
	g := gcd(int64(part), int64(whole))
	p, q := big.NewInt(int64(part)/g), big.NewInt(int64(whole)/g)
	n := new(big.Int).Mul(amount.Coefficient(), p)
	quo, rem := new(big.Int), new(big.Int)
	for places := range int32(shareDigits + 1) {
		if quo.QuoRem(n, q, rem); rem.Sign() == 0 {
			return decimal.NewFromBigInt(quo, amount.Exponent()-places)
		}
		n.Mul(n, ten)
	}
	return amount.Mul(decimal.NewFromInt(int64(part))).DivRound(decimal.NewFromInt(int64(whole)), spendPlaces)
}

// shareDigits is how many places share tries before it rounds.
const shareDigits = 9

var ten = big.NewInt(10)

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// drainOver is what the drain takes between from and to (zero if to is not
// after from).
func (a *Account) drainOver(from, to time.Time) decimal.Decimal {
	if !to.After(from) {
		return decimal.Zero
	}
	return a.drain.Mul(seconds(to.Sub(from)))
}

func seconds(d time.Duration) decimal.Decimal {
	return decimal.NewFromInt(int64(d)).Shift(-9)
}
