package sim

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// balancePlaces is how many decimal places Vonage reports.
const balancePlaces = 8

// event is a jump of the balance at an instant: a burst, the credit of a
// top-up, or SetBalance/Drain. Between events the balance falls linearly at
// the drain rate, so the whole history is known exactly from the events.
type event struct {
	at    time.Time
	delta decimal.Decimal
}

// addEvent inserts e after every event at the same instant or earlier. The
// caller holds a.mu.
func (a *Account) addEvent(at time.Time, delta decimal.Decimal) {
	i, _ := slices.BinarySearchFunc(a.events, at, func(e event, t time.Time) int {
		if e.at.After(t) {
			return 1
		}
		return -1
	})
	a.events = slices.Insert(a.events, i, event{at: at, delta: delta})
}

// balanceAt is the exact balance at t: the starting balance, less the drain
// since the start, plus every event at or before t. The caller holds a.mu.
func (a *Account) balanceAt(t time.Time) decimal.Decimal {
	v := a.startValue.Sub(a.drainOver(a.start, t))
	for _, e := range a.events {
		if e.at.After(t) {
			break
		}
		v = v.Add(e.delta)
	}
	return v
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

// segment is a stretch of time with no event inside: the balance is v at
// from and falls at the drain rate until just before to.
type segment struct {
	from, to time.Time
	v        decimal.Decimal
}

// end is the balance just before s.to.
func (a *Account) end(s segment) decimal.Decimal {
	return s.v.Sub(a.drainOver(s.from, s.to))
}

// segments cuts the time from the start to now at every event. The caller
// holds a.mu.
func (a *Account) segments(now time.Time) []segment {
	i := 0
	for i < len(a.events) && !a.events[i].at.After(a.start) {
		i++
	}
	s := segment{from: a.start, v: a.balanceAt(a.start)}
	var out []segment
	for i < len(a.events) && a.events[i].at.Before(now) {
		s.to = a.events[i].at
		out = append(out, s)
		v := a.end(s)
		for i < len(a.events) && a.events[i].at.Equal(s.to) {
			v = v.Add(a.events[i].delta)
			i++
		}
		s = segment{from: s.to, v: v}
	}
	s.to = now
	return append(out, s)
}

// Lowest is the lowest balance since the account was created, rounded to 8
// decimal places, and when it was reached. It is computed exactly from the
// drain, bursts, credits and adjustments, not sampled at requests; when the
// lowest point is just before a credit, at is the instant of that credit;
// when the lowest balance lasted, at is when it was first reached.
func (a *Account) Lowest() (v decimal.Decimal, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	v, at = a.balanceAt(a.start), a.start
	for _, s := range a.segments(now) {
		if s.v.LessThan(v) {
			v, at = s.v, s.from
		}
		if e := a.end(s); e.LessThan(v) {
			v, at = e, s.to
		}
	}
	if e := a.balanceAt(now); e.LessThan(v) {
		v, at = e, now
	}
	return v.Round(balancePlaces), at
}

// TimeBelow is how long the balance has been strictly below threshold since
// the account was created, to the nanosecond. Like Lowest it is computed
// from the model, not sampled.
func (a *Account) TimeBelow(threshold decimal.Decimal) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var total time.Duration
	for _, s := range a.segments(a.now()) {
		if from, ok := a.belowFrom(s, threshold); ok {
			total += s.to.Sub(from)
		}
	}
	return total
}

// BelowSince reports whether the balance is strictly below threshold now and,
// if it is, since when it has been without a break: the instant the drain
// took it to the threshold, or the instant of the burst or adjustment that
// took it below. Computed from the model.
func (a *Account) BelowSince(threshold decimal.Decimal) (since time.Time, below bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for _, s := range a.segments(now) {
		from, ok := a.belowFrom(s, threshold)
		switch {
		case !ok:
			below = false
		case from.Equal(s.from) && below:
		default:
			since, below = from, true
		}
	}
	if !a.balanceAt(now).LessThan(threshold) {
		return time.Time{}, false
	}
	if !below {
		since = now
	}
	return since, true
}

// belowFrom is when, within s, the balance goes below threshold (the instant
// it reaches it, to the nanosecond, when it crosses it within s); as it only
// falls within a segment, it then stays below until s.to.
func (a *Account) belowFrom(s segment, threshold decimal.Decimal) (time.Time, bool) {
	if s.v.LessThan(threshold) {
		return s.from, true
	}
	if !s.to.After(s.from) || !a.drain.IsPositive() {
		return time.Time{}, false
	}
	cross := s.v.Sub(threshold).DivRound(a.drain, 9)
	if !cross.LessThan(seconds(s.to.Sub(s.from))) {
		return time.Time{}, false
	}
	at := s.from.Add(time.Duration(cross.Shift(9).IntPart()))
	return at, at.Before(s.to)
}
