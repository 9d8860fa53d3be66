package sim

import (
	"context"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// A spend leaves at an even pace over its span: a third of a minute's spend
// after twenty seconds, exactly all of it at the minute.
func TestSpendsDrainAtAnEvenPace(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Balance = dec("100")
	cfg.Spends = []Spend{
		{From: 0, To: time.Minute, Amount: dec("1")},
		{From: time.Minute, To: 2 * time.Minute, Amount: dec("3")},
		{From: 3 * time.Minute, To: 4 * time.Minute, Amount: dec("0.5")},
	}
	acct := newAccount(t, cfg)
	for _, step := range []struct {
		by   time.Duration
		want string
	}{
		{20 * time.Second, "99.66666667"}, {10 * time.Second, "99.5"}, {30 * time.Second, "99"},
		{30 * time.Second, "97.5"}, {30 * time.Second, "96"}, {time.Minute, "96"},
		{time.Minute, "95.5"}, {time.Hour, "95.5"},
	} {
		clock.Advance(step.by)
		wantBalance(t, acct, step.want)
	}
	if low, at := acct.Lowest(); !low.Equal(dec("95.5")) || !at.Equal(acct.Started().Add(4*time.Minute)) {
		t.Errorf("lowest %s at +%s, want 95.5 at +4m", low, at.Sub(acct.Started()))
	}
}

func TestNewRejectsBadSpends(t *testing.T) {
	cfg := testConfig(newClock())
	cfg.Spends = []Spend{
		{From: 0, To: time.Minute, Amount: dec("1")},
		{From: 30 * time.Second, To: 2 * time.Minute, Amount: dec("1")},
		{From: 3 * time.Minute, To: 3 * time.Minute, Amount: dec("1")},
		{From: 4 * time.Minute, To: 5 * time.Minute, Amount: dec("-1")},
	}
	_, err := New(cfg)
	if err == nil {
		t.Fatal("New accepted overlapping, empty and negative spends")
	}
	for _, want := range []string{"spend 1: starts at 30s, before spend 0 ends", "spend 2: span 3m0s to 3m0s",
		"spend 3: amount -1 is negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// At exactly zero with nothing draining, the balance is at zero but not
// below it: TimeAtOrBelow counts the time, TimeBelow does not.
func TestTimeAtOrBelowCountsTheLevelItself(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Balance = dec("2")
	cfg.Spends = []Spend{{From: 0, To: 4 * time.Second, Amount: dec("2")}}
	acct := newAccount(t, cfg)
	clock.Advance(time.Minute)
	if got := acct.TimeBelow(decimal.Zero); got != 0 {
		t.Errorf("time below 0: %s, want 0", got)
	}
	if got := acct.TimeAtOrBelow(decimal.Zero); got != 56*time.Second {
		t.Errorf("time at or below 0: %s, want 56s", got)
	}
	if got := acct.TimeAtOrBelow(dec("1")); got != 58*time.Second {
		t.Errorf("time at or below 1: %s, want 58s", got)
	}
	// Above 1: a triangle of 1 EUR over 2 s, 1 EUR s in 60 s.
	if got := acct.MeanAbove(dec("1")); !got.Equal(dec("0.01666667")) {
		t.Errorf("mean above 1: %s, want 0.01666667", got)
	}
}

func TestHistoryIsCutAtEventsSpendsAndCuts(t *testing.T) {
	clock := newClock()
	start := clock.Now()
	cfg := testConfig(clock)
	cfg.Balance, cfg.CreditDelay = dec("10"), 0
	cfg.Spends = []Spend{{From: 10 * time.Second, To: 20 * time.Second, Amount: dec("5")}}
	cfg.Bursts = []Burst{{At: 15 * time.Second, Amount: dec("1")}}
	acct := newAccount(t, cfg)
	clock.Advance(30 * time.Second)
	h := acct.History(start.Add(5*time.Second), start.Add(25*time.Second), start.Add(time.Hour))
	want := []Segment{
		{start, start.Add(5 * time.Second), dec("10"), dec("10")},
		{start.Add(5 * time.Second), start.Add(10 * time.Second), dec("10"), dec("10")},
		{start.Add(10 * time.Second), start.Add(15 * time.Second), dec("10"), dec("7.5")},
		{start.Add(15 * time.Second), start.Add(20 * time.Second), dec("6.5"), dec("4")},
		{start.Add(20 * time.Second), start.Add(25 * time.Second), dec("4"), dec("4")},
		{start.Add(25 * time.Second), start.Add(30 * time.Second), dec("4"), dec("4")},
	}
	if len(h) != len(want) {
		t.Fatalf("%d segments, want %d: %v", len(h), len(want), h)
	}
	for i, s := range h {
		w := want[i]
		if !s.From.Equal(w.From) || !s.To.Equal(w.To) || !s.Start.Equal(w.Start) || !s.End.Equal(w.End) {
			t.Errorf("segment %d: %v, want %v", i, s, w)
		}
	}
}

// brute is an account's history written down plainly: the balance at any
// instant is the sum of what happened before it, with exact rationals.
type brute struct {
	start  decimal.Decimal
	drain  decimal.Decimal // per second
	spends []Spend
	jumps  []bruteJump
}

type bruteJump struct {
	at    time.Duration
	delta decimal.Decimal
}

// at is the balance at t, jumps at t included.
func (b *brute) at(t time.Duration) *big.Rat { return b.sum(t, true) }

// before is the balance just before t: jumps at t left out.
func (b *brute) before(t time.Duration) *big.Rat { return b.sum(t, false) }

func (b *brute) sum(t time.Duration, jumpsAtT bool) *big.Rat {
	v := new(big.Rat).Set(b.start.Rat())
	v.Sub(v, new(big.Rat).Mul(b.drain.Rat(), big.NewRat(int64(t), int64(time.Second))))
	for _, s := range b.spends {
		share := big.NewRat(int64(min(max(t-s.From, 0), s.To-s.From)), int64(s.To-s.From))
		v.Sub(v, share.Mul(share, s.Amount.Rat()))
	}
	for _, j := range b.jumps {
		if j.at < t || jumpsAtT && j.at == t {
			v.Add(v, j.delta.Rat())
		}
	}
	return v
}

// sampler returns the balance at t in floating point, for sampling.
func (b *brute) sampler() func(t time.Duration) float64 {
	f := func(d decimal.Decimal) float64 { v, _ := d.Float64(); return v }
	start, drain := f(b.start), f(b.drain)
	amounts, deltas := make([]float64, len(b.spends)), make([]float64, len(b.jumps))
	for i, s := range b.spends {
		amounts[i] = f(s.Amount)
	}
	for i, j := range b.jumps {
		deltas[i] = f(j.delta)
	}
	return func(t time.Duration) float64 {
		v := start - drain*t.Seconds()
		for i, s := range b.spends {
			v -= amounts[i] * float64(min(max(t-s.From, 0), s.To-s.From)) / float64(s.To-s.From)
		}
		for i, j := range b.jumps {
			if j.at <= t {
				v += deltas[i]
			}
		}
		return v
	}
}

// TestTheModelMatchesABruteForceSum: random accounts with spends, bursts,
// top-ups and drops, read at random instants, forward and (the clock
// stepped back) backward, agree with the plain sum to the 8th place; the
// time below and at or below a level, the mean above it and the lowest
// balance agree with a sampling every 5ms.
func TestTheModelMatchesABruteForceSum(t *testing.T) {
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 77))
		cents := func(hi int) decimal.Decimal { return decimal.New(int64(rng.IntN(hi*100)), -2) }
		clock := newClock()
		cfg := testConfig(clock)
		cfg.Balance, cfg.CreditDelay, cfg.TopUpAmount = cents(100), time.Duration(rng.IntN(20))*time.Second, cents(40)
		if seed%2 == 1 {
			cfg.DrainPerSecond = dec("0.013")
		}
		b := &brute{start: cfg.Balance, drain: cfg.DrainPerSecond}
		var at time.Duration
		for at < 4*time.Minute {
			from := at + time.Duration(rng.IntN(3))*time.Duration(rng.IntN(20_000))*time.Millisecond
			at = from + time.Duration(1+rng.IntN(40_000))*time.Millisecond
			cfg.Spends = append(cfg.Spends, Spend{From: from, To: at, Amount: cents(20)})
		}
		for range rng.IntN(4) {
			cfg.Bursts = append(cfg.Bursts, Burst{At: time.Duration(rng.Int64N(int64(4 * time.Minute))), Amount: cents(30)})
		}
		b.spends = cfg.Spends
		for _, bu := range cfg.Bursts {
			b.jumps = append(b.jumps, bruteJump{bu.At, bu.Amount.Neg()})
		}
		acct := newAccount(t, cfg)
		now := func() time.Duration { return clock.Now().Sub(acct.Started()) }
		for now() < 5*time.Minute {
			clock.Advance(time.Duration(rng.Int64N(int64(7 * time.Second))))
			back := time.Duration(0)
			if rng.IntN(10) == 0 {
				back = time.Duration(rng.Int64N(int64(now())))
				clock.Step(-back)
			}
			switch rng.IntN(6) {
			case 0:
				if err := acct.Direct().TopUp(context.Background()); err != nil {
					t.Fatal(err)
				}
				b.jumps = append(b.jumps, bruteJump{now() + cfg.CreditDelay, cfg.TopUpAmount})
			case 1:
				d := cents(5)
				acct.Drain(d)
				b.jumps = append(b.jumps, bruteJump{now(), d.Neg()})
			}
			want := decimal.NewFromBigRat(b.at(now()), 30).Round(balancePlaces)
			if got := acct.Balance(); !got.Equal(want) {
				t.Fatalf("seed %d at +%s (stepped back %s): balance %s, the plain sum %s", seed, now(), back, got, want)
			}
			clock.Step(back)
		}
		checkMeasures(t, seed, acct, b, now(), cents(60).Add(dec("0.005")))
	}
}

