package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// line is one line a child process wrote.
type line struct {
	proc   int    // which start of the binary, from 1
	stream string // "stdout" or "stderr"
	at     time.Time
	text   string
	fields map[string]any // the JSON log line; nil for other text
}

// msg is the line's log message, or "".
func (l line) msg() string { s, _ := l.fields["msg"].(string); return s }

// str is a string field of the log line, or "".
func (l line) str(key string) string { s, _ := l.fields[key].(string); return s }

// logbook collects the output of every child process of one test, line by
// line as it comes, and wakes waiters on every line and every exit.
type logbook struct {
	mu      sync.Mutex
	lines   []line
	changed chan struct{}
}

func newLogbook() *logbook { return &logbook{changed: make(chan struct{})} }

func (b *logbook) add(l line) {
	if strings.HasPrefix(l.text, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(l.text), &m) == nil {
			l.fields = m
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, l)
	b.wake()
}

// wake wakes every waiter. The caller holds b.mu.
func (b *logbook) wake() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *logbook) poke() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wake()
}

// since returns a copy of the lines from index i on, and the index after
// them.
func (b *logbook) since(i int) ([]line, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i > len(b.lines) {
		i = len(b.lines)
	}
	return append([]line(nil), b.lines[i:]...), len(b.lines)
}

// changes returns a channel that is closed at the next line or exit.
func (b *logbook) changes() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// all returns a copy of the lines so far.
func (b *logbook) all() []line {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]line(nil), b.lines...)
}

// find returns the lines for which keep holds.
func (b *logbook) find(keep func(line) bool) []line {
	var out []line
	for _, l := range b.all() {
		if keep(l) {
			out = append(out, l)
		}
	}
	return out
}

// logs returns the JSON log lines of process proc (0: any) with message msg.
func (b *logbook) logs(proc int, msg string) []line {
	return b.find(func(l line) bool { return (proc == 0 || l.proc == proc) && l.msg() == msg })
}

// text is everything the processes wrote, for failure messages and the sweep.
func (b *logbook) text() string {
	var sb strings.Builder
	for _, l := range b.all() {
		sb.WriteString(l.text)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// tail is the last n lines, for failure messages.
func (b *logbook) tail(n int) string {
	all := b.all()
	if len(all) > n {
		all = all[len(all)-n:]
	}
	var sb strings.Builder
	for _, l := range all {
		fmt.Fprintf(&sb, "  [%d %s] %s\n", l.proc, l.stream, l.text)
	}
	return sb.String()
}

// waitFor waits until cond holds, or fails the test after limit.
func (b *logbook) waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		ch := b.changed
		b.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("waited %s for %s; last output:\n%s", limit, what, b.tail(40))
		}
	}
}

// waitLines waits until process proc has written at least n log lines with
// message msg, and returns them.
func (b *logbook) waitLines(t *testing.T, limit time.Duration, proc int, msg string, n int) []line {
	t.Helper()
	var got []line
	b.waitFor(t, limit, "a "+msg+" line", func() bool {
		got = b.logs(proc, msg)
		return len(got) >= n
	})
	return got
}

// proc is one run of the binary.
type proc struct {
	n       int
	cmd     *exec.Cmd
	book    *logbook
	started time.Time
	done    chan struct{}
	state   *os.ProcessState
	err     error
	// pidfd refers to the process for waitStopped; -1 if pidfd_open failed.
	// It is opened before anything can reap the process, so it can never
	// refer to another process that reused the pid.
	pidfd int
}

// startProc starts the binary's run command with exactly env (no variable of
// the test process leaks in), feeding its output to book.
func startProc(t *testing.T, book *logbook, n int, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(binPath, "run")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{n: n, cmd: cmd, book: book, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the binary: %v", err)
	}
	p.started = time.Now()
	p.pidfd, err = unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		p.pidfd = -1
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go p.scan(&readers, "stdout", stdout)
	go p.scan(&readers, "stderr", stderr)
	go func() {
		readers.Wait()
		p.err = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.done)
		book.poke()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill() // SIGKILL ends a stopped process too
			<-p.done
		}
		if p.pidfd >= 0 {
			_ = unix.Close(p.pidfd)
		}
	})
	return p
}

