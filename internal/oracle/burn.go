package oracle

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// The burn rate and the automatic lead time, as policy/burn.go's doc
// defines them.
const (
	// readingsAge: a span whose older reading is more than this before the
	// newest reading gives no rate, and the ledger keeps no reading older
	// than this before its newest.
	readingsAge = time.Hour
	// keptReadings: the ledger keeps at most this many readings.
	keptReadings = 16
	// rateSpans: the rate is the median of at most this many newest rates.
	rateSpans = 5
	// ratePlaces: a rate is kept to this many decimal places of EUR per
	// minute, rounded half up.
	ratePlaces = 6
	// untilConfirmed is the automatic lead time until a top-up has been
	// confirmed.
	untilConfirmed = 10 * time.Minute
	// creditDelays: the automatic lead time looks at the credit delays of
	// at most this many newest confirmed top-ups.
	creditDelays = 5
)

var perMinute = decimal.NewFromInt(int64(time.Minute))

// Projection is the burn rate of an input's readings and the balance it
// projects.
type Projection struct {
	// Known: the readings give a rate. The other fields are zero when not.
	Known bool
	// Rate is the burn rate in EUR per minute.
	Rate decimal.Decimal
	// Lead is how far ahead the projection looks; LeadAuto: it is the
	// automatic lead time.
	Lead     time.Duration
	LeadAuto bool
	// Balance is the balance Lead ahead at Rate.
	Balance decimal.Decimal
}

// Project is the projection of in under s: the burn rate of in.Readings and
// the reading in.Balance at in.Now, and the balance less what that rate
// spends in the lead time (the spend worked out in nanoseconds over a
// minute, to decimal's division precision).
func Project(s policy.Settings, in policy.Input) Projection {
	readings := append(slices.Clip(in.Readings), policy.Reading{At: in.Now, Balance: in.Balance})
	rate, ok := BurnRate(readings)
	if !ok {
		return Projection{}
	}
	lead, auto := LeadTime(s, in.TopUps)
	spent := rate.Mul(decimal.NewFromInt(int64(lead))).Div(perMinute)
	return Projection{Known: true, Rate: rate, Lead: lead, LeadAuto: auto, Balance: in.Balance.Sub(spent)}
}

// BurnRate is the EUR spent per minute that readings (oldest first) show,
// and whether they show one.
//
// Only the newest readings count: those after the last instant at which
// time did not move forward (a clock that stepped back, two readings at
// one instant), and of those, the ones at most an hour before the newest.
// Each span between two of them after the newest rise gives a rate, its
// fall per minute (a rise, a credit or noise, ends the run: spans before it
// give none). Of
// the five newest rates, the rate is the median (of an even count, the mean
// of the two in the middle); of two, the lower; one rate is none.
func BurnRate(readings []policy.Reading) (decimal.Decimal, bool) {
	first := len(readings) - 1
	for first > 0 && readings[first-1].At.Before(readings[first].At) &&
		readings[len(readings)-1].At.Sub(readings[first-1].At) <= readingsAge {
		first--
	}
	if first < 0 {
		return decimal.Zero, false
	}
	used := readings[first:]
	var rates []decimal.Decimal
	for i := len(used) - 1; i > 0 && len(rates) < rateSpans; i-- {
		from, to := used[i-1], used[i]
		if to.Balance.GreaterThan(from.Balance) {
			break // only the falls since the newest rise count
		}
		fall := from.Balance.Sub(to.Balance)
		rates = append(rates, fall.Mul(perMinute).DivRound(decimal.NewFromInt(int64(to.At.Sub(from.At))), ratePlaces))
	}
	slices.SortFunc(rates, func(a, b decimal.Decimal) int { return a.Cmp(b) })
	switch n := len(rates); {
	case n < 2:
		return decimal.Zero, false
	case n == 2:
		return rates[0], true
	case n%2 == 1:
		return rates[n/2], true
	default:
		return rates[n/2-1].Add(rates[n/2]).DivRound(decimal.NewFromInt(2), ratePlaces), true
	}
}

// AddReading is the readings the ledger keeps (oldest first) once a check
// has recorded r: r after those of readings it follows in time (those at
// or after r go, as after a clock that stepped back), then only the 16
// newest of them, and none more than an hour before r. readings is not
// changed.
func AddReading(readings []policy.Reading, r policy.Reading) []policy.Reading {
	kept := slices.Clone(readings)
	for len(kept) > 0 && !kept[len(kept)-1].At.Before(r.At) {
		kept = kept[:len(kept)-1]
	}
	kept = append(kept, r)
	first := max(0, len(kept)-keptReadings)
	for r.At.Sub(kept[first].At) > readingsAge {
		first++
	}
	return kept[first:]
}

// LeadTime is how far ahead the projection looks: s.LeadTime when it is
// set, else (auto) the slowest credit delay (the time from a confirmed
// top-up's intent to its credit, none less than zero) among the five newest
// confirmed top-ups of topUps (oldest first), plus two intervals of the
// schedule, never more than a day; ten minutes until a top-up has been
// confirmed.
func LeadTime(s policy.Settings, topUps []policy.TopUp) (lead time.Duration, auto bool) {
	if s.LeadTime > 0 {
		return s.LeadTime, false
	}
	var delays []time.Duration
	for _, t := range topUps {
		if t.Status == policy.Confirmed && !t.ConfirmedAt.IsZero() {
			delays = append(delays, max(0, t.ConfirmedAt.Sub(t.At)))
		}
	}
	if len(delays) == 0 {
		return untilConfirmed, true
	}
	return min(slices.Max(delays[max(0, len(delays)-creditDelays):])+2*s.Interval, 24*time.Hour), true
}
