package redistest

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// clockShim is an LD_PRELOAD library that adds the offset, in whole
// seconds, written in the file REDISCLOCK_OFFSET_FILE names to the wall
// clock of the process it is loaded into (TIME, key expiries); its monotonic
// clock is left alone. Redis cannot be made to step its clock otherwise.
//
//go:embed testdata/redisclock.c
var clockShim []byte

// ClockShim builds the clock shim and returns the environment to start
// redis-server with (LD_PRELOAD and REDISCLOCK_OFFSET_FILE) and the
// function that steps that server's wall clock to an offset from the real
// time. Without gcc it skips the test, unless RequireEnv is set, when that
// is a failure.
func ClockShim(t testing.TB) (env map[string]string, step func(offset time.Duration)) {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("gcc not installed, and %s=1: the shim that steps redis-server's clock cannot be built", RequireEnv)
		}
		t.Skip("gcc not installed: the shim that steps redis-server's clock cannot be built")
	}
	dir := t.TempDir()
	src, so := filepath.Join(dir, "redisclock.c"), filepath.Join(dir, "redisclock.so")
	if err := os.WriteFile(src, clockShim, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-O2", "-o", so, src, "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("build the clock shim: %v\n%s", err, out)
	}
	off := filepath.Join(dir, "offset")
	step = func(d time.Duration) {
		t.Helper()
		if err := os.WriteFile(off+".tmp", []byte(strconv.FormatInt(int64(d/time.Second), 10)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(off+".tmp", off); err != nil { // one whole file for the shim to read
			t.Fatal(err)
		}
	}
	step(0)
	return map[string]string{"LD_PRELOAD": so, "REDISCLOCK_OFFSET_FILE": off}, step
}

// WithClockShim runs start, which starts redis-server, with the clock
// shim's environment, and returns the function that steps that server's
// wall clock. Only what start starts gets the shim: the variables are gone
// once it returns. It uses t.Setenv, which keeps the test off the parallel
// ones. Without gcc it skips or fails as ClockShim does.
func WithClockShim(t testing.TB, start func()) (step func(offset time.Duration)) {
	t.Helper()
	env, step := ClockShim(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	start()
	for k := range env {
		_ = os.Unsetenv(k)
	}
	return step
}