func (p *proc) scan(wg *sync.WaitGroup, stream string, r io.Reader) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		p.book.add(line{proc: p.n, stream: stream, at: time.Now(), text: sc.Text()})
	}
	_, _ = io.Copy(io.Discard, r) // a line over the limit: keep the pipe draining
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end, or fails the test after limit.
func (p *proc) wait(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-p.done:
		return p.state
	case <-time.After(limit):
		t.Fatalf("process %d still running after %s; last output:\n%s", p.n, limit, p.book.tail(40))
		return nil
	}
}

// kill sends SIGKILL and waits for the process to die of it.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	st := p.wait(t, waitLimit)
	if sig, ok := signalOf(st); !ok || sig != syscall.SIGKILL {
		t.Fatalf("process %d: %v after SIGKILL, want signal: killed", p.n, st)
	}
}

// cldStopped is siginfo's si_code of a child stopped by a signal
// (CLD_STOPPED in <signal.h>).
const cldStopped = 5

// waitStopped waits until the process is stopped (SIGSTOP), and reports
// true, or until it has ended, and reports false; it fails the test after
// limit. It waits on the kernel (waitid with WNOWAIT on the process's
// pidfd), consuming nothing that the process's own Wait needs, and sees
// only a stop in force: one that a SIGCONT has ended is not reported.
func (p *proc) waitStopped(t *testing.T, limit time.Duration) bool {
	t.Helper()
	if p.pidfd < 0 {
		t.Fatalf("process %d: no pidfd to wait on (pidfd_open needs Linux 5.3)", p.n)
	}
	res := make(chan bool, 1)
	go func() {
		for {
			var info unix.Siginfo
			err := unix.Waitid(unix.P_PIDFD, p.pidfd, &info, unix.WSTOPPED|unix.WEXITED|unix.WNOWAIT, nil)
			if err == unix.EINTR {
				continue
			}
			res <- err == nil && info.Code == cldStopped
			return
		}
	}()
	select {
	case stopped := <-res:
		return stopped
	case <-time.After(limit):
		t.Fatalf("process %d neither stopped nor ended within %s; last output:\n%s", p.n, limit, p.book.tail(30))
		return false
	}
}

// pause stops the process with SIGSTOP and waits until it is stopped; it
// returns when it was, or false if the process had ended.
func (p *proc) pause(t *testing.T) (time.Time, bool) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return time.Time{}, false
	}
	if !p.waitStopped(t, waitLimit) {
		return time.Time{}, false
	}
	return time.Now(), true
}

// resume sends SIGCONT and returns the time just before: the process may
// run again before the signal call returns.
func (p *proc) resume() time.Time {
	at := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	return at
}

// stop sends SIGTERM and checks the clean stop of the contract: exit 0.
//
// It first waits for the process's first line: until main has installed its
// signal handler, a SIGTERM ends any Go program with the default action
// ("signal: terminated"), which is not the stop under test. A supervisor's
// SIGTERM that early finds nothing opened and nothing to lose.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.waitFirstLine(t)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	// A check in flight may run a top-up to its timeout first.
	st := p.wait(t, waitLimit)
	if st.ExitCode() != 0 {
		t.Fatalf("process %d: %v after SIGTERM, want exit 0; last output:\n%s", p.n, st, p.book.tail(20))
	}
}

// waitFirstLine waits until the process has written a line or ended.
func (p *proc) waitFirstLine(t *testing.T) {
	t.Helper()
	p.book.waitFor(t, waitLimit, fmt.Sprintf("process %d's first line", p.n), func() bool {
		return p.exited() || len(p.book.find(func(l line) bool { return l.proc == p.n })) > 0
	})
}

// signalOf returns the signal that ended the process, if one did.
func signalOf(st *os.ProcessState) (syscall.Signal, bool) {
	if st == nil {
		return 0, false
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}
