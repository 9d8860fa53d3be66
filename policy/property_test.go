package policy_test

// The contract's top-up rules as properties of whole sequences of readings.
// FuzzDecideSequence lets the fuzzer choose the sequences;
// TestDecideSequencesKeepTheRules runs the same checker over seeded random
// ones, so that a plain `go test` exercises it too.
//
// A sequence is run the way the watchdog runs the policy: each reading is
// first reconciled with the earlier top-ups (one whose balance before is
// below the balance read is confirmed, contract rule 6), then decided with
// the Refilling of the reading before; a top-up the policy asks for is
// recorded at the reading's instant with the outcome the input gives it
// (a rejection at the instant its answer came), and records older than the
// watchdog's retention are pruned.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

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
	// succeeded, or its outcome is unknown), Confirmed (its credit shows at
	// once), Rejected or NotSent.
	outcome policy.Status
	// answerIn is how long a rejection took to come: its record is dated then.
	answerIn time.Duration
}

type seqRun struct {
	settings policy.Settings
	steps    []seqStep
}

// seqDecode reads a run from fuzz bytes. The first four bytes are the
// settings, then three bytes per reading:
//
//	settings  threshold = (b0%64+1)/2 EUR; target = threshold when b1%4 == 0,
//	          else threshold + (b1>>2)/2 EUR; window = b2%60+1 minutes;
//	          daily cap = b3%7; back-off = (b3>>3)%4 * 15s;
//	          flight = (b3>>5)%4 minutes
//	advance   0-191: n*15s; 192-239: (n-191) hours; 240: the window;
//	          241: the window-1ns; 242: the window+1ns; 243: 24h; 244: 24h-1ns;
//	          245: 1ns; 246: -1ns; 247-255: -(n-246)*15s (the clock steps back)
//	balance   base by b>>6: the threshold, the target, the balance before,
//	          the balance before + 10 EUR (a credit); plus (b&63)-32 halves
//	          of a euro, where +1 and -1 stand for +-0.00000001
//	flags     auto-reload off when b&3 == 0; outcome by (b>>2)&3: pending,
//	          confirmed, rejected, not sent; a rejection comes (b>>4)*2s late,
//	          a pending one's request ends (b>>4)*2s later, unless b>>4 is
//	          15 (its end is never known), and a not-sent one was a 429
//	          whose Retry-After is (b>>4)*2s
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
		Threshold: threshold,
		Target:    target,
		Window:    time.Duration(at(2)%60+1) * time.Minute,
		MaxPerDay: int(at(3) % 7),
		Backoff:   time.Duration(at(3)>>3%4) * 15 * time.Second,
		Flight:    time.Duration(at(3)>>5%4) * time.Minute,
	}}
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

// seqCoverage counts what the sequences went through, so that a test can
// tell that they reached every rule.
type seqCoverage map[string]int

