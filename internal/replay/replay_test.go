package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/logging"
	"github.com/topup-watchdog/topup-watchdog/internal/replay"
	"github.com/topup-watchdog/topup-watchdog/internal/replay/clock"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

var _ watchdog.Vonage = sim.Direct{}

const (
	apiKey    = "abcd1234"
	apiSecret = "Sup3r-S3cret/+=value"
	trx       = "8ef2447e69604f642ae59363aa5f781b"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// account is 30 EUR draining 0.05 EUR/s (3 a minute), 20 EUR a top-up
// credited after a minute.
func account(t *testing.T, c *clock.Clock) *sim.Account {
	t.Helper()
	acct, err := sim.New(sim.Config{APIKey: apiKey, APISecret: apiSecret, TRX: trx, Now: c.Now,
		Balance: eur("30"), AutoReload: true, TopUpAmount: eur("20"), CreditDelay: time.Minute,
		DrainPerSecond: eur("0.05")})
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

var settings = policy.Settings{Threshold: eur("20"), Target: eur("20"), Window: 15 * time.Minute, MaxPerDay: 10}

// decisions records every decision and top-up the watchdog reports.
type decisions struct {
	decided []watchdog.Decided
	topUps  []watchdog.TopUpFinished
}

func (d *decisions) Observe(e watchdog.Event) {
	switch e := e.(type) {
	case watchdog.Decided:
		d.decided = append(d.decided, e)
	case watchdog.TopUpFinished:
		d.topUps = append(d.topUps, e)
	}
}

// The real check runs at each run time of the simulated schedule, reads the
// balance the account holds at that instant, and tops up through the model.
func TestTheDriverRunsTheRealCheckOnTheSchedule(t *testing.T) {
	c := clock.New(t0)
	acct := account(t, c)
	seen := &decisions{}
	d := replay.New(c, 30*time.Second)
	d.Start(acct.Direct(), ledger.NewMemory(ledger.State{}), watchdog.Options{Settings: settings, Observer: seen, Amount: eur("20")})
	var ticks []replay.Tick
	err := d.Run(context.Background(), t0.Add(10*time.Minute), replay.Hooks{After: func(tk replay.Tick) { ticks = append(ticks, tk) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(ticks) != 20 || len(seen.decided) != 20 {
		t.Fatalf("%d ticks and %d decisions in 10 minutes at 30s, want 20", len(ticks), len(seen.decided))
	}
	for i, tk := range ticks {
		want := t0.Add(time.Duration(i) * 30 * time.Second)
		dec := seen.decided[i]
		if tk.N != i || !tk.At.Equal(want) || !tk.Ran || tk.Crashed != "" || !dec.At.Equal(want) {
			t.Fatalf("tick %d: %+v, decided at %s; want run time %s", i, tk, dec.At, want)
		}
	}
	// 30 EUR at 3 a minute is below 20 after 3m20s: the check at 3m30s tops up.
	first := seen.decided[7]
	if first.Decision.Action != policy.ActionTopUp || !first.Balance.Equal(eur("19.5")) {
		t.Errorf("decision at 3m30s: %s at %s, want top_up at 19.5", first.Decision.Action, first.Balance)
	}
	tops := acct.TopUps()
	if len(tops) == 0 || !tops[0].ReceivedAt.Equal(t0.Add(210*time.Second)) || !tops[0].Applied {
		t.Fatalf("top-ups received %+v, the first want at 3m30s", tops)
	}
	if len(seen.topUps) != len(tops) || seen.topUps[0].Outcome != ledger.Succeeded || seen.topUps[0].IntentID != "replay-000001" {
		t.Errorf("top-ups reported %+v", seen.topUps)
	}
	if got := acct.Stats().BalanceRequests; got != 20 {
		t.Errorf("%d balance reads, want 20", got)
	}
}

// A retry's wait moves the simulated clock: the read that succeeds comes
// later by the waits, and a check that outlasts its interval makes the
// schedule skip the run times it overran.
func TestRetryWaitsFollowTheClock(t *testing.T) {
	c := clock.New(t0)
	acct := account(t, c)
	srv := httptest.NewServer(acct.Handler())
	t.Cleanup(srv.Close)
	client, err := vonage.New(vonage.Options{BaseURL: srv.URL, APIKey: apiKey, APISecret: apiSecret, TRX: trx,
		Auth: vonage.AuthBasic, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	seen := &decisions{}
	d := replay.New(c, 30*time.Second)
	d.Start(client, ledger.NewMemory(ledger.State{}), watchdog.Options{Settings: settings, Observer: seen,
		ReadBackoff: func() retry.Backoff { return retry.WithMaxRetries(3, retry.NewConstant(20*time.Second)) }})
	var ticks []replay.Tick
	err = d.Run(context.Background(), t0.Add(2*time.Minute), replay.Hooks{
		Before: func(tk replay.Tick) bool {
			if tk.N == 1 { // two 500s: the read succeeds 40s after the run time
				if err := acct.Script(sim.EndpointBalance, sim.FaultServerError, sim.FaultServerError); err != nil {
					t.Fatal(err)
				}
			}
			return true
		},
		After: func(tk replay.Tick) { ticks = append(ticks, tk) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Duration
	for _, tk := range ticks {
		at = append(at, tk.At.Sub(t0))
	}
	// Run times 0, 30s, (60s overran by the check of 30s, which ends at 70s), 90s.
	if want := []time.Duration{0, 30 * time.Second, 90 * time.Second}; len(at) != len(want) || at[1] != want[1] || at[2] != want[2] {
		t.Fatalf("checks at %v, want %v", at, want)
	}
	if ticks[2].N != 3 {
		t.Errorf("the check at 90s is run time %d, want 3", ticks[2].N)
	}
	if got := seen.decided[1]; !got.At.Equal(t0.Add(70*time.Second)) || !got.Balance.Equal(eur("26.5")) {
		t.Errorf("second decision at +%s with balance %s, want at +70s with 26.5", got.At.Sub(t0), got.Balance)
	}
}

// A crash at a crash point stops the check where a dying process stops; the
// driver runs no check on the dead process, and the next one, started over
// the same ledger, sees the intent the dead one wrote.
func TestACrashStopsTheCheckAndTheNextProcessGoesOnFromTheLedger(t *testing.T) {
	c := clock.New(t0)
	acct := account(t, c)
	acct.SetBalance(eur("10"))
	led := ledger.NewMemory(ledger.State{})
	seen := &decisions{}
	var points []string
	d := replay.New(c, 30*time.Second)
	opts := watchdog.Options{Settings: settings, Observer: seen, CrashPoint: func(p string) { points = append(points, p) }}
	d.Start(acct.Direct(), led, opts)
	d.CrashAt(watchdog.CrashAfterIntent)
	crashed, err := d.Check(context.Background())
	if err != nil || crashed != watchdog.CrashAfterIntent {
		t.Fatalf("Check = %q, %v; want a crash after the intent", crashed, err)
	}
	if d.Armed() != "" || len(acct.TopUps()) != 0 {
		t.Fatalf("armed %q, %d top-ups sent: the crash must disarm and come before the request", d.Armed(), len(acct.TopUps()))
	}
	if want := []string{watchdog.CrashBeforeIntent, watchdog.CrashAfterIntent}; strings.Join(points, ",") != strings.Join(want, ",") {
		t.Errorf("crash points seen %v, want %v", points, want)
	}
	if _, err := d.Check(context.Background()); !errors.Is(err, replay.ErrCrashed) {
		t.Fatalf("a check on the crashed process: %v, want ErrCrashed", err)
	}
	st, _ := led.View(context.Background())
	if len(st.TopUps) != 1 || st.TopUps[0].Outcome != ledger.Pending || st.TopUps[0].ID != "replay-000001" {
		t.Fatalf("the ledger holds %+v, want the pending intent", st.TopUps)
	}

	d.Start(acct.Direct(), led, opts)
	c.Advance(30 * time.Second)
	if crashed, err := d.Check(context.Background()); err != nil || crashed != "" {
		t.Fatalf("Check after the restart = %q, %v", crashed, err)
	}
	last := seen.decided[len(seen.decided)-1]
	if last.Decision.Reason != policy.ReasonWindowOpen || len(acct.TopUps()) != 0 {
		t.Errorf("after the restart: %s/%s with %d top-ups, want blocked by the open window and none sent",
			last.Decision.Action, last.Decision.Reason, len(acct.TopUps()))
	}
}

// Before can keep the watchdog down; After hears of every run time.
func TestHooksSkipChecksAndHearOfEveryRunTime(t *testing.T) {
	c := clock.New(t0)
	acct := account(t, c)
	d := replay.New(c, time.Minute)
	if _, err := d.Check(context.Background()); !errors.Is(err, replay.ErrNotStarted) {
		t.Fatalf("Check before Start: %v", err)
	}
	d.Start(acct.Direct(), ledger.NewMemory(ledger.State{}), watchdog.Options{Settings: settings})
	var ran []bool
	err := d.Run(context.Background(), t0.Add(5*time.Minute), replay.Hooks{
		Before: func(tk replay.Tick) bool { return tk.N%2 == 0 },
		After:  func(tk replay.Tick) { ran = append(ran, tk.Ran) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, false, true}; len(ran) != 5 || ran[1] || !ran[2] {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if got := acct.Stats().BalanceRequests; got != 3 {
		t.Errorf("%d reads, want 3", got)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stop")
	err = d.Run(ctx, t0.Add(time.Hour), replay.Hooks{After: func(replay.Tick) { cancel(stop) }})
	if !errors.Is(err, stop) || acct.Stats().BalanceRequests != 4 {
		t.Errorf("Run after its context ended: %v with %d reads, want the cause after one more check", err, acct.Stats().BalanceRequests)
	}
}

// The log lines carry the simulated time.
func TestLogClockStampsTheSimulatedTime(t *testing.T) {
	c := clock.New(t0)
	acct := account(t, c)
	var buf bytes.Buffer
	log := logging.New(&buf, zapcore.InfoLevel, logging.FormatJSON, nil).WithOptions(zap.WithClock(replay.LogClock(c)))
	d := replay.New(c, time.Minute)
	d.Start(acct.Direct(), ledger.NewMemory(ledger.State{}), watchdog.Options{Settings: settings, Log: log})
	c.Advance(42 * time.Minute)
	if _, err := d.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	var line struct {
		TS  string `json:"ts"`
		Msg string `json:"msg"`
	}
	if err := json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if ts, err := time.Parse(time.RFC3339Nano, line.TS); err != nil || !ts.Equal(t0.Add(42*time.Minute)) || line.Msg != "decision" {
		t.Errorf("line %+v, want a decision stamped %s", line, t0.Add(42*time.Minute))
	}
}
