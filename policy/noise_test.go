package policy_test

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/policy"
)

// A read that flaps between two values, one minute apart, spends nothing
// over the hour: the balance is where it started. The burn rate keeps the
// falls and leaves the rises out, so every span it keeps is a fall of 10:
// it reports 10 EUR a minute.
func TestAReadThatFlapsSpendsNothing(t *testing.T) {
	rs := minutely("100", "90", "100", "90", "100", "90", "100", "90", "100", "90", "100")
	if rate, ok := policy.BurnRate(rs); ok && rate.IsPositive() {
		t.Errorf("BurnRate(100, 90, 100, … 100) = %s EUR/min, for readings that end where they began", rate)
	}
}

// Two odd readings in a row among steady ones (100, 100, 100, 70, 40,
// then 100 again) make two steep spans among four falls, and the median of
// four is the mean of a flat span and a steep one: 15 EUR a minute, for a
// balance back where it was.
func TestTwoOddReadingsInARowAreNotAPace(t *testing.T) {
	rs := minutely("100", "100", "100", "70", "40", "100")
	if rate, ok := policy.BurnRate(rs); ok && rate.GreaterThan(decimal.Zero) {
		t.Errorf("BurnRate(100, 100, 100, 70, 40, 100) = %s EUR/min, for a balance back where it was", rate)
	}
}
