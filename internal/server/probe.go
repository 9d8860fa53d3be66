package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ProbeTimeout bounds Probe, connect to end of answer.
const ProbeTimeout = 3 * time.Second

// Probe asks the server listening on addr for /healthz, as the healthcheck
// command does. An addr without a host or with an unspecified one (":9090",
// "0.0.0.0:9090") is reached on loopback. Probe returns nil on a 200 and
// otherwise an error that says what it got.
func Probe(ctx context.Context, addr string) error {
	target, err := probeAddr(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport:     transport,
		Timeout:       ProbeTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	defer func() { _ = resp.Body.Close() }()
	line := firstLine(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: /healthz answered %d: %s", target, resp.StatusCode, line)
	}
	return nil
}

// probeAddr turns a listen address into one to dial.
func probeAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("probe: bad address %q: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// firstLine reads the first line of a probe answer, at most 200 bytes.
func firstLine(r io.Reader) string {
	s := bufio.NewScanner(io.LimitReader(r, 200))
	if s.Scan() {
		return strings.TrimSpace(s.Text())
	}
	return ""
}