// checkMeasures compares the model's measures of acct, at +end, with a
// sampling of b every 5ms.
func checkMeasures(t *testing.T, seed uint64, acct *Account, b *brute, end time.Duration, level decimal.Decimal) {
	t.Helper()
	const step = 5 * time.Millisecond
	lv, _ := level.Float64()
	var below, atOrBelow time.Duration
	var area float64
	sample := b.sampler()
	lowest := sample(0)
	for at := time.Duration(0); at < end; at += step {
		v := sample(at)
		if v < lv {
			below += step
		}
		if v <= 0 {
			atOrBelow += step
		}
		area += max(0, (v+sample(min(at+step, end)))/2-lv) * min(step, end-at).Seconds()
		lowest = min(lowest, v)
	}
	// Each crossing of the level is off by at most a step.
	slack := time.Duration(2*(len(b.spends)+len(b.jumps))+2) * step
	if got := acct.TimeBelow(level); absDuration(got-below) > slack {
		t.Errorf("seed %d: time below %s: %s, sampled %s", seed, level, got, below)
	}
	if got := acct.TimeAtOrBelow(decimal.Zero); absDuration(got-atOrBelow) > slack {
		t.Errorf("seed %d: time at or below 0: %s, sampled %s", seed, got, atOrBelow)
	}
	mean := area / end.Seconds()
	if got, _ := acct.MeanAbove(level).Float64(); math.Abs(got-mean) > 1e-3*max(1, mean) {
		t.Errorf("seed %d: mean above %s: %v, sampled %v", seed, level, got, mean)
	}
	// The lowest is at an instant of a jump or a change of pace, or at the
	// end: the samples come within a step's fall of it, never below it.
	got, _ := acct.Lowest()
	low, _ := got.Float64()
	if low > lowest+1e-9 || lowest-low > 1 {
		t.Errorf("seed %d: lowest %v, sampled %v", seed, low, lowest)
	}
	if exact := bruteLowest(b, end); !got.Equal(exact) {
		t.Errorf("seed %d: lowest %s, the plain sum's %s", seed, got, exact)
	}
}

