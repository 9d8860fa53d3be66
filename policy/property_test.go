package policy_test

// The contract's top-up rules as properties of whole sequences of readings,
// held to the one oracle of those rules, internal/oracle.
// FuzzDecideSequence lets the fuzzer choose the sequences;
// TestDecideSequencesKeepTheRules runs the same checker over seeded random
// ones, so that a plain `go test` exercises it too; property_coverage_test.go
// counts what they reached, and runs the committed seeds.
//
// A sequence is run the way the watchdog runs the policy: each reading is
// first reconciled with the earlier top-ups (one whose balance before is
// below the balance read is confirmed, contract rule 6), then decided with
// the Refilling of the reading before and the readings before it (kept as
// the ledger keeps them); a top-up the policy asks for is recorded at the
// reading's instant with the outcome the input gives it (a rejection at the
// instant its answer came), and records older than the watchdog's retention
// are pruned.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/oracle"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// seqStart is the instant every sequence starts at.
var seqStart = time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC)

// seqMaxSteps bounds a sequence, so that every fuzz input runs quickly.
const seqMaxSteps = 300

// seqStep is one reading and the outcome of the top-up it may ask for.
type seqStep struct {
	advance    time.Duration // since the reading before; negative when the clock stepped back
	balance    decimal.Decimal
	autoReload bool
	// outcome is what becomes of a top-up this reading asks for: Pending (it
	// succeeded, or its outcome is unknown), Confirmed (its credit shows
	// answerIn later), Rejected or NotSent.
	outcome policy.Status
	// answerIn is how long a rejection took to come: its record is dated
	// then; see seqDecode for the other outcomes.
	answerIn time.Duration
}

type seqRun struct {
	settings policy.Settings
	steps    []seqStep
}

// seqDecode reads a run from fuzz bytes. The first four bytes are the
// settings, then three bytes per reading:
//
//	settings  threshold = (b0%64+1)/2 EUR; the predictive policy when b0&64;
//	          lead time (b2/60+1)*3 minutes when b0&128, else automatic;
//	          target = threshold when b1%4 == 0, else threshold + (b1>>2)/2
//	          EUR; window = b2%60+1 minutes; daily cap = b3%7; back-off =
//	          (b3>>3)%4 * 15s; flight = (b3>>5)%4 minutes; the schedule's
//	          interval 4 minutes when b3&128, else 30s
//	advance   0-191: n*15s; 192-239: (n-191) hours; 240: the window;
//	          241: the window-1ns; 242: the window+1ns; 243: 24h; 244: 24h-1ns;
//	          245: 1ns; 246: -1ns; 247-255: -(n-246)*15s (the clock steps back)
//	balance   base by b>>6: the threshold, the target, the balance before,
//	          the balance before + 10 EUR (a credit); plus (b&63)-32 halves
//	          of a euro, where +1 and -1 stand for +-0.00000001
//	flags     auto-reload off when b&3 == 0; outcome by (b>>2)&3: pending,
//	          confirmed, rejected, not sent; a rejection comes (b>>4)*2s
//	          late, a confirmed one's credit shows (b>>4)*2s later, a
//	          pending one's request ends (b>>4)*2s later, unless b>>4 is
//	          15 (its end is never known), and a not-sent one was a 429
//	          whose Retry-After is (b>>4)*2s
//
// The readings before each one are the sequence's own, as the ledger keeps
// them (seqKeep); a top-up confirmed by a later reading is credited then.
//
// Missing settings bytes read as zero; an incomplete last reading and the
// readings past seqMaxSteps are ignored.
func seqDecode(data []byte) seqRun {
	at := func(i int) byte {
		if i < len(data) {
			return data[i]
		}
		return 0
	}
	half := decimal.New(5, -1)
	threshold := decimal.NewFromInt(int64(at(0)%64 + 1)).Mul(half)
	target := threshold
	if b := at(1); b%4 != 0 {
		target = threshold.Add(decimal.NewFromInt(int64(b >> 2)).Mul(half))
	}
	r := seqRun{settings: policy.Settings{
		Threshold:  threshold,
		Target:     target,
		Window:     time.Duration(at(2)%60+1) * time.Minute,
		MaxPerDay:  int(at(3) % 7),
		Backoff:    time.Duration(at(3)>>3%4) * 15 * time.Second,
		Flight:     time.Duration(at(3)>>5%4) * time.Minute,
		Predictive: at(0)&64 != 0,
		Interval:   30 * time.Second,
	}}
	if at(0)&128 != 0 {
		r.settings.LeadTime = time.Duration(at(2)/60+1) * 3 * time.Minute
	}
	if at(3)&128 != 0 {
		r.settings.Interval = 4 * time.Minute
	}
	prev := threshold
	for i := 4; i+2 < len(data) && len(r.steps) < seqMaxSteps; i += 3 {
		st := seqStep{
			advance:    seqAdvance(data[i], r.settings.Window),
			balance:    seqBalance(data[i+1], r.settings, prev),
			autoReload: data[i+2]&3 != 0,
			outcome:    []policy.Status{policy.Pending, policy.Confirmed, policy.Rejected, policy.NotSent}[data[i+2]>>2&3],
			answerIn:   time.Duration(data[i+2]>>4) * 2 * time.Second,
		}
		prev = st.balance
		r.steps = append(r.steps, st)
	}
	return r
}