// seqCheck runs r and returns the first rule it breaks, naming the reading.
func seqCheck(r seqRun, seen seqCoverage) error {
	s := r.settings
	retention := 2 * max(policy.Day, s.Window) // the watchdog's
	now := seqStart
	refilling := false
	var records []seqRecord
	var reached []time.Time // every top-up that may have reached Vonage; never pruned
	for i, st := range r.steps {
		now = now.Add(st.advance)
		for j := range records {
			rec := &records[j]
			if rec.topUp.Status == policy.Pending && !now.Before(rec.topUp.At) && st.balance.GreaterThan(rec.balanceBefore) {
				rec.topUp.Status = policy.Confirmed
			}
		}
		records = slices.DeleteFunc(records, func(rec seqRecord) bool { return rec.topUp.At.Before(now.Add(-retention)) })
		in := policy.Input{Balance: st.balance, AutoReload: st.autoReload, Now: now, Refilling: refilling}
		for _, rec := range records {
			in.TopUps = append(in.TopUps, rec.topUp)
		}
		view := slices.Clone(in.TopUps)
		d := policy.Decide(s, in)
		if again := policy.Decide(s, in); again != d || !slices.Equal(view, in.TopUps) {
			return fmt.Errorf("reading %d: Decide is not pure: %+v then %+v", i, d, again)
		}
		if err := seqRules(s, in, d, seen); err != nil {
			return fmt.Errorf("reading %d of %s: %w\n  input %s\n  decision %+v", i, seqSettings(s), err, seqInput(in), d)
		}
		refilling = d.Refilling
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

// seqRules checks one decision against the contract's rules, each stated on
// its own; the blocking order at the end implies most of them, but a broken
// rule is easier to read by its name.
//
// Ages are Input.Now - TopUp.At. A negative age (the clock stepped back) is
// younger than any window: the safe side.
func seqRules(s policy.Settings, in policy.Input, d policy.Decision, seen seqCoverage) error {
	below := in.Balance.LessThan(s.Threshold)
	underTarget := in.Balance.LessThan(s.Target)
	wanted := below || in.Refilling && underTarget
	var pendingOpen, rejectedOpen, held bool
	count := 0 // requests that may have reached Vonage in the last day
	for _, t := range in.TopUps {
		age := in.Now.Sub(t.At)
		held = held || t.HoldUntil.After(in.Now)
		// A request's window, and its place in the daily count, go by its
		// end, or by the latest it can end while that is not known.
		end := t.Ended
		if end.IsZero() {
			end = t.At.Add(s.Flight)
		}
		switch t.Status {
		case policy.Pending:
			pendingOpen = pendingOpen || in.Now.Sub(end) < s.Window
			if in.Now.Sub(end) < policy.Day {
				count++
			}
		case policy.Confirmed:
			if in.Now.Sub(end) < policy.Day {
				count++
			}
		case policy.Rejected:
			rejectedOpen = rejectedOpen || age < s.Window
		}
	}
	backingOff := seqBackingOff(s, in)
	topUp := d.Action == policy.ActionTopUp
	live := below && in.AutoReload && !pendingOpen && !rejectedOpen && !held && !backingOff && count < s.MaxPerDay
	want := seqExpected(wanted, below, in.AutoReload, pendingOpen, rejectedOpen, held, backingOff, count >= s.MaxPerDay)
	rules := []struct {
		name  string
		holds bool
	}{
		{"a refill starts only below the threshold", in.Refilling || !d.Refilling || below},
		{"below the threshold a refill is under way", !below || d.Refilling},
		{"a refill goes on until the balance reaches the target", !in.Refilling || !underTarget || d.Refilling},
		{"a refill ends once the balance reaches the target", !d.Refilling || underTarget},
		{"topups_24h counts the requests of the last 24 hours that may have reached Vonage", d.TopUps24h == count},
		{"a top-up only below the threshold or during a refill", !topUp || wanted},
		{"no top-up while auto-reload is off", !topUp || in.AutoReload},
		{"no top-up while a pending top-up is younger than the window", !topUp || !pendingOpen},
		{"no top-up within the window after a rejection", !topUp || !rejectedOpen},
		{"no top-up before a 429's Retry-After has passed", !topUp || !held},
		{"no top-up while repeated not-sent ones back off", !topUp || !backingOff},
		{"no top-up once the daily cap is reached", !topUp || count < s.MaxPerDay},
		{"liveness: a need with nothing in the way is topped up", !live || topUp && d.Reason == policy.ReasonBelowThreshold},
		{"the action and reason follow the contract's blocking order", d.Action == want.Action && d.Reason == want.Reason},
	}
	for _, r := range rules {
		if !r.holds {
			return fmt.Errorf("broke %q (want %s/%s)", r.name, want.Action, want.Reason)
		}
	}
	if seen != nil {
		seen[string(d.Action)+"/"+string(d.Reason)]++
		if live {
			seen["liveness applied"]++
		}
		if pendingOpen && !topUp && in.AutoReload && wanted {
			seen["window held"]++
		}
		if pendingOpen && in.Now.Sub(seqLatestAt(in.TopUps)) >= s.Window {
			seen["window held past its intent"]++
		}
	}
	return nil
}

// seqBackingOff: after n >= 2 not-sent top-ups in a row (the newest ones;
// every one in a sequence made an attempt), none for Backoff x 2^(n-2)
// after the newest ended, at most the shorter of five minutes and the
// window.
func seqBackingOff(s policy.Settings, in policy.Input) bool {
	n := 0
	for i := len(in.TopUps) - 1; i >= 0 && in.TopUps[i].Status == policy.NotSent; i-- {
		n++
	}
	if n < 2 || s.Backoff == 0 {
		return false
	}
	limit := min(5*time.Minute, s.Window)
	hold := s.Backoff
	for i := 2; i < n && hold < limit; i++ {
		hold *= 2
	}
	hold = min(hold, limit)
	return in.Now.Before(in.TopUps[len(in.TopUps)-1].Ended.Add(hold))
}

// seqExpected is the decision the contract's rules 2 and 3 give, blockers in
// their order.
func seqExpected(wanted, below, autoReload, pendingOpen, rejectedOpen, held, backingOff, capped bool) policy.Decision {
	blocked := func(r policy.Reason) policy.Decision {
		return policy.Decision{Action: policy.ActionBlocked, Reason: r}
	}
	switch {
	case !wanted:
		return policy.Decision{Action: policy.ActionNone, Reason: policy.ReasonBalanceOK}
	case !autoReload:
		return blocked(policy.ReasonAutoReloadDisabled)
	case pendingOpen:
		return blocked(policy.ReasonWindowOpen)
	case rejectedOpen:
		return blocked(policy.ReasonRecentlyRejected)
	case held:
		return blocked(policy.ReasonRateLimited)
	case backingOff:
		return blocked(policy.ReasonBackingOff)
	case capped:
		return blocked(policy.ReasonDailyCapReached)
	case below:
		return policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonBelowThreshold}
	default:
		return policy.Decision{Action: policy.ActionTopUp, Reason: policy.ReasonRefilling}
	}
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

// seqLatestAt is the newest intent time of the pending top-ups.
func seqLatestAt(topUps []policy.TopUp) time.Time {
	var latest time.Time
	for _, t := range topUps {
		if t.Status == policy.Pending && t.At.After(latest) {
			latest = t.At
		}
	}
	return latest
}

func seqSettings(s policy.Settings) string {
	return fmt.Sprintf("threshold %s, target %s, window %s, cap %d, back-off %s, flight %s",
		s.Threshold, s.Target, s.Window, s.MaxPerDay, s.Backoff, s.Flight)
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
// random sequences of up to 300 readings, and makes sure that between them
// they reached every action and reason.
func TestDecideSequencesKeepTheRules(t *testing.T) {
	seen := seqCoverage{}
	for seed := range uint64(2000) {
		rng := rand.New(rand.NewPCG(seed, 0x5e9))
		data := make([]byte, 4+3*rng.IntN(seqMaxSteps+1))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if err := seqCheck(seqDecode(data), seen); err != nil {
			t.Fatalf("seed %d (input %x): %v", seed, data, err)
		}
	}
	seqRequireCoverage(t, seen)
}

// TestDecideSequenceSeedsReachEveryRule runs the committed fuzz seeds, the
// hand-made scenarios the fuzzer starts from, and checks that together they
// reach every action and reason.
func TestDecideSequenceSeedsReachEveryRule(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecideSequence", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	seen := seqCoverage{}
	for _, p := range paths {
		data, err := seqReadSeed(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := seqCheck(seqDecode(data), seen); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
	seqRequireCoverage(t, seen)
}

// seqReadSeed reads a "go test fuzz v1" file holding one []byte.
func seqReadSeed(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		return nil, fmt.Errorf("%s: not a go test fuzz v1 file of one []byte", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(s), nil
}

func seqRequireCoverage(t *testing.T, seen seqCoverage) {
	t.Helper()
	for _, k := range []string{
		"none/balance_ok", "top_up/below_threshold", "top_up/refilling",
		"blocked/auto_reload_disabled", "blocked/window_open", "blocked/recently_rejected",
		"blocked/daily_cap_reached", "liveness applied", "window held",
		"blocked/rate_limited", "blocked/backing_off", "window held past its intent",
	} {
		if seen[k] == 0 {
			t.Errorf("no reading reached %s; seen %v", k, seen)
		}
	}
}