// bruteLowest is the lowest of the plain sum at every instant where it may
// turn: the ends of spends and the jumps (just before and at them), the
// start and the end.
func bruteLowest(b *brute, end time.Duration) decimal.Decimal {
	at := []time.Duration{0, end}
	for _, s := range b.spends {
		at = append(at, s.From, s.To)
	}
	for _, j := range b.jumps {
		at = append(at, j.at)
	}
	low := b.at(0)
	for _, t := range at {
		if t < 0 || t > end {
			continue
		}
		for _, v := range []*big.Rat{b.before(t), b.at(t)} {
			if v.Cmp(low) < 0 {
				low = v
			}
		}
	}
	return decimal.NewFromBigRat(low, 30).Round(balancePlaces)
}

func absDuration(d time.Duration) time.Duration { return max(d, -d) }

// BenchmarkAMonthOfReads reads the balance every 30s for a month over
// 43,200 one-minute spends: each read costs the same, however far into the
// month.
func BenchmarkAMonthOfReads(b *testing.B) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Balance = dec("1000000")
	for i := range 43_200 {
		cfg.Spends = append(cfg.Spends, Spend{From: time.Duration(i) * time.Minute,
			To: time.Duration(i+1) * time.Minute, Amount: decimal.New(int64(i%97), -2)})
	}
	acct, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	d := acct.Direct()
	b.ReportAllocs()
	for b.Loop() {
		for range 86_400 {
			clock.Advance(30 * time.Second)
			if _, err := d.GetBalance(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		clock.Step(-30 * 24 * time.Hour) // back to the start, for the next loop
	}
}

// A share that is a short decimal is exact, and kept short; one that is
// not is rounded to spendPlaces.
func TestShareIsExactWhenItCanBe(t *testing.T) {
	for _, c := range []struct {
		amount      string
		part, whole time.Duration
		want        string
	}{
		{"0.05", 30 * time.Second, time.Minute, "0.025"},
		{"3", time.Minute, time.Minute, "3"},
		{"0.07", 45 * time.Second, time.Minute, "0.0525"},
		{"1", 20 * time.Second, time.Minute, "0.33333333333333333333"},
		{"2", time.Nanosecond, 3 * time.Nanosecond, "0.66666666666666666667"},
		{"0", 10 * time.Second, time.Minute, "0"},
	} {
		got := share(dec(c.amount), c.part, c.whole)
		if got.String() != c.want {
			t.Errorf("share(%s, %s, %s) = %s, want %s", c.amount, c.part, c.whole, got, c.want)
		}
	}
}
