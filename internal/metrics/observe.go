package metrics

import (
	"math"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

var _ watchdog.Observer = (*Metrics)(nil)

// Observe updates the metrics from one watchdog event. It never blocks on
// anything but the short lock that keeps one event's updates together.
func (m *Metrics) Observe(e watchdog.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e := e.(type) {
	case watchdog.CheckFailed:
		m.checkFailed(e)
	case watchdog.Decided:
		m.decided(e)
	case watchdog.TopUpFinished:
		m.topUpFinished(e)
	case watchdog.TopUpConfirmed:
		m.topUpConfirmed(e)
	case watchdog.TopUpUnconfirmed:
		m.unconfirmed.Inc()
		m.windowOpen.Set(0)
	case watchdog.LedgerFailed:
		m.ledgerFailures.Inc()
	case watchdog.TickWon:
		m.ticks.get(TickWon).Inc()
	case watchdog.TickSkipped:
		m.tickSkipped(e)
	case watchdog.TickFailed:
		m.ticks.get(TickFailed).Inc()
	case watchdog.ClaimLost:
		m.claimsLost.Inc()
	case watchdog.RedisUnreachable:
		m.redisUp.Set(0)
	case watchdog.RedisReachable:
		m.redisUp.Set(1)
	}
}

func (m *Metrics) checkFailed(e watchdog.CheckFailed) {
	m.checks.get(ResultFailure).Inc()
	m.consecutiveFailed.Set(float64(e.Consecutive))
}

func (m *Metrics) decided(e watchdog.Decided) {
	m.checks.get(ResultSuccess).Inc()
	m.consecutiveFailed.Set(0)
	m.decisions.get([2]string{string(e.Decision.Action), string(e.Decision.Reason)}).Inc()
	m.balance.Set(e.Balance.InexactFloat64())
	m.threshold.Set(e.Threshold.InexactFloat64())
	m.target.Set(e.Target.InexactFloat64())
	m.autoReload.Set(boolFloat(e.AutoReload))
	m.windowOpen.Set(boolFloat(e.WindowOpen))
	m.topUps24h.Set(float64(e.Decision.TopUps24h))
	setTimestamp(m.lastCheckSuccess, e.At)
	if e.Spend.IsPositive() {
		m.spend.Add(e.Spend.InexactFloat64())
	}
	m.setRate(e)
}

// setRate shows the burn rate, the runway and the lead time of a decision
// whose readings gave a rate, and hides them when they gave none (too few
// readings, or only rises): an unknown rate is not 0. The runway is +Inf
// when the rate is 0, so that "runway below the lead time" never holds for
// an account that spends nothing, and 0 when the balance is 0 or below.
func (m *Metrics) setRate(e watchdog.Decided) {
	m.rateOn = e.Decision.RateKnown
	if !m.rateOn {
		return
	}
	m.burnRate.Set(e.Decision.BurnRate.InexactFloat64())
	m.runway.Set(runwaySeconds(e.Balance, e.Decision.BurnRate))
	m.leadTime.Set(e.Decision.LeadTime.Seconds())
}

// runwaySeconds is policy.Runway in seconds, +Inf when it never runs out.
func runwaySeconds(balance, rate decimal.Decimal) float64 {
	d, ok := policy.Runway(balance, rate)
	if !ok {
		return math.Inf(1)
	}
	return d.Seconds()
}

// tickSkipped counts the tick and serves the fleet's last reading, as a
// Decided serves this replica's: the balance, auto-reload and the time of
// the last balance read move, and no check is counted (this replica made
// none). The burn rate, the runway and the lead time are hidden until this
// replica reads again: the fleet's reading carries no rate, and the one of
// this replica's own last read would go stale while another replica reads.
func (m *Metrics) tickSkipped(e watchdog.TickSkipped) {
	m.ticks.get(TickSkipped).Inc()
	m.rateOn = false
	if e.Last == nil {
		return
	}
	m.balance.Set(e.Last.Balance.InexactFloat64())
	m.autoReload.Set(boolFloat(e.Last.AutoReload))
	setTimestamp(m.lastCheckSuccess, e.Last.At)
}

func (m *Metrics) topUpFinished(e watchdog.TopUpFinished) {
	m.topUps.get(string(e.Outcome)).Inc()
	switch e.Outcome {
	case ledger.Succeeded:
		setTimestamp(m.lastTopUp, e.At)
		m.windowOpen.Set(1)
	case ledger.Unknown:
		// It may have reached Vonage: it holds the window.
		m.windowOpen.Set(1)
	case ledger.Rejected, ledger.NotSent:
		// Nothing was applied. No other window was open, or the policy
		// would not have sent this one.
		m.windowOpen.Set(0)
	}
}

func (m *Metrics) topUpConfirmed(e watchdog.TopUpConfirmed) {
	m.confirmed.Inc()
	m.balance.Set(e.BalanceAfter.InexactFloat64())
	m.windowOpen.Set(0)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// setTimestamp sets g to t in Unix seconds, leaving it alone for a zero t.
func setTimestamp(g interface{ Set(float64) }, t time.Time) {
	if t.IsZero() {
		return
	}
	g.Set(float64(t.UnixNano()) / 1e9)
}