func seqAdvance(b byte, window time.Duration) time.Duration {
	switch {
	case b < 192:
		return time.Duration(b) * 15 * time.Second
	case b < 240:
		return time.Duration(b-191) * time.Hour
	}
	switch b {
	case 240:
		return window
	case 241:
		return window - 1
	case 242:
		return window + 1
	case 243:
		return policy.Day
	case 244:
		return policy.Day - 1
	case 245:
		return 1
	case 246:
		return -1
	}
	return -time.Duration(b-246) * 15 * time.Second
}

func seqBalance(b byte, s policy.Settings, prev decimal.Decimal) decimal.Decimal {
	base := []decimal.Decimal{s.Threshold, s.Target, prev, prev.Add(decimal.NewFromInt(10))}[b>>6]
	switch off := int64(b&63) - 32; off {
	case 1, -1:
		return base.Add(decimal.New(off, -8))
	default:
		return base.Add(decimal.New(off*5, -1))
	}
}

// seqRecord is a top-up as the sequence's ledger holds it.
type seqRecord struct {
	topUp         policy.TopUp
	balanceBefore decimal.Decimal
}

// seqCheck runs r and returns the first rule it breaks, naming the reading.
func seqCheck(r seqRun, seen seqCoverage) error {
	s := r.settings
	retention := 2 * max(policy.Day, s.Window) // the watchdog's
	now := seqStart
	refilling := false
	var startedBy policy.Reason // what wanted the top-up that started the refill under way
	var records []seqRecord
	var readings []policy.Reading
	var reached []time.Time // every top-up that may have reached Vonage; never pruned
	for i, st := range r.steps {
		now = now.Add(st.advance)
		for j := range records {
			rec := &records[j]
			if rec.topUp.Status == policy.Pending && !now.Before(rec.topUp.At) && st.balance.GreaterThan(rec.balanceBefore) {
				rec.topUp.Status, rec.topUp.ConfirmedAt = policy.Confirmed, now
			}
		}
		records = slices.DeleteFunc(records, func(rec seqRecord) bool { return rec.topUp.At.Before(now.Add(-retention)) })
		in := policy.Input{Balance: st.balance, AutoReload: st.autoReload, Now: now, Refilling: refilling, Readings: readings}
		for _, rec := range records {
			in.TopUps = append(in.TopUps, rec.topUp)
		}
		view, viewReadings := slices.Clone(in.TopUps), slices.Clone(in.Readings)
		d := policy.Decide(s, in)
		if again := policy.Decide(s, in); !oracle.Equal(again, d) || !slices.Equal(view, in.TopUps) || !slices.Equal(viewReadings, in.Readings) {
			return fmt.Errorf("reading %d: Decide is not pure: %+v then %+v", i, d, again)
		}
		f := oracle.Assess(s, in)
		if err := seqRules(s, in, d, f, seen); err != nil {
			return fmt.Errorf("reading %d of %s: %w\n  input %s\n  decision %+v\n  facts %+v", i, seqSettings(s), err, seqInput(in), d, f)
		}
		if !in.Refilling && d.Refilling {
			startedBy = f.Wants()[0]
		}
		if seen != nil && in.Refilling && startedBy == policy.ReasonProjectedBelowThreshold && d.Action == policy.ActionTopUp && d.Reason == policy.ReasonRefilling {
			seen["a refill started by the projection went on"]++
		}
		refilling = d.Refilling
		readings = seqKeep(readings, policy.Reading{At: now, Balance: st.balance})
		if d.Action != policy.ActionTopUp {
			continue
		}
		rec := seqRecord{topUp: policy.TopUp{At: now, Status: st.outcome}, balanceBefore: st.balance}
		switch st.outcome {
		case policy.Rejected:
			rec.topUp.At = now.Add(st.answerIn)
		case policy.NotSent:
			rec.topUp.Ended, rec.topUp.Attempts = now, 1
			if st.answerIn > 0 {
				rec.topUp.HoldUntil = now.Add(st.answerIn)
			}
		case policy.Confirmed:
			rec.topUp.ConfirmedAt = now.Add(st.answerIn)
		default:
			if st.answerIn != 15*2*time.Second {
				rec.topUp.Ended = now.Add(st.answerIn)
			}
		}
		records = append(records, rec)
		if st.outcome == policy.Pending || st.outcome == policy.Confirmed {
			reached = append(reached, now)
		}
	}
	return seqRollingCap(s, reached)
}

