package main

import (
	"context"
	"errors"

	"github.com/topup-watchdog/topup-watchdog/internal/server"
)

const healthcheckSummary = `Asks the watchdog running beside it for /healthz on TOPUP_LISTEN_ADDR
(default :9090) and exits 0 on a 200, 1 otherwise. For a container's
HEALTHCHECK: it needs no shell and no other configuration.`

func runHealthcheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "healthcheck", healthcheckSummary)
	addr := fs.String("addr", "", "address to probe (default: TOPUP_LISTEN_ADDR, else :9090)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		v, set := e.lookupenv("TOPUP_LISTEN_ADDR")
		switch {
		case !set:
			*addr = ":9090"
		case v == "":
			return errors.New("healthcheck: TOPUP_LISTEN_ADDR is empty, so the HTTP server is off: nothing to probe")
		default:
			*addr = v
		}
	}
	return server.Probe(ctx, *addr)
}
