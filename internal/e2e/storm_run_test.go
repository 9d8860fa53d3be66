package e2e

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// stormRun is what a storm did, for the checks and the report.
type stormRun struct {
	seed  uint64
	start time.Time
	end   time.Time // when the storm's time was up and its last pause ended
	// balance is the account's at the start, before any drain.
	balance decimal.Decimal
	bursts  []sim.Burst
	kills   []stormKill
	// downtimes are the spans when no top-up could be sent: when no
	// watchdog ran (from a kill to the next start, and every pause from the
	// stop to its SIGCONT or SIGKILL), and in a fleet, when Redis was down.
	// They do not overlap.
	downtimes [][2]time.Time
	pauses    []stormPause
	steps     []clockStep
	// spurious are the clock steps the watchdog logged that the storm did
	// not make.
	spurious []line
	procs    []stormProc // by process number - 1
	front    *h2Front
	phases   []string
	scrapes  int
	// fleet is what only the fleet's storm does; nil for one binary.
	fleet *fleetRun
}

// stormProc is how one start of the binary was configured.
type stormProc struct {
	h2   bool // through the HTTP/2 front, over TLS
	hook bool // TOPUP_TEST_PAUSE_AT=after_intent
}

// stormKill is one SIGKILL of a running process.
type stormKill struct {
	at   time.Time
	proc int
}

// stormPause is one stop of a running process.
type stormPause struct {
	proc     int
	from, to time.Time
	// hook: the process stopped itself between a claim and its request.
	hook bool
	// killed: the pause ended with SIGKILL (and a restart), not SIGCONT.
	killed bool
}

// clockStep is one step of the binary's wall clock.
type clockStep struct {
	at     time.Time // when the clock file was written
	proc   int       // the process running then
	offset time.Duration
	step   time.Duration
	// logged is the step the watchdog logged ("system clock stepped"), 0
	// until it did.
	logged time.Duration
	// applied is set once the watchdog wrote its ledger after logging the
	// step: the ledger's times moved by it.
	applied bool
}

// ledgerOffset is how far the ledger's times are from the real time: the
// sum of the clock steps the watchdog applied to it. Every record is written
// at the watchdog's time, real plus the offset of the clock file then, and
// moved by every step applied after. A fleet's ledger is on Redis's clock,
// which no step moves: its offset is 0.
func (run *stormRun) ledgerOffset() time.Duration {
	var d time.Duration
	if run.fleet != nil {
		return 0
	}
	for _, s := range run.steps {
		if s.applied {
			d += s.step
		}
	}
	return d
}

// down is how much of [from, to] no top-up could be sent.
func (run *stormRun) down(from, to time.Time) time.Duration {
	var d time.Duration
	for _, dt := range run.downtimes {
		a, b := maxTime(dt[0], from), minTime(dt[1], to)
		if b.After(a) {
			d += b.Sub(a)
		}
	}
	return d
}

// spans are time spans [from, to), kept sorted and disjoint by union and
// intersect.
type spans [][2]time.Time

// union is the spans covered by a or b.
func union(a, b spans) spans {
	all := slices.Concat(a, b)
	slices.SortFunc(all, func(x, y [2]time.Time) int { return x[0].Compare(y[0]) })
	var out spans
	for _, s := range all {
		if !s[1].After(s[0]) {
			continue
		}
		if n := len(out); n > 0 && !s[0].After(out[n-1][1]) {
			out[n-1][1] = maxTime(out[n-1][1], s[1])
			continue
		}
		out = append(out, s)
	}
	return out
}

// intersect is the spans covered by both a and b.
func intersect(a, b spans) spans {
	a, b = union(a, nil), union(b, nil)
	var out spans
	for i, j := 0, 0; i < len(a) && j < len(b); {
		from, to := maxTime(a[i][0], b[j][0]), minTime(a[i][1], b[j][1])
		if to.After(from) {
			out = append(out, [2]time.Time{from, to})
		}
		if a[i][1].Before(b[j][1]) {
			i++
		} else {
			j++
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }
