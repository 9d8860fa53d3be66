package watchdog_test

import (
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// The decision line's state fields are the state the policy decided on: a
// top_up decided on a closed window says window_open false (its own intent
// opens one, which the next check's line shows), and topups_24h does not
// count the request it decides.
func TestTheDecisionLineShowsTheStateItWasDecidedOn(t *testing.T) {
	acct := defaultAccount()
	acct.Balance = eur("5")
	r := newWorld(t, acct) // the credit lands after a minute
	r.every(30*time.Second, 2)

	want := []struct {
		decision string
		open     bool
		count    float64
	}{
		{"top_up/below_threshold", false, 0},
		{"blocked/window_open", true, 1},
	}
	lines := r.lines("decision")
	if len(lines) != len(want) {
		t.Fatalf("%d decision lines, want %d: %v", len(lines), len(want), r.decisions())
	}
	for i, w := range want {
		m := lines[i]
		if got := r.decisions()[i]; got != w.decision {
			t.Errorf("decision %d = %s, want %s", i+1, got, w.decision)
		}
		if m["window_open"] != w.open || m["topups_24h"] != w.count {
			t.Errorf("decision %d (%s): window_open %v, topups_24h %v; want %v, %v",
				i+1, w.decision, m["window_open"], m["topups_24h"], w.open, w.count)
		}
	}
	// The event still says what holds after the check: the metrics'
	// window_open gauge is 1 once the intent is written.
	if d := eventsOf[watchdog.Decided](r.allEvents()); len(d) != 2 || !d[0].WindowOpen || !d[1].WindowOpen {
		t.Errorf("Decided events %+v, want window open after each check", d)
	}
}
