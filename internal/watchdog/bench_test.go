package watchdog_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/logging"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
	"github.com/topup-watchdog/topup-watchdog/policy"
)

// benchSettings never want a top-up from an account at 50 EUR: every check
// of a benchmark is the common one, "balance_ok", and leaves the ledger as
// it was.
func benchSettings() policy.Settings {
	return policy.Settings{Threshold: eur("10"), Target: eur("10"), Window: 15 * time.Minute, MaxPerDay: 5}
}

// benchLogger is the production logger (JSON lines, every secret scrubbed)
// writing to nowhere: encoding the decision line is part of a check's cost.
func benchLogger() *zap.Logger {
	return logging.New(io.Discard, zapcore.InfoLevel, logging.FormatJSON, vonage.NewRedactor(apiSecret, trx))
}

// benchChecks runs w's checks in the benchmark loop, after one check that
// opens the connection and writes the ledger's first state.
func benchChecks(b *testing.B, w *watchdog.Watchdog) {
	b.Helper()
	ctx := context.Background()
	w.Check(ctx)
	b.ReportAllocs()
	for b.Loop() {
		w.Check(ctx)
	}
}

// BenchmarkCheck is one whole check as the running watchdog makes it: the
// balance read over loopback HTTP with Basic auth from the simulated
// account, the policy, a ledger file update that changes nothing (so
// writes nothing) and the decision log line. Both ends of the connection
// run in this process, so the simulator's allocations count too.
func BenchmarkCheck(b *testing.B) {
	acct, err := sim.New(sim.Config{
		APIKey: apiKey, APISecret: apiSecret, TRX: trx,
		Balance: eur("50"), AutoReload: true, TopUpAmount: eur("50"),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(acct.Handler())
	b.Cleanup(srv.Close)
	client, err := vonage.New(vonage.Options{
		BaseURL: srv.URL, APIKey: apiKey, APISecret: apiSecret, TRX: trx, Auth: vonage.AuthBasic,
		Timeout: 10 * time.Second, UserAgent: "topup-watchdog/bench",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.CloseIdleConnections)
	led, err := ledger.Open(filepath.Join(b.TempDir(), "state.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = led.Close() })

	benchChecks(b, watchdog.New(client, led, watchdog.Options{Settings: benchSettings(), Log: benchLogger()}))

	if got := acct.Stats().TopUpRequests; got != 0 {
		b.Fatalf("the account got %d top-up requests; the benchmark measures checks that send none", got)
	}
}

// benchVonage is an account answering from memory: no HTTP, no parsing.
type benchVonage struct{ balance vonage.Balance }

var _ watchdog.Vonage = benchVonage{}

func (v benchVonage) GetBalance(context.Context) (vonage.Balance, error) { return v.balance, nil }

func (benchVonage) TopUp(context.Context) error {
	panic("benchVonage: a benchmark check sent a top-up")
}

// BenchmarkCheckInProcess is the watchdog's own share of a check: policy,
// reconciliation, the in-memory ledger's copy and validation, the decision
// log line. The balance comes from memory.
func BenchmarkCheckInProcess(b *testing.B) {
	api := benchVonage{balance: vonage.Balance{Value: eur("50"), AutoReload: true}}
	led := ledger.NewMemory(ledger.State{})
	benchChecks(b, watchdog.New(api, led, watchdog.Options{Settings: benchSettings(), Log: benchLogger()}))
}
