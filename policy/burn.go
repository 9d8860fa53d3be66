package policy

import (
	"cmp"
	"math/bits"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Reading is one balance reading, as the burn rate sees it.
type Reading struct {
	At      time.Time
	Balance decimal.Decimal
}

// The bounds of the readings the burn rate is estimated from: the ledger
// keeps at most MaxReadings, none older than ReadingsAge before the newest.
const (
	MaxReadings = 16
	ReadingsAge = time.Hour
)

// RateSpans is how many of the newest spans between readings the burn rate
// takes the median of.
const RateSpans = 5

// ratePlaces is the precision of a burn rate, in decimal places of EUR per
// minute.
const ratePlaces = 6

var minute = decimal.NewFromInt(int64(time.Minute))

// Spend is what was spent between two readings: the fall of the balance, or
// zero when it rose (a credit is not negative spend).
func Spend(from, to decimal.Decimal) decimal.Decimal {
	if to.LessThan(from) {
		return from.Sub(to)
	}
	return decimal.Zero
}

// BurnRate estimates the EUR spent per minute from readings, oldest first.
//
// The rate is taken from the falls since the newest rise: each span between
// two consecutive readings gives a rate, its fall over its length, and a
// span whose balance rose ends the run, neither zero nor negative spend. A
// rise is a credit (which hides the spend of its span) or noise (a read that
// flaps between two values, a glitch that comes back), and in both cases the
// falls before it no longer say what the balance is doing: kept, a flapping
// read would look like spend, and a glitch's steep span would outlive the
// glitch and, as each credit confirmed a top-up, let the next one out.
//
// The estimate is the median of the RateSpans newest rates of that run,
// inside ReadingsAge of the newest reading, so that one odd reading does not
// move it, a jump in pace shows by the third span at that pace, and it lets
// go three spans after a burst ends. With two rates it is the lower: one of
// them may be an odd reading's. One rate is not yet a pace (after a first
// start, a credit, or an hour without a check, one odd reading would be it):
// ok is false then, as when no span gives a rate.
func BurnRate(readings []Reading) (rate decimal.Decimal, ok bool) {
	var buf [RateSpans]fall
	spans := buf[:0]
	exact := true // every fall counted in units of 1e-8 EUR
	newest := len(readings) - 1
	for i := newest; i > 0 && len(spans) < RateSpans; i-- {
		from, to := readings[i-1], readings[i]
		ns := to.At.Sub(from.At)
		if ns <= 0 || readings[newest].At.Sub(from.At) > ReadingsAge {
			break
		}
		if to.Balance.GreaterThan(from.Balance) {
			break // the run of falls starts after the newest rise
		}
		f := fall{from: from.Balance, to: to.Balance, ns: ns}
		a, okA := units(from.Balance)
		b, okB := units(to.Balance)
		f.units, exact = uint64(a-b), exact && okA && okB
		spans = append(spans, f)
	}
	if len(spans) < 2 {
		return decimal.Zero, false
	}
	if exact {
		slices.SortStableFunc(spans, fall.cmpUnits)
	} else {
		slices.SortStableFunc(spans, fall.cmp)
	}
	switch n := len(spans); {
	case n == 2:
		return spans[0].rate(), true
	case n%2 == 1:
		return spans[n/2].rate(), true
	default:
		return spans[n/2-1].rate().Add(spans[n/2].rate()).Div(decimal.NewFromInt(2)).Round(ratePlaces), true
	}
}

// fall is one span between readings whose balance did not rise: from to to
// in ns.
type fall struct {
	from, to decimal.Decimal
	ns       time.Duration
	// units is from − to in units of 1e-8 EUR, when both are exact in them.
	units uint64
}

// rate is the fall's EUR per minute, to ratePlaces.
func (f fall) rate() decimal.Decimal {
	return f.from.Sub(f.to).Mul(minute).DivRound(decimal.NewFromInt(int64(f.ns)), ratePlaces)
}

// cmp orders two falls by rate, comparing the fractions exactly (a's fall
// × b's span against b's fall × a's span) rather than dividing each: only
// the median needs a division. Rounding to ratePlaces keeps the order (it
// never swaps two rates), so the median is the one the rounded rates give.
func (a fall) cmp(b fall) int {
	return a.from.Sub(a.to).Mul(decimal.NewFromInt(int64(b.ns))).Cmp(b.from.Sub(b.to).Mul(decimal.NewFromInt(int64(a.ns))))
}

// cmpUnits is cmp on the falls in units, in 128 bits: no allocation.
func (a fall) cmpUnits(b fall) int {
	ah, al := bits.Mul64(a.units, uint64(b.ns))
	bh, bl := bits.Mul64(b.units, uint64(a.ns))
	switch {
	case ah != bh:
		return cmp.Compare(ah, bh)
	default:
		return cmp.Compare(al, bl)
	}
}

// unitPlaces is the precision of units: Vonage reports 8 decimal places.
const unitPlaces = 8

// units is d in units of 1e-8 EUR, and whether it is exactly that many and
// small enough (at most 18 digits) that the difference of two fits in an
// int64.
func units(d decimal.Decimal) (int64, bool) {
	e := int(d.Exponent())
	if e < -unitPlaces || e > 0 || d.NumDigits()+unitPlaces+e > 18 {
		return 0, false
	}
	u := d.CoefficientInt64()
	for range unitPlaces + e {
		u *= 10
	}
	return u, true
}

// Project is the balance lead ahead at rate EUR per minute.
func Project(balance, rate decimal.Decimal, lead time.Duration) decimal.Decimal {
	return balance.Sub(rate.Mul(decimal.NewFromInt(int64(lead))).Div(minute))
}

// Runway is how long balance lasts at rate EUR per minute: zero when the
// balance is not positive, and ok false when the rate is not (it never runs
// out).
func Runway(balance, rate decimal.Decimal) (d time.Duration, ok bool) {
	switch {
	case !balance.IsPositive():
		return 0, true
	case !rate.IsPositive():
		return 0, false
	}
	ns := balance.Mul(minute).Div(rate)
	if ns.GreaterThan(decimal.NewFromInt(int64(maxDuration))) {
		return maxDuration, true
	}
	return time.Duration(ns.IntPart()), true
}

const maxDuration = time.Duration(1<<63 - 1)

// The automatic lead time (TOPUP_LEAD_TIME=auto): the slowest credit delay
// among the CreditDelays newest confirmed top-ups, plus two intervals of the
// schedule, at most MaxLeadTime; DefaultLeadTime until a top-up has been
// confirmed. MaxLeadTime bounds a set lead time too (the configuration
// refuses a longer one): the readings reach back an hour and the cap counts
// a day, so a projection further ahead would rest on nothing seen, and a
// schedule with a night's gap between two runs would project 30 hours.
const (
	DefaultLeadTime = 10 * time.Minute
	CreditDelays    = 5
	MaxLeadTime     = 24 * time.Hour
)

// LeadTimeFor is how far ahead the projection looks: s.LeadTime when set, else
// the automatic one worked from topUps (oldest first). auto reports which.
func (s Settings) LeadTimeFor(topUps []TopUp) (lead time.Duration, auto bool) {
	if s.LeadTime > 0 {
		return s.LeadTime, false
	}
	var slowest time.Duration
	seen := 0
	for i := len(topUps) - 1; i >= 0 && seen < CreditDelays; i-- {
		t := topUps[i]
		if t.Status != Confirmed || t.ConfirmedAt.IsZero() {
			continue
		}
		seen++
		slowest = max(slowest, t.ConfirmedAt.Sub(t.At))
	}
	if seen == 0 {
		return DefaultLeadTime, true
	}
	return min(slowest+2*s.Interval, MaxLeadTime), true
}
