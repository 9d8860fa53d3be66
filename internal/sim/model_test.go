package sim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func wantBalance(t *testing.T, acct *Account, want string) {
	t.Helper()
	if got := acct.Balance(); !got.Equal(dec(want)) {
		t.Fatalf("balance %s, want %s", got, want)
	}
}

func topUp(t *testing.T, acct *Account) {
	t.Helper()
	if w := record(acct, topUpRequest(t, "http://sim", good, testTRX, "")); w.Code != http.StatusOK {
		t.Fatalf("top-up answered %d %s", w.Code, w.Body)
	}
}

func TestBalanceDrainsWithTheClock(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Balance, cfg.DrainPerSecond = dec("100"), dec("0.01")
	acct := newAccount(t, cfg)
	wantBalance(t, acct, "100")
	clock.Advance(90 * time.Second)
	wantBalance(t, acct, "99.1")
	clock.Advance(1500 * time.Millisecond)
	wantBalance(t, acct, "99.085")
	clock.Advance(time.Nanosecond) // 1e-11: below what Vonage shows
	wantBalance(t, acct, "99.085")
	w := record(acct, balanceRequest(t, "http://sim", good, ""))
	if want := `{"value":99.08500000,"autoReload":true}`; w.Body.String() != want {
		t.Fatalf("answer %s, want %s", w.Body, want)
	}
}

func TestCreditShowsAtExactlyCreditDelay(t *testing.T) {
	clock := newClock()
	acct := newAccount(t, testConfig(clock))
	start := clock.Now()
	topUp(t, acct)
	wantBalance(t, acct, "10.171275")
	clock.Advance(90*time.Second - time.Nanosecond)
	wantBalance(t, acct, "10.171275")
	clock.Advance(time.Nanosecond)
	wantBalance(t, acct, "30.171275")

	tu := acct.TopUps()[0]
	if !tu.CreditAt.Equal(start.Add(90*time.Second)) || !tu.Amount.Equal(dec("20")) {
		t.Errorf("credit %s at %s, want 20 at start+90s", tu.Amount, tu.CreditAt)
	}
	if tu.CreditedBy(tu.CreditAt.Add(-time.Nanosecond)) || !tu.CreditedBy(tu.CreditAt) {
		t.Error("CreditedBy does not turn true at exactly CreditAt")
	}
}

func TestZeroCreditDelayCreditsAtOnce(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.CreditDelay = 0
	acct := newAccount(t, cfg)
	topUp(t, acct)
	wantBalance(t, acct, "30.171275")
	if tu := acct.TopUps()[0]; !tu.BalanceBefore.Equal(dec("10.171275")) {
		t.Errorf("balance before %s, want 10.171275", tu.BalanceBefore)
	}
}

func TestBurstsDropOnce(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Balance = dec("50")
	cfg.Bursts = []Burst{{At: 10 * time.Second, Amount: dec("12.5")}, {At: 0, Amount: dec("1")}}
	acct := newAccount(t, cfg)
	wantBalance(t, acct, "49")
	clock.Advance(10*time.Second - time.Nanosecond)
	wantBalance(t, acct, "49")
	clock.Advance(time.Nanosecond)
	wantBalance(t, acct, "36.5")
	clock.Advance(time.Hour)
	wantBalance(t, acct, "36.5")
}

func TestSetBalanceAndDrainKeepWhatIsScheduled(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.DrainPerSecond = dec("0.5")
	acct := newAccount(t, cfg)
	topUp(t, acct)
	clock.Advance(10 * time.Second)
	acct.SetBalance(dec("3.25"))
	wantBalance(t, acct, "3.25")
	acct.Drain(dec("1"))
	wantBalance(t, acct, "2.25")
	clock.Advance(80 * time.Second) // the credit lands: -40 drain, +20
	wantBalance(t, acct, "-17.75")
}

func TestBalanceMayGoNegative(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Balance, cfg.DrainPerSecond = dec("1"), dec("0.1")
	acct := newAccount(t, cfg)
	clock.Advance(15 * time.Second)
	wantBalance(t, acct, "-0.5")
	w := record(acct, balanceRequest(t, "http://sim", good, ""))
	if want := `{"value":-0.50000000,"autoReload":true}`; w.Body.String() != want {
		t.Fatalf("answer %s, want %s", w.Body, want)
	}
}

