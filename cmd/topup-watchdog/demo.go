package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

const demoSummary = `Runs the watchdog against a simulated Vonage account on loopback, with demo
settings: a check every 2s, a threshold of 20 EUR and a target of 40 EUR, an
account that drains 0.5 EUR/s and loses 15 EUR in a burst after 5s, and
top-ups of 25 EUR credited 3s after they are applied. No Vonage account and
no configuration needed: the demo reads none of the VONAGE_ and TOPUP_ variables. It runs
until Ctrl-C or --duration, then prints a summary.`

// demoEnv is the demo's configuration, read by the same code as the real one.
func demoEnv(baseURL, stateFile string) map[string]string {
	return map[string]string{
		"VONAGE_API_KEY":        demoKey,
		"VONAGE_API_SECRET":     demoSecret,
		"VONAGE_TOPUP_TRX":      demoTRX,
		"VONAGE_BASE_URL":       baseURL,
		"TOPUP_THRESHOLD":       "20",
		"TOPUP_TARGET":          "40",
		"TOPUP_SCHEDULE":        "@every 2s",
		"TOPUP_WINDOW":          "20s",
		"TOPUP_AMOUNT":          demoTopUp,
		"TOPUP_MAX_PER_DAY":     "20",
		"TOPUP_REQUEST_TIMEOUT": "3s",
		"TOPUP_STATE_FILE":      stateFile,
		"TOPUP_LISTEN_ADDR":     "",
		"TOPUP_LOG_FORMAT":      "console",
	}
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", demoSummary)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	acctCfg := sim.Config{
		APIKey: demoKey, APISecret: demoSecret, TRX: demoTRX,
		Balance: decimal.NewFromInt(30), TopUpAmount: decimal.RequireFromString(demoTopUp),
		DrainPerSecond: decimal.RequireFromString("0.5"), CreditDelay: 3 * time.Second, AutoReload: true,
		Bursts: []sim.Burst{{At: 5 * time.Second, Amount: decimal.NewFromInt(15)}},
	}
	simFlags(fs, &acctCfg)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	acct, err := sim.New(acctCfg)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "topup-watchdog-demo-")
	if err != nil {
		return fmt.Errorf("create demo state folder: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the simulated account: %w", err)
	}
	simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Serve(simCtx, ln, acct) }()
	defer func() { stopSim(); <-simDone }()

	vars := demoEnv("http://"+ln.Addr().String(), filepath.Join(dir, "state.json"))
	cfg, err := config.LoadLookup(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	tally := newDemoTally()
	fmt.Fprintf(e.stdout, "Demo: a simulated account on %s; Ctrl-C stops it.\n\n", ln.Addr())
	start := time.Now()
	if err := watchWith(ctx, cfg, e.stdout, hooks{observers: []watchdog.Observer{tally}}); err != nil {
		return err
	}
	tally.print(e.stdout, time.Since(start), acct, cfg.Threshold)
	return nil
}

// demoTally counts what the watchdog did, for the demo's summary.
type demoTally struct {
	mu        sync.Mutex
	checks    int
	failed    int
	skipped   int // run times passed while a check ran late
	outcomes  map[ledger.Outcome]int
	confirmed int
	// retried counts the failed attempts tried again, by call.
	retried map[string]int
}

func newDemoTally() *demoTally {
	return &demoTally{outcomes: map[ledger.Outcome]int{}, retried: map[string]int{}}
}

func (t *demoTally) Observe(e watchdog.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e := e.(type) {
	case watchdog.CheckStarted:
		t.checks++
	case watchdog.CheckFailed:
		t.failed++
	case watchdog.TopUpFinished:
		t.outcomes[e.Outcome]++
	case watchdog.TopUpConfirmed:
		t.confirmed++
	case watchdog.CheckSkipped:
		t.skipped += e.Runs
	case watchdog.AttemptRetried:
		t.retried[e.Op]++
	}
}

func (t *demoTally) print(w io.Writer, ran time.Duration, acct *sim.Account, threshold decimal.Decimal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lowest, _ := acct.Lowest()
	fmt.Fprintf(w, "\nDemo summary, %s on a simulated account\n", ran.Round(time.Second))
	fmt.Fprintf(w, "  checks            %d (%d failed), %d run times skipped while a check ran late\n",
		t.checks, t.failed, t.skipped)
	fmt.Fprintf(w, "  retried attempts  %d of balance reads, %d of top-ups\n",
		t.retried[watchdog.OpGetBalance], t.retried[watchdog.OpTopUp])
	fmt.Fprintf(w, "  top-ups           %d succeeded, %d rejected, %d not sent, %d unknown\n",
		t.outcomes[ledger.Succeeded], t.outcomes[ledger.Rejected], t.outcomes[ledger.NotSent], t.outcomes[ledger.Unknown])
	fmt.Fprintf(w, "  credits confirmed %d\n", t.confirmed)
	fmt.Fprintf(w, "  lowest balance    %s EUR\n", lowest.StringFixed(2))
	fmt.Fprintf(w, "  below threshold   %s (threshold %s EUR)\n", acct.TimeBelow(threshold).Round(100*time.Millisecond), threshold)
	fmt.Fprintf(w, "  balance now       %s EUR\n", acct.Balance().StringFixed(2))
}
