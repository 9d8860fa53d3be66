package sim

import (
	"time"

	"github.com/shopspring/decimal"
)

// Segment is a stretch of the account's history with no jump of the balance
// and no change of pace inside: the balance is Start at From and falls
// linearly (or stays) to End, just before To. Jumps (bursts, credits,
// adjustments) come between segments.
type Segment struct {
	From, To   time.Time
	Start, End decimal.Decimal
}

// BelowFrom reports whether, within s, the balance is below v (at or below
// it when orEqual), and from when: From, or the instant the fall reaches v,
// to the nanosecond. As the balance only falls within a segment, it then
// stays so until To.
func (s Segment) BelowFrom(v decimal.Decimal, orEqual bool) (time.Time, bool) {
	if s.Start.LessThan(v) || orEqual && s.Start.Equal(v) {
		return s.From, true
	}
	if !s.End.LessThan(v) || !s.To.After(s.From) { // it never gets below v before To
		return time.Time{}, false
	}
	fall := s.Start.Sub(s.End)
	// By similar triangles: the fall reaches v at (Start-v)/fall of the way.
	span := int64(s.To.Sub(s.From))
	cross := s.Start.Sub(v).Mul(decimal.NewFromInt(span)).DivRound(fall, 0)
	if !cross.LessThan(decimal.NewFromInt(span)) {
		return time.Time{}, false
	}
	at := s.From.Add(time.Duration(cross.IntPart()))
	return at, at.Before(s.To)
}

// Above is the area between the balance and v where the balance is above v,
// in EUR seconds: the integral over s of max(0, balance - v).
func (s Segment) Above(v decimal.Decimal) decimal.Decimal {
	length := seconds(s.To.Sub(s.From))
	switch {
	case !s.End.LessThan(v): // above v all along: a trapezoid
		return s.Start.Add(s.End).Sub(v).Sub(v).Mul(length).Mul(half)
	case !s.Start.GreaterThan(v): // at or below v all along
		return decimal.Zero
	}
	// A triangle, down to where the fall crosses v.
	over := s.Start.Sub(v)
	return over.Mul(over).Mul(length).DivRound(s.Start.Sub(s.End).Mul(two), spendPlaces)
}

var (
	half = decimal.New(5, -1)
	two  = decimal.NewFromInt(2)
)

// History is the account's history from its creation to now, cut into
// segments, oldest first, and cut also at each of cuts (sorted) that falls
// inside it. It is the exact model that Lowest, TimeBelow and the others
// read, for a caller that measures several things at once.
func (a *Account) History(cuts ...time.Time) []Segment {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Segment, 0, len(a.events)+2*len(a.spends)+len(cuts)+1)
	a.walk(a.now(), cuts, func(s Segment) { out = append(out, s) })
	return out
}

// walk calls fn with each segment of the history from the start to now, in
// order, cutting it at events, at the ends of spends and at cuts (sorted).
// The caller holds a.mu.
func (a *Account) walk(now time.Time, cuts []time.Time, fn func(Segment)) {
	var c cursor
	from, v := a.start, a.valueAt(&c, a.start)
	for from.Before(now) {
		to := a.nextChange(&c, now)
		for len(cuts) > 0 && !cuts[0].After(from) {
			cuts = cuts[1:]
		}
		if len(cuts) > 0 && cuts[0].Before(to) {
			to = cuts[0]
		}
		before := c.jumps
		a.move(&c, to)
		base := a.left(&c, to)
		fn(Segment{From: from, To: to, Start: v, End: base.Add(before)})
		from, v = to, base.Add(c.jumps)
	}
}

// nextChange is the first instant after c.at where the balance jumps or its
// pace changes, or now if none comes before. The caller holds a.mu.
func (a *Account) nextChange(c *cursor, now time.Time) time.Time {
	next := now
	if c.events < len(a.events) && a.events[c.events].at.Before(next) {
		next = a.events[c.events].at
	}
	if c.spends < len(a.spends) {
		s := a.spends[c.spends]
		at := s.to
		if s.from.After(c.at) {
			at = s.from
		}
		if at.Before(next) {
			next = at
		}
	}
	return next
}

// Lowest is the lowest balance since the account was created, rounded to 8
// decimal places, and when it was reached. It is computed exactly from the
// drain, spends, bursts, credits and adjustments, not sampled at requests;
// when the lowest point is just before a credit, at is the instant of that
// credit; when the lowest balance lasted, at is when it was first reached.
func (a *Account) Lowest() (v decimal.Decimal, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	var c cursor
	v, at = a.valueAt(&c, a.start), a.start
	a.walk(now, nil, func(s Segment) {
		if s.Start.LessThan(v) {
			v, at = s.Start, s.From
		}
		if s.End.LessThan(v) {
			v, at = s.End, s.To
		}
	})
	if e := a.balanceAt(now); e.LessThan(v) {
		v, at = e, now
	}
	return v.Round(balancePlaces), at
}

// TimeBelow is how long the balance has been strictly below threshold since
// the account was created, to the nanosecond. Like Lowest it is computed
// from the model, not sampled.
func (a *Account) TimeBelow(threshold decimal.Decimal) time.Duration {
	return a.timeWhere(threshold, false)
}

// TimeAtOrBelow is how long the balance has been at or below v since the
// account was created, to the nanosecond, from the model: with v zero, how
// long calls and messages would have failed.
func (a *Account) TimeAtOrBelow(v decimal.Decimal) time.Duration {
	return a.timeWhere(v, true)
}

func (a *Account) timeWhere(v decimal.Decimal, orEqual bool) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var total time.Duration
	a.walk(a.now(), nil, func(s Segment) {
		if from, ok := s.BelowFrom(v, orEqual); ok {
			total += s.To.Sub(from)
		}
	})
	return total
}

// MeanAbove is the mean, over the time since the account was created, of
// how far the balance was above v (zero while at or below it), rounded to 8
// decimal places: what the account held beyond v, on average. It is zero
// before any time has passed. Computed from the model, not sampled.
func (a *Account) MeanAbove(v decimal.Decimal) decimal.Decimal {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if !now.After(a.start) {
		return decimal.Zero
	}
	var area decimal.Decimal
	a.walk(now, nil, func(s Segment) { area = area.Add(s.Above(v)) })
	return area.DivRound(seconds(now.Sub(a.start)), balancePlaces)
}

// BelowSince reports whether the balance is strictly below threshold now and,
// if it is, since when it has been without a break: the instant the drain
// took it to the threshold, or the instant of the burst or adjustment that
// took it below. Computed from the model.
func (a *Account) BelowSince(threshold decimal.Decimal) (since time.Time, below bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.walk(now, nil, func(s Segment) {
		from, ok := s.BelowFrom(threshold, false)
		switch {
		case !ok:
			below = false
		case from.Equal(s.From) && below:
		default:
			since, below = from, true
		}
	})
	if !a.balanceAt(now).LessThan(threshold) {
		return time.Time{}, false
	}
	if !below {
		since = now
	}
	return since, true
}
