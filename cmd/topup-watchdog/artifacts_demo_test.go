package main

// The compose demo run: its simulator's flags, and a top-up within a
// minute.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

func simArgs(t *testing.T, cf composeFile) []string {
	t.Helper()
	cmd := cf.Services[composeSim].Command
	if len(cmd) == 0 || cmd[0] != "sim" {
		t.Fatalf("service %s runs %v, not the sim command", composeSim, cmd)
	}
	return cmd[1:]
}

func TestArtifactsComposeStartsTheSimulatorWithFlagsItDefines(t *testing.T) {
	cf := loadCompose(t)
	args := simArgs(t, cf)
	for i, a := range args {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); name == "addr" && strings.Contains(a, "=") {
			args[i] = "--addr=127.0.0.1:0" // the real flags, served on loopback for a moment
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"sim"}, args...), lookup(cf.Services[composeSim].resolvedEnv(t, cf)), &stdout, &stderr)
	if err != nil || stderr.Len() > 0 {
		t.Errorf("sim %v: %v\n%s", args, err, stderr.String())
	}
}

func TestArtifactsComposeDemoTopsUpWithinAMinute(t *testing.T) {
	const minute, lag = time.Minute, 5 * time.Second // lag: the watchdog starts after the simulator
	cf := loadCompose(t)
	clock := &artifactClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	account, _ := composeSimAccount(t, cf)
	account.Now = clock.Now
	acct, err := sim.New(account)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(acct.Handler())
	t.Cleanup(srv.Close)
	// The replicas share one tick: the fleet reads and decides as one
	// watchdog does, here on a memory ledger.
	vars := cf.Services[composeWatchdogs(t, cf)[0]].resolvedEnv(t, cf)
	vars["VONAGE_BASE_URL"] = srv.URL
	cfg, err := config.LoadLookup(lookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	client, err := newClient(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	var decisions, topUps int
	w := watchdog.New(client, ledger.NewMemory(ledger.State{}), watchdog.Options{
		Settings: settings(cfg), DryRun: cfg.DryRun, Now: clock.Now,
		Observer: watchdog.ObserverFunc(func(e watchdog.Event) {
			switch e := e.(type) {
			case watchdog.Decided:
				decisions++
			case watchdog.TopUpFinished:
				if e.Outcome == ledger.Succeeded {
					topUps++
				}
			}
		}),
	})
	start := clock.Now()
	// The watchdog checks at once, then on its schedule.
	for at := start.Add(lag); at.Before(start.Add(minute)) && topUps == 0; at = cfg.Schedule.Next(at) {
		clock.now = at
		w.Check(context.Background())
	}
	if decisions < 2 || topUps == 0 {
		t.Fatalf("in the demo's first minute: %d decisions, %d top-ups; want decisions and a top-up", decisions, topUps)
	}
	t.Logf("the demo's first top-up, %s after the simulator started, after %d decisions", clock.now.Sub(start), decisions)
}

// composeSimAccount returns the account the compose simulator serves and
// the address it listens on: the sim command's defaults, as its --help prints
// them, then the service's flags and credentials.
func composeSimAccount(t *testing.T, cf composeFile) (sim.Config, string) {
	t.Helper()
	var help bytes.Buffer
	if err := run(context.Background(), []string{"sim", "--help"}, lookup(nil), &help, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("sim --help: %v", err)
	}
	var cfg sim.Config
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "", "")
	simFlags(fs, &cfg)
	flagLine := regexp.MustCompile(`(?m)^  -(\S+).*(?:\n\s+\t.*\(default "?([^")]*)"?\))?`)
	for _, m := range flagLine.FindAllStringSubmatch(help.String(), -1) {
		if fs.Lookup(m[1]) == nil {
			t.Fatalf("sim --help lists -%s, which this test does not know", m[1])
		}
		if m[2] != "" {
			if err := fs.Set(m[1], m[2]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := fs.Parse(simArgs(t, cf)); err != nil {
		t.Fatalf("the simulator's command: %v", err)
	}
	e := &env{lookupenv: lookup(cf.Services[composeSim].resolvedEnv(t, cf))}
	var errs []error
	cfg.APIKey = simCredential(e, "VONAGE_API_KEY", "", demoKey, &errs)
	cfg.APISecret = simCredential(e, "VONAGE_API_SECRET", "VONAGE_API_SECRET_FILE", demoSecret, &errs)
	cfg.TRX = simCredential(e, "VONAGE_TOPUP_TRX", "VONAGE_TOPUP_TRX_FILE", demoTRX, &errs)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return cfg, *addr
}

type artifactClock struct{ now time.Time }

func (c *artifactClock) Now() time.Time { return c.now }
