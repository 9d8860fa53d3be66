package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// model is the account's balance over time, rebuilt from its configuration
// and its record of credits, so the checks know it at every instant.
type model struct {
	start  time.Time
	b0     decimal.Decimal
	events []modelEvent
}

type modelEvent struct {
	at    time.Time
	delta decimal.Decimal
}

func newModel(acct *sim.Account, b0 decimal.Decimal, bursts []sim.Burst, tops []sim.TopUp) *model {
	m := &model{start: acct.Started(), b0: b0}
	for _, b := range bursts {
		m.events = append(m.events, modelEvent{at: m.start.Add(b.At), delta: b.Amount.Neg()})
	}
	for _, tu := range tops {
		if tu.Applied {
			m.events = append(m.events, modelEvent{at: tu.CreditAt, delta: tu.Amount})
		}
	}
	slices.SortStableFunc(m.events, func(a, b modelEvent) int { return a.at.Compare(b.at) })
	return m
}

// at is the exact balance at t.
func (m *model) at(t time.Time) decimal.Decimal {
	v := m.b0
	if t.After(m.start) {
		v = v.Sub(stormDrain.Mul(decimal.NewFromInt(int64(t.Sub(m.start))).Shift(-9)))
	}
	for _, e := range m.events {
		if e.at.After(t) {
			break
		}
		v = v.Add(e.delta)
	}
	return v
}

// below returns the spans, up to end, when the balance was below thr.
func (m *model) below(thr decimal.Decimal, end time.Time) [][2]time.Time {
	cuts := []time.Time{m.start}
	for _, e := range m.events {
		if e.at.After(m.start) && e.at.Before(end) {
			cuts = append(cuts, e.at)
		}
	}
	cuts = append(cuts, end)
	var out [][2]time.Time
	for i := 0; i+1 < len(cuts); i++ {
		s, e := cuts[i], cuts[i+1]
		if !e.After(s) {
			continue
		}
		from := s
		if v := m.at(s); !v.LessThan(thr) {
			secs := v.Sub(thr).DivRound(stormDrain, 9)
			from = s.Add(time.Duration(secs.Shift(9).IntPart()))
			if !from.Before(e) {
				continue
			}
		}
		if n := len(out); n > 0 && !from.After(out[n-1][1]) {
			out[n-1][1] = e
		} else {
			out = append(out, [2]time.Time{from, e})
		}
	}
	return out
}

// check holds the model to the account's own figures: the balance it
// recorded at each top-up, and its time below the threshold.
func (m *model) check(t *testing.T, acct *sim.Account, tops []sim.TopUp) {
	t.Helper()
	for _, tu := range tops {
		if got := m.at(tu.ReceivedAt).Round(8); !got.Equal(tu.BalanceBefore) {
			t.Fatalf("model: balance %s at top-up #%d, the account recorded %s", got, tu.Seq, tu.BalanceBefore)
		}
	}
	from := time.Now()
	want := acct.TimeBelow(stormThreshold)
	to := time.Now()
	lo, hi := m.timeBelow(from), m.timeBelow(to)
	if want < lo-time.Millisecond || want > hi+time.Millisecond {
		t.Fatalf("model: %s to %s below the threshold, the account says %s", lo, hi, want)
	}
}

func (m *model) timeBelow(end time.Time) time.Duration {
	var d time.Duration
	for _, iv := range m.below(stormThreshold, end) {
		d += iv[1].Sub(iv[0])
	}
	return d
}
