// Package server owns the watchdog's HTTP endpoints for operators: the
// liveness and readiness probes (/healthz, /readyz), the Prometheus scrape
// (/metrics), and Probe, the client side of /healthz for the image's
// HEALTHCHECK.
//
// Health turns the watchdog's events into probe answers; Server serves them
// on its own mux with timeouts and shuts down with a deadline.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The server's timeouts. A scrape of the metrics is the slowest answer.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	// ShutdownTimeout bounds the graceful shutdown once Run's context ends.
	ShutdownTimeout = 5 * time.Second
)

// Server serves /healthz, /readyz and /metrics.
type Server struct {
	addr string
	log  *zap.Logger
	srv  *http.Server

	listening chan struct{}
	mu        sync.Mutex
	bound     string
}

// New returns a Server that will listen on addr (such as ":9090" or
// "127.0.0.1:0"). metrics serves /metrics; nil answers 404 there. log may be
// nil.
func New(addr string, health *Health, metrics http.Handler, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	if metrics == nil {
		metrics = http.NotFoundHandler()
	}
	s := &Server{addr: addr, log: log, listening: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           routes(health, metrics),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	return s
}

func routes(h *Health, metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", probeHandler(h.Alive))
	mux.HandleFunc("GET /readyz", probeHandler(h.Ready))
	mux.Handle("GET /metrics", metrics)
	return mux
}

// probeHandler answers 200 or 503 with the probe's one-line reason.
func probeHandler(probe func() (bool, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := probe()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = fmt.Fprintln(w, reason)
	}
}

// Listening is closed once Run has bound its address or failed to.
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Addr is the address Run is bound to, such as "127.0.0.1:41234"; empty
// before Listening is closed or when listening failed.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

// Run listens and serves until ctx ends, then shuts down, waiting at most
// ShutdownTimeout for the requests in flight. It returns nil after a clean
// shutdown. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	ln, err := s.listen(ctx)
	if err != nil {
		return err
	}
	s.log.Info("http server listening", zap.String("addr", ln.Addr().String()))
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(ctx, served)
}

func (s *Server) listen(ctx context.Context) (net.Listener, error) {
	defer close(s.listening)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	s.mu.Lock()
	s.bound = ln.Addr().String()
	s.mu.Unlock()
	return ln, nil
}

func (s *Server) shutdown(ctx context.Context, served <-chan error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("shut down http server: %w", err)
	}
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve http: %w", serr))
	}
	s.log.Info("http server stopped")
	return err
}