// In this story the balance starts at 30 and falls 1/s. It crosses 25 at 5s,
// a top-up applied at 2s is credited at 12s (18 -> 38), and it crosses 25
// again at 25s.
func TestLowestAndTimeBelowFollowTheModel(t *testing.T) {
	clock := newClock()
	start := clock.Now()
	cfg := testConfig(clock)
	cfg.Balance, cfg.DrainPerSecond, cfg.CreditDelay = dec("30"), dec("1"), 10*time.Second
	acct := newAccount(t, cfg)
	threshold := dec("25")

	clock.Advance(2 * time.Second)
	topUp(t, acct)
	clock.Advance(18 * time.Second) // 20s: 30-20+20
	wantBalance(t, acct, "30")
	low, at := acct.Lowest()
	if !low.Equal(dec("18")) || !at.Equal(start.Add(12*time.Second)) {
		t.Errorf("lowest %s at +%s, want 18 at +12s", low, at.Sub(start))
	}
	if got := acct.TimeBelow(threshold); got != 7*time.Second {
		t.Errorf("time below 25: %s, want 7s", got)
	}
	if _, below := acct.BelowSince(threshold); below {
		t.Error("below 25 at 30")
	}

	clock.Advance(5 * time.Second) // 25s: exactly 25, not below
	if _, below := acct.BelowSince(threshold); below {
		t.Error("below 25 at exactly 25")
	}
	clock.Advance(time.Second)
	since, below := acct.BelowSince(threshold)
	if want := start.Add(25 * time.Second); !below || !since.Equal(want) {
		t.Errorf("below since +%s (%v), want +25s", since.Sub(start), below)
	}
	if got := acct.TimeBelow(threshold); got != 8*time.Second {
		t.Errorf("time below 25: %s, want 8s", got)
	}
}

func TestBelowSinceSpansEvents(t *testing.T) {
	clock := newClock()
	start := clock.Now()
	cfg := testConfig(clock)
	cfg.Balance = dec("10")
	cfg.Bursts = []Burst{{At: 5 * time.Second, Amount: dec("6")}, {At: 9 * time.Second, Amount: dec("1")}}
	acct := newAccount(t, cfg)
	clock.Advance(20 * time.Second)
	since, below := acct.BelowSince(dec("5"))
	if !below || !since.Equal(start.Add(5*time.Second)) {
		t.Errorf("below since +%s (%v), want +5s", since.Sub(start), below)
	}
	if got := acct.TimeBelow(dec("5")); got != 15*time.Second {
		t.Errorf("time below 5: %s, want 15s", got)
	}
	if got := acct.TimeBelow(dec("3.5")); got != 11*time.Second {
		t.Errorf("time below 3.5: %s, want 11s", got)
	}
	if low, at := acct.Lowest(); !low.Equal(dec("3")) || !at.Equal(start.Add(9*time.Second)) {
		t.Errorf("lowest %s at +%s, want 3 at +9s", low, at.Sub(start))
	}
}

func TestAMonthIsExactAndCheap(t *testing.T) {
	clock := newClock()
	cfg := testConfig(clock)
	cfg.Balance, cfg.DrainPerSecond = dec("1000"), dec("0.000385802469135802") // ~1000 a month
	acct := newAccount(t, cfg)
	month := 30 * 24 * time.Hour
	clock.Advance(month)
	want := dec("1000").Sub(cfg.DrainPerSecond.Mul(decimal.NewFromInt(int64(month / time.Second))))
	wantBalance(t, acct, want.Round(8).String())
}

func TestNewRejectsBadConfig(t *testing.T) {
	bad := Config{
		TopUpAmount:    dec("-1"),
		CreditDelay:    -time.Second,
		DrainPerSecond: dec("-0.1"),
		Bursts:         []Burst{{At: -time.Second}},
		Faults:         Faults{ServerError: 0.7, RateLimit: 0.7, Only: "nope"},
	}
	_, err := New(bad)
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{
		"api key, api secret and trx must not be empty",
		"top-up amount -1 is negative",
		"credit delay -1s is negative",
		"drain per second -0.1 is negative",
		"burst 0: time -1s is negative",
		`unknown endpoint "nope"`,
		"fault rates add up to 1.4, more than 1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
