package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/topup-watchdog/topup-watchdog/internal/sim"
)

const simSummary = `Serves a simulated Vonage Account API (GET /account/get-balance and
POST /account/top-up, as Vonage's OpenAPI describes them) over an account
whose balance drains. For trying the watchdog and for docker-compose; it
holds no money and reaches nothing.

Credentials it accepts come from VONAGE_API_KEY, VONAGE_API_SECRET (or
VONAGE_API_SECRET_FILE) and VONAGE_TOPUP_TRX (or VONAGE_TOPUP_TRX_FILE),
the watchdog's own variables; unset, they are demo-key, demo-secret and
demo-trx. Tests drive it further through /_sim/ (see internal/sim).`

// The demo account's credentials, known to the demo and to the simulator
// when no others are given.
const (
	demoKey    = "demo-key"
	demoSecret = "demo-secret"
	// demoTopUp is what a top-up adds in the demo and the compose example.
	demoTopUp = "25"
	demoTRX   = "demo-trx"
)

// decimalFlag is a flag holding an exact decimal.
type decimalFlag struct{ d *decimal.Decimal }

func (f decimalFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f decimalFlag) Set(s string) error {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fmt.Errorf("not a decimal number: %q", s)
	}
	*f.d = d
	return nil
}

// burstsFlag collects --burst AT:AMOUNT.
type burstsFlag struct{ b *[]sim.Burst }

func (f burstsFlag) String() string { return "" }

func (f burstsFlag) Set(s string) error {
	at, amount, ok := strings.Cut(s, ":")
	d, err := time.ParseDuration(at)
	a, aerr := decimal.NewFromString(amount)
	if !ok || err != nil || aerr != nil {
		return fmt.Errorf("not AT:AMOUNT such as 20s:15: %q", s)
	}
	*f.b = append(*f.b, sim.Burst{At: d, Amount: a})
	return nil
}

// simFlags registers the account's flags on fs, with defaults from cfg.
func simFlags(fs *flag.FlagSet, cfg *sim.Config) {
	fs.Var(decimalFlag{&cfg.Balance}, "balance", "starting balance, EUR")
	fs.Var(decimalFlag{&cfg.TopUpAmount}, "topup-amount", "credit of each top-up, EUR")
	fs.Var(decimalFlag{&cfg.DrainPerSecond}, "drain", "drain, EUR per second")
	fs.DurationVar(&cfg.CreditDelay, "credit-delay", cfg.CreditDelay, "how long an applied top-up takes to show in the balance")
	fs.BoolVar(&cfg.AutoReload, "auto-reload", cfg.AutoReload, "whether auto-reload is enabled on the account")
	fs.Var(burstsFlag{&cfg.Bursts}, "burst", "a one-off drop AT:AMOUNT after start, such as 20s:15 (repeatable)")
	f := &cfg.Faults
	fs.DurationVar(&f.Latency, "latency", 0, "latency added to every answer")
	fs.Float64Var(&f.ServerError, "fault-5xx", 0, "share of requests answered 500/503 (0 to 1)")
	fs.Float64Var(&f.RateLimit, "fault-429", 0, "share of requests answered 429")
	fs.DurationVar(&f.RetryAfter, "retry-after", time.Second, "Retry-After sent with a 429")
	fs.Float64Var(&f.AppliedNoAnswer, "fault-applied-no-answer", 0, "share of requests processed and never answered")
	fs.Float64Var(&f.ResetAfterApply, "fault-reset-after-apply", 0, "share of requests processed, then the connection reset")
	fs.Float64Var(&f.MalformedBody, "fault-malformed", 0, "share of requests processed, then answered with a garbled body")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the random faults")
}

func runSim(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sim", simSummary)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	cfg := sim.Config{
		Balance: decimal.NewFromInt(30), TopUpAmount: decimal.NewFromInt(25),
		DrainPerSecond: decimal.RequireFromString("0.5"), CreditDelay: 3 * time.Second, AutoReload: true,
	}
	simFlags(fs, &cfg)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var errs []error
	cfg.APIKey = simCredential(e, "VONAGE_API_KEY", "", demoKey, &errs)
	cfg.APISecret = simCredential(e, "VONAGE_API_SECRET", "VONAGE_API_SECRET_FILE", demoSecret, &errs)
	cfg.TRX = simCredential(e, "VONAGE_TOPUP_TRX", "VONAGE_TOPUP_TRX_FILE", demoTRX, &errs)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	acct, err := sim.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "simulated Vonage account on http://%s (balance %s EUR, draining %s EUR/s)\n",
		*addr, cfg.Balance, cfg.DrainPerSecond)
	return sim.ListenAndServe(ctx, *addr, acct)
}

// simCredential reads a credential the way the watchdog does: the variable,
// or the trimmed content of the file its _FILE form names, else def.
func simCredential(e *env, name, fileName, def string, errs *[]error) string {
	if v, ok := e.lookupenv(name); ok && v != "" {
		return v
	}
	if fileName == "" {
		return def
	}
	path, ok := e.lookupenv(fileName)
	if !ok || path == "" {
		return def
	}
	data, err := os.ReadFile(path)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: cannot read %s: %w", fileName, path, errors.Unwrap(err)))
		return ""
	}
	return strings.TrimSpace(string(data))
}
