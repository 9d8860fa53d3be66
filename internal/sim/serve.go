package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout bounds the graceful shutdown of Serve.
const ShutdownTimeout = 5 * time.Second

// ListenAndServe listens on addr (such as "127.0.0.1:8080") and serves acct
// until ctx ends; see Serve.
func ListenAndServe(ctx context.Context, addr string, acct *Account) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return Serve(ctx, ln, acct)
}

// Serve answers on ln with acct.Handler until ctx ends, then shuts down and
// returns nil. It closes ln.
//
// Every request's context ends with ctx, so answers held by latency or by a
// no-answer fault are dropped at once (the connection closes without an
// answer) and the rest get up to ShutdownTimeout to finish. There is no write
// timeout: a held answer must outlast any client timeout.
func Serve(ctx context.Context, ln net.Listener, acct *Account) error {
	srv := &http.Server{
		Handler:           acct.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve simulated account: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down simulated account: %w", err)
	}
	return nil
}
