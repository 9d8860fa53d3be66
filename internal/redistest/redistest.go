// Package redistest runs real redis-server processes for tests: on a free
// loopback port, in a temporary folder, stopped when the test ends. Tests
// that need Redis skip when redis-server is not installed, unless
// TOPUP_TEST_REQUIRE_REDIS=1 makes that a failure.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RequireEnv names the variable that makes a missing redis-server fail the
// tests that need it instead of skipping them.
const RequireEnv = "TOPUP_TEST_REQUIRE_REDIS"

// startLimit bounds the wait for a started server to answer PING, and
// stopGrace the wait for a SIGTERM before SIGKILL.
const (
	startLimit = 10 * time.Second
	stopGrace  = 5 * time.Second
)

// Server is one redis-server process.
type Server struct {
	// Addr is host:port, Port the port.
	Addr string
	Port int
	// Dir is the server's folder: its RDB and AOF files and its log.
	Dir string

	t        testing.TB
	bin      string
	args     []string
	password string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd is reaped
}

// Start starts redis-server on a free port of 127.0.0.1 with no
// persistence, then args (which override: "--appendonly", "yes" persists),
// and stops it when the test ends. "--requirepass", pw puts pw in URL.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("redis-server not installed, and %s=1", RequireEnv)
		}
		t.Skip("redis-server not installed")
	}
	s := &Server{t: t, bin: bin, Dir: t.TempDir(), args: args}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--requirepass" {
			s.password = args[i+1]
		}
	}
	var last error
	for range 3 { // the free port may be taken before the server binds it
		if s.Port, err = freePort(); err != nil {
			t.Fatalf("redistest: free port: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		if last = s.start(); last == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: %v", last)
	return nil
}

// StartReplica starts a server replicating primary and waits until its
// link to primary is up.
func StartReplica(t testing.TB, primary *Server, args ...string) *Server {
	t.Helper()
	base := []string{"--replicaof", "127.0.0.1", strconv.Itoa(primary.Port)}
	if primary.password != "" {
		base = append(base, "--masterauth", primary.password)
	}
	// Redis 7 waits 5s for more replicas before a diskless full sync.
	if err := primary.Client().ConfigSet(context.Background(), "repl-diskless-sync-delay", "0").Err(); err != nil {
		t.Fatalf("redistest: CONFIG SET on the primary: %v", err)
	}
	s := Start(t, append(base, args...)...)
	pc, rc := primary.Client(), s.Client()
	deadline := time.Now().Add(startLimit)
	for {
		info, err := rc.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			streaming(t, pc)
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica %s not linked to %s: %v\n%s", s.Addr, primary.Addr, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streaming waits until the primary's writes reach its replica: after a
// diskless sync Redis streams them only once the replica's first
// acknowledgement came, up to a second later, and WAIT counts none before.
func streaming(t testing.TB, pc *redis.Client) {
	t.Helper()
	ctx := context.Background()
	const key = "redistest:replica-ready"
	if err := pc.Set(ctx, key, "1", 0).Err(); err != nil {
		t.Fatalf("redistest: SET on the primary: %v", err)
	}
	if n, err := pc.Wait(ctx, 1, startLimit).Result(); err != nil || n < 1 {
		t.Fatalf("redistest: the replica holds no write of the primary after %s: WAIT = %d, %v", startLimit, n, err)
	}
	if err := pc.Del(ctx, key).Err(); err != nil {
		t.Fatalf("redistest: DEL on the primary: %v", err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server and waits until it answers PING.
func (s *Server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.Dir,
		"--logfile", filepath.Join(s.Dir, "redis.log"), "--daemonize", "no"}, s.args...)
	cmd := exec.Command(s.bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.password, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(startLimit)
	for {
		err := ours(c, cmd.Process.Pid)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.clear()
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			return fmt.Errorf("redis-server on port %d exited: %s%s", s.Port, out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server on port %d did not answer PING in %s: %v", s.Port, startLimit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ours reports whether the server c reaches answers and is process pid,
// not another test's server on a port taken before this one bound it.
func ours(c *redis.Client, pid int) error {
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "process_id:"+strconv.Itoa(pid)+"\r\n") {
		return errors.New("another process answers on the port")
	}
	return nil
}

func (s *Server) clear() {
	s.mu.Lock()
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
}

// URL is redis://127.0.0.1:port/0, with the password if there is one.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr, Path: "/0"}
	if s.password != "" {
		u.User = url.UserPassword("", s.password)
	}
	return u.String()
}

// Password is the server's requirepass, if any.
func (s *Server) Password() string { return s.password }

// Client returns a go-redis client of the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.password, PipelinePoolSize: -1})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// FlushAll empties every database of the server.
func (s *Server) FlushAll() {
	s.t.Helper()
	c := s.Client()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		s.t.Fatalf("redistest: FLUSHALL: %v", err)
	}
}

// Kill stops the server with SIGKILL, as a crash, and waits for it.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, 0) }

// Stop stops the server with SIGTERM, which lets it write its AOF, and
// SIGKILL after 5s, and waits for it. Stopping a stopped server does
// nothing.
func (s *Server) Stop() { s.signal(syscall.SIGTERM, stopGrace) }

func (s *Server) signal(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-done:
			return
		case <-time.After(grace):
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	<-done
}

// Restart stops the server and starts it again on the same port, folder and
// arguments, so that what it persisted (an AOF, an RDB) is loaded again.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}
