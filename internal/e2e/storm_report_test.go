package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

// report logs what the storm did: the figures of the issue.
func report(t *testing.T, r *world, run *stormRun, tops []sim.TopUp, intents []ledger.Record, capAt time.Time, gap time.Duration) {
	t.Helper()
	stats := r.acct.Stats()
	byResult := map[string]int{}
	uncredited := 0
	for i, tu := range tops {
		key := string(tu.Result)
		if tu.Fault != sim.FaultNone {
			key += "/" + string(tu.Fault)
		}
		byResult[key]++
		for _, ti := range tops[:i] {
			if ti.Applied && tu.ReceivedAt.Before(ti.CreditAt) {
				uncredited++
			}
		}
	}
	outcomes := map[ledger.Outcome]int{}
	for _, in := range intents {
		outcomes[in.Outcome]++
	}
	reasons := map[string]int{}
	for _, d := range r.book.logs(0, "decision") {
		reasons[d.str("action")+"/"+d.str("reason")]++
	}
	capped := "not reached"
	if !capAt.IsZero() {
		capped = fmt.Sprintf("reached %s into the storm", capAt.Sub(run.start).Round(time.Second))
	}
	h2, hooked := 0, 0
	for _, p := range run.procs {
		if p.h2 {
			h2++
		}
		if p.hook {
			hooked++
		}
	}
	var plain, hook, killed int
	var paused, longest time.Duration
	for _, p := range run.pauses {
		if p.hook {
			hook++
		} else {
			plain++
		}
		if p.killed {
			killed++
		}
		paused += p.to.Sub(p.from)
		longest = max(longest, p.to.Sub(p.from))
	}
	var offsets []string
	for _, s := range run.steps {
		offsets = append(offsets, s.offset.Round(100*time.Millisecond).String())
	}
	t.Logf("storm: seed %d, %s, %d starts (%d through the HTTP/2 front, %d with the pause hook), %d restarts (SIGKILL), weather %s", run.seed,
		run.end.Sub(run.start).Round(time.Second), len(run.procs), h2, hooked, len(run.kills), strings.Join(run.phases, " → "))
	t.Logf("storm: %d pauses (%d SIGSTOP of a running process, %d stopped by the hook between a claim and its request; %d ended with SIGKILL), %s paused in all, longest %s",
		len(run.pauses), plain, hook, killed, paused.Round(time.Millisecond), longest.Round(time.Millisecond))
	t.Logf("storm: %d clock steps, to offsets %s; %d \"intent too old to send\"", len(run.steps), strings.Join(offsets, " → "),
		len(r.book.logs(0, "intent too old to send")))
	t.Logf("storm: account saw %d balance reads, %d top-up requests (%d applied); faults injected %v",
		stats.BalanceRequests, stats.TopUpRequests, stats.TopUpsApplied, stats.Faults)
	t.Logf("storm: HTTP/2 front: %d requests received whole on %d connections: %v", run.front.srv.Received(), run.front.srv.Conns(), run.front.counts())
	t.Logf("storm: top-ups by result/fault at the account %v", byResult)
	t.Logf("storm: ledger intents by outcome %v; %d confirmed in the log; daily cap %d %s",
		outcomes, len(r.book.logs(0, "topup confirmed")), stormCap, capped)
	t.Logf("storm: decisions %v", reasons)
	t.Logf("storm: longest need without a request %s (tolerance %s); %d requests while an applied one was uncredited (window expired first); lowest balance %s; %s below the threshold; %d /metrics scrapes",
		gap.Round(time.Millisecond), needTolerance, uncredited, lowest(r.acct), r.acct.TimeBelow(stormThreshold).Round(time.Millisecond), run.scrapes)
}

func lowest(a *sim.Account) string {
	v, _ := a.Lowest()
	return v.StringFixed(2)
}

// timeline is the storm's events in order, for a failure message or for
// E2E_STORM_VERBOSE=1.
func timeline(run *stormRun, m *model, tops []sim.TopUp, intents []ledger.Record, capAt time.Time) string {
	type ev struct {
		at   time.Time
		text string
	}
	var evs []ev
	for _, b := range run.bursts {
		evs = append(evs, ev{run.start.Add(b.At), "burst -" + b.Amount.String()})
	}
	for _, k := range run.kills {
		evs = append(evs, ev{k.at, fmt.Sprintf("process %d SIGKILL", k.proc)})
	}
	for _, d := range run.downtimes {
		if run.fleet != nil {
			evs = append(evs, ev{d[0], "fleet down (no replica running, or Redis down)"}, ev{d[1], "fleet up"})
			continue
		}
		evs = append(evs, ev{d[1], "restart or SIGCONT"})
	}
	if run.fleet != nil {
		for _, n := range run.fleet.notes {
			evs = append(evs, ev{n.at, n.text})
		}
	}
	for _, p := range run.pauses {
		what := "SIGSTOP"
		if p.hook {
			what = "stopped by the pause hook (after the intent)"
		}
		evs = append(evs, ev{p.from, fmt.Sprintf("process %d %s", p.proc, what)})
	}
	for _, s := range run.steps {
		evs = append(evs, ev{s.at, fmt.Sprintf("process %d clock stepped %s to offset %s (logged %s)", s.proc, s.step, s.offset, s.logged)})
	}
	for _, fr := range run.front.topUps() {
		if !fr.answered {
			evs = append(evs, ev{fr.Time, fmt.Sprintf("HTTP/2 front: top-up request #%d %s (forwarded %v, status %d)", fr.Seq, fr.how, fr.forwarded, fr.status)})
		}
	}
	for _, tu := range tops {
		evs = append(evs, ev{tu.ReceivedAt, fmt.Sprintf("top-up #%d %s fault=%s status=%d balance=%s",
			tu.Seq, tu.Result, tu.Fault, tu.Status, tu.BalanceBefore.StringFixed(2))})
		if tu.Applied {
			evs = append(evs, ev{tu.CreditAt, fmt.Sprintf("credit of #%d +%s", tu.Seq, tu.Amount)})
		}
	}
	for _, in := range intents {
		evs = append(evs, ev{in.At, fmt.Sprintf("intent %s balance=%s outcome=%s attempts=%d confirmed=%v", in.ID, in.BalanceBefore, in.Outcome, in.Attempts, in.Confirmed())})
		if !in.FinishedAt.IsZero() {
			evs = append(evs, ev{in.FinishedAt, fmt.Sprintf("intent %s ended (%s)", in.ID, in.Outcome)})
		}
	}
	for _, iv := range m.below(stormThreshold, run.end) {
		evs = append(evs, ev{iv[0], "below threshold"}, ev{iv[1], "not below"})
	}
	if !capAt.IsZero() {
		evs = append(evs, ev{capAt, "daily cap reached"})
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	var sb strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&sb, "  %8.3fs  %s\n", e.at.Sub(run.start).Seconds(), e.text)
	}
	return sb.String()
}