// seqKeep adds r to readings as the ledger keeps them: first dropping those
// r does not follow (a clock that went back), then keeping the newest
// policy.MaxReadings, none older than policy.ReadingsAge before r.
func seqKeep(readings []policy.Reading, r policy.Reading) []policy.Reading {
	for len(readings) > 0 && !readings[len(readings)-1].At.Before(r.At) {
		readings = readings[:len(readings)-1]
	}
	readings = append(slices.Clip(readings), r)
	for len(readings) > policy.MaxReadings || r.At.Sub(readings[0].At) > policy.ReadingsAge {
		readings = readings[1:]
	}
	return readings
}

// seqRules checks one decision against the contract's rules, each stated on
// its own over the oracle's facts f; the oracle's whole decision at the end
// implies most of them, but a broken rule is easier to read by its name.
func seqRules(s policy.Settings, in policy.Input, d policy.Decision, f oracle.Facts, seen seqCoverage) error {
	want := f.Decision()
	wants, blocks := f.Wants(), f.Blocks()
	topUp := d.Action == policy.ActionTopUp
	byThreshold := f.Below || in.Refilling && f.UnderTarget // what the threshold policy wants
	live := f.Below && len(blocks) == 0
	rules := []struct {
		name  string
		holds bool
	}{
		{"a refill starts only below the threshold, or projected below it by the predictive policy", in.Refilling || !d.Refilling || f.Below || f.ProjectedBelow},
		{"below the threshold a refill is under way", !f.Below || d.Refilling},
		{"a refill goes on until the balance reaches the target", !in.Refilling || !f.UnderTarget || d.Refilling},
		{"a refill ends once the balance reaches the target, unless the projection wants a top-up", !d.Refilling || f.UnderTarget || f.ProjectedBelow},
		{"the threshold policy ignores the projection", s.Predictive || d.Refilling == byThreshold && d.Reason != policy.ReasonProjectedBelowThreshold},
		{"topups_24h counts the requests of the last 24 hours that may have reached Vonage", d.TopUps24h == f.TopUps24h},
		{"a top-up only below the threshold, during a refill or projected below the threshold", !topUp || len(wants) > 0},
		{"no top-up while auto-reload is off", !topUp || !f.AutoReloadOff},
		{"no top-up while a pending top-up is younger than the window", !topUp || !f.WindowOpen},
		{"no top-up within the window after a rejection", !topUp || !f.RecentlyRejected},
		{"no top-up before a 429's Retry-After has passed", !topUp || !f.RateLimited},
		{"no top-up while repeated not-sent ones back off", !topUp || !f.BackingOff},
		{"no top-up once the daily cap is reached", !topUp || !f.CapReached},
		{"liveness: a need with nothing in the way is topped up", !live || topUp && d.Reason == policy.ReasonBelowThreshold},
		{"liveness: a projected need with nothing in the way is topped up", !f.ProjectedBelow || len(blocks) > 0 || topUp},
		{"the burn rate is the median of the newest rates of the last hour", d.RateKnown == f.Projection.Known && d.BurnRate.Equal(f.Projection.Rate)},
		{"the lead time is the one set, or the automatic one from the credit delays", d.LeadTime == f.Projection.Lead && d.LeadAuto == f.Projection.LeadAuto},
		{"the projection is the balance less the rate times the lead time", d.Projected.Equal(f.Projection.Balance)},
		{"the action and reason follow the contract's blocking order", d.Action == want.Action && d.Reason == want.Reason},
		{"the decision is the oracle's", oracle.Equal(d, want)},
	}
	for _, r := range rules {
		if !r.holds {
			return fmt.Errorf("broke %q (want %+v)", r.name, want)
		}
	}
	if seen != nil {
		seqSee(seen, s, in, d, f)
	}
	return nil
}

// seqRollingCap checks that no span of 24 hours, anywhere, holds more than
// the daily cap of top-ups that may have reached Vonage: the cap as the
// contract states it, over the whole sequence rather than reading by reading.
func seqRollingCap(s policy.Settings, reached []time.Time) error {
	sorted := slices.Clone(reached)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	first := 0
	for last, t := range sorted {
		for t.Sub(sorted[first]) >= policy.Day {
			first++
		}
		if n := last - first + 1; n > s.MaxPerDay {
			return fmt.Errorf("%d top-ups that may have reached Vonage between %s and %s, over the daily cap of %d",
				n, sorted[first].Format(time.RFC3339Nano), t.Format(time.RFC3339Nano), s.MaxPerDay)
		}
	}
	return nil
}

func seqSettings(s policy.Settings) string {
	return fmt.Sprintf("threshold %s, target %s, window %s, cap %d, back-off %s, flight %s, predictive %t, lead time %s, interval %s",
		s.Threshold, s.Target, s.Window, s.MaxPerDay, s.Backoff, s.Flight, s.Predictive, s.LeadTime, s.Interval)
}

func seqInput(in policy.Input) string {
	var b strings.Builder
	fmt.Fprintf(&b, "balance %s, auto-reload %t, refilling %t, now %s, top-ups [", in.Balance, in.AutoReload,
		in.Refilling, in.Now.Format(time.RFC3339Nano))
	for i, t := range in.TopUps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s ago", t.Status, in.Now.Sub(t.At))
		if !t.Ended.IsZero() {
			fmt.Fprintf(&b, " ended %s ago", in.Now.Sub(t.Ended))
		}
		if !t.HoldUntil.IsZero() {
			fmt.Fprintf(&b, " held for %s", t.HoldUntil.Sub(in.Now))
		}
		if !t.ConfirmedAt.IsZero() {
			fmt.Fprintf(&b, " credited %s ago", in.Now.Sub(t.ConfirmedAt))
		}
	}
	b.WriteString("], readings [")
	for i, r := range in.Readings {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s ago", r.Balance, in.Now.Sub(r.At))
	}
	b.WriteString("]")
	return b.String()
}

func FuzzDecideSequence(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := seqCheck(seqDecode(data), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDecideSequencesKeepTheRules runs the fuzz checker over 2,000 seeded
// random sequences of up to 300 readings (seqRandom), and makes sure that
// between them they reached every action and reason.
func TestDecideSequencesKeepTheRules(t *testing.T) {
	seen := seqCoverage{}
	for seed := range uint64(2000) {
		data := seqRandom(rand.New(rand.NewPCG(seed, 0x5e9)))
		if err := seqCheck(seqDecode(data), seen); err != nil {
			t.Fatalf("seed %d (input %x): %v", seed, data, err)
		}
	}
	seqRequireCoverage(t, seen)
}

// seqRandom is the fuzz input of a random sequence of up to seqMaxSteps
// readings: random settings, then random readings and runs of readings.
// The burn rate needs two spans within the hour whose balance did not rise,
// which random readings seldom give (most of them jump to the threshold or
// the target, or hours on), so that a projection blocked by one blocker or
// another would hardly ever be seen. A run is a random reading and two to
// five more on one schedule (15s, 30s or 4 minutes apart, or a multiple of
// 15s up to 4 minutes) at one pace (the balance falling by the same 0,
// 0.00000001 or 1 to 4 EUR each time): a rate shows from its second reading
// after the random one on. Half of the runs give every top-up they ask for
// one outcome (one answer to every request, as in an outage: not sent each
// time, or the same Retry-After), half a random one each time.
func seqRandom(rng *rand.Rand) []byte {
	n := rng.IntN(seqMaxSteps + 1)
	data := make([]byte, 4, 4+3*n)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	reading := func(advance, balance, flags byte) {
		if len(data) < 4+3*n {
			data = append(data, advance, balance, flags)
		}
	}
	for len(data) < 4+3*n {
		reading(byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()))
		if rng.IntN(10) >= 3 {
			continue
		}
		// seqAdvance: n*15s; seqBalance: the balance before, less n halves
		// of a euro (-1 is 0.00000001).
		advance := []byte{1, 2, 16, byte(1 + rng.IntN(16))}[rng.IntN(4)]
		fall := byte(2<<6 | (32 - rng.IntN(9)))
		flags, sameFlags := byte(rng.Uint32()), rng.IntN(2) == 0
		for range 2 + rng.IntN(4) {
			if !sameFlags {
				flags = byte(rng.Uint32())
			}
			reading(advance, fall, flags)
		}
	}
	return data
}
