package ledger

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestShiftMovesEveryTimeAndKeepsTheSpans(t *testing.T) {
	r := record("a", 0)
	r.Outcome, r.FinishedAt, r.ConfirmedAt = NotSent, at(time.Second), at(time.Minute)
	r.HoldUntil = at(time.Hour)
	s := State{Version: SchemaVersion, TopUps: []Record{r, record("b", 2*time.Minute)}}
	s.Shift(-time.Hour)
	got := s.TopUps[0]
	if !got.At.Equal(at(-time.Hour)) || !got.FinishedAt.Equal(at(time.Second-time.Hour)) ||
		!got.ConfirmedAt.Equal(at(time.Minute-time.Hour)) || !got.HoldUntil.Equal(at(0)) {
		t.Errorf("shifted record %+v", got)
	}
	if b := s.TopUps[1]; !b.At.Equal(at(2*time.Minute-time.Hour)) || !b.FinishedAt.IsZero() {
		t.Errorf("a zero time moved, or a set one did not: %+v", b)
	}
}

func TestClampAheadRedatesOnlyRecordsAheadOfNow(t *testing.T) {
	ahead := record("ahead", 6*time.Hour)
	ahead.FinishedAt = at(6*time.Hour + time.Second)
	s := State{Version: SchemaVersion, TopUps: []Record{record("now", 0), record("slack", 500*time.Millisecond), ahead}}
	ids := s.ClampAhead(at(0), time.Second)
	if len(ids) != 1 || ids[0] != "ahead" {
		t.Fatalf("redated %v, want [ahead]", ids)
	}
	got := s.TopUps[2]
	if !got.FinishedAt.Equal(at(0)) || !got.At.Equal(at(0)) {
		t.Errorf("redated record %+v: want every time ahead at now", got)
	}
	if !s.TopUps[1].At.Equal(at(500 * time.Millisecond)) {
		t.Errorf("a record within the slack moved: %+v", s.TopUps[1])
	}
}

func TestPruneKeepsTheNewestUnsentAndEveryReachedRecord(t *testing.T) {
	var s State
	s.Version = SchemaVersion
	for i := range 100 {
		r := record(string(rune('a'+i%26))+strings.Repeat("x", i/26), time.Duration(i)*time.Second)
		if i%10 != 0 {
			r.Outcome = []Outcome{NotSent, Rejected}[i%2]
		}
		s.TopUps = append(s.TopUps, r)
	}
	s.Prune(at(-time.Hour))
	reached, unsent := 0, 0
	for _, r := range s.TopUps {
		if r.MayHaveReached() {
			reached++
		} else {
			unsent++
		}
	}
	if reached != 10 || unsent != KeepUnsent {
		t.Errorf("kept %d reached and %d unsent, want 10 and %d", reached, unsent, KeepUnsent)
	}
	if last := s.TopUps[len(s.TopUps)-1]; last.At != at(99*time.Second) {
		t.Errorf("the newest record is gone: last is %+v", last)
	}
}

func TestLowestBalanceStartsAtTheBalanceBefore(t *testing.T) {
	r := Record{BalanceBefore: decimal.RequireFromString("10")}
	if got := r.LowestBalance(); !got.Equal(r.BalanceBefore) {
		t.Errorf("no reading yet: lowest %s, want the balance before", got)
	}
	r.Lowest = decimal.NewNullDecimal(decimal.RequireFromString("-3"))
	if got := r.LowestBalance(); got.String() != "-3" {
		t.Errorf("lowest %s, want -3", got)
	}
}

func TestValidateRefusesAHoldOnAnythingButANotSentTopUp(t *testing.T) {
	r := record("a", 0)
	r.Outcome, r.FinishedAt, r.HoldUntil = Succeeded, at(0), at(time.Minute)
	if err := (State{Version: SchemaVersion, TopUps: []Record{r}}).Validate(); err == nil ||
		err.Error() != "topups[0].hold_until: set on a top-up whose outcome is succeeded, not not_sent" {
		t.Errorf("Validate() = %v", err)
	}
	r.Outcome, r.HoldUntil = NotSent, at(MaxHold+time.Second)
	if err := (State{Version: SchemaVersion, TopUps: []Record{r}}).Validate(); err == nil ||
		err.Error() != "topups[0].hold_until: more than 24h0m0s after finished_at" {
		t.Errorf("Validate() = %v", err)
	}
}

// Found by review: a record with only its end far ahead (year 9999) was
// moved back whole, its intent thousands of years into the past, and
// pruned at once.
func TestClampAheadKeepsTheTimesThatAreNotAhead(t *testing.T) {
	r := record("rejected", -time.Minute)
	r.Outcome, r.FinishedAt = Rejected, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	s := State{Version: SchemaVersion, TopUps: []Record{r}}
	s.ClampAhead(at(0), time.Second)
	got := s.TopUps[0]
	if !got.At.Equal(at(-time.Minute)) || !got.FinishedAt.Equal(at(0)) {
		t.Errorf("redated record %+v: want the intent kept and the end at now", got)
	}
	s.Prune(at(-time.Hour))
	if len(s.TopUps) != 1 {
		t.Errorf("the redated record was pruned")
	}
}

// Found by review: Prune went by the intent's time while the window counts
// from the request's end, so a request that ended two days after its intent
// (a machine frozen mid-request) was pruned with its window still open.
func TestPruneKeepsARecordByItsLatestTime(t *testing.T) {
	r := record("frozen", -49*time.Hour)
	r.Outcome, r.FinishedAt = Unknown, at(-time.Minute)
	s := State{Version: SchemaVersion, TopUps: []Record{r}}
	s.Prune(at(-48 * time.Hour))
	if len(s.TopUps) != 1 {
		t.Errorf("a record that finished a minute ago was pruned for its intent 49 hours ago")
	}
}
