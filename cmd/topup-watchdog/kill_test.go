package main

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/bintest"
)

// proc is the real binary, its stdout read line by line as it comes.
type proc struct {
	cmd *exec.Cmd
	out *output
}

// startProc starts the binary's run command with env; the test's cleanup
// kills it.
func startProc(t *testing.T, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(bintest.Path(t), "run")
	cmd.Env = environ(env)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: newOutput()}
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = io.WriteString(p.out, sc.Text()+"\n")
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return p
}

// 10. Kill the process right after it sent a top-up whose credit lags, start
// it again on the same state file: no second top-up; the new run logs
// window_open.
func TestAKilledWatchdogDoesNotRepeatItsTopUpWhenRestarted(t *testing.T) {
	acct, srv := startAccount(t, testAccount("5", time.Hour)) // the credit lags past the test
	env := testEnv(t, srv.URL)

	first := startProc(t, env)
	first.out.waitFor(t, "the top-up line", func(o *output) bool { return o.count("topup") == 1 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	second := startProc(t, env)
	second.out.waitFor(t, "two decisions", func(o *output) bool { return o.count("decision") >= 2 })
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.cmd.Wait(); err != nil {
		t.Errorf("SIGTERM: %v, want exit 0", err)
	}

	if n := acct.Stats().TopUpRequests; n != 1 {
		t.Fatalf("%d top-up requests, want 1", n)
	}
	for _, l := range second.out.lines() {
		if l["msg"] == "decision" && l["reason"] != "window_open" {
			t.Errorf("restarted run decided %v", l)
		}
	}
	if !strings.Contains(second.out.String(), `"msg":"stopping"`) {
		t.Error("no stopping line on SIGTERM")
	}
	assertClean(t, "output", first.out.String()+second.out.String())
}
