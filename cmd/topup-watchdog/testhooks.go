package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// The testing hooks beside crashEnv (crash.go), for the end-to-end tests
// only: never set them in production. Unset, they change nothing: the
// watchdog gets the options it gets without them.
const (
	// pauseEnv names the step of a top-up at which the process stops itself
	// with SIGSTOP, once: the first time it reaches the step. It writes
	// pauseLine to stderr first, so a test knows it is (about to be)
	// stopped, and pauseResumedLine once a SIGCONT has let it go on. The
	// steps are those of crashEnv.
	pauseEnv = "TOPUP_TEST_PAUSE_AT"
	// clockEnv names a file holding a Go duration ("1h", "-30s", empty for
	// 0) that is added to the system's wall clock for the watchdog: a test
	// steps the watchdog's wall clock by rewriting it. The file is read
	// again whenever its modification time, size or inode changes (write it
	// by renaming a new file over it: two writes within one tick of the
	// file system's clock could share a modification time); a missing file
	// is an offset of 0, a file that does not parse keeps the last offset.
	// The monotonic clock is not touched: spans go on being measured on it,
	// as a real step of the system clock leaves CLOCK_BOOTTIME alone.
	clockEnv = "TOPUP_TEST_CLOCK_FILE"
)

// The lines pauseEnv writes to stderr, with the step.
const (
	pauseLine        = "test hook: stopping (SIGSTOP) at "
	pauseResumedLine = "test hook: continued after SIGCONT at "
)

// testHookVariables are the environment variables of the testing hooks.
func testHookVariables() []string { return []string{crashEnv, pauseEnv, clockEnv} }

// testHooks are the testing hooks other than the crash point.
type testHooks struct {
	// pause is the step pauseEnv names, or "".
	pause string
	// now, monotonic and bootID are the watchdog's clocks; zero (the
	// system's) unless clockEnv is set.
	now       func() time.Time
	monotonic func() time.Duration
	bootID    string
}

// loadTestHooks reads crashEnv (returned as crash), pauseEnv and clockEnv,
// and reports every problem of theirs at once.
func loadTestHooks(lookupenv func(string) (string, bool)) (crash string, h testHooks, err error) {
	var problems []string
	step := func(name string) string {
		v, _ := lookupenv(name)
		v = strings.TrimSpace(v)
		if v != "" && !slices.Contains(crashPoints(), v) {
			problems = append(problems, fmt.Sprintf("%s: not one of %s: %q", name, strings.Join(crashPoints(), ", "), v))
		}
		return v
	}
	crash, h.pause = step(crashEnv), step(pauseEnv)
	if path, _ := lookupenv(clockEnv); strings.TrimSpace(path) != "" {
		c := &offsetClock{path: strings.TrimSpace(path)}
		if err := c.load(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", clockEnv, err))
		}
		// The watchdog's own monotonic clock and boot, as without the hook,
		// so that its clock mark in the ledger works across restarts.
		h.now, h.monotonic, h.bootID = c.now, watchdog.SystemMonotonic, watchdog.SystemBootID()
	}
	if len(problems) > 0 {
		return "", testHooks{}, &config.Errors{Problems: problems}
	}
	return crash, h, nil
}

// stepHook returns the watchdog's CrashPoint for the crash and pause hooks,
// or nil when neither is set.
func (h hooks) stepHook() func(string) {
	crash := crashHook(h.crash)
	var pause func()
	if h.test.pause != "" && h.test.pause != crashAfterSend {
		pause = pauseOnce(h.test.pause)
	}
	if crash == nil && pause == nil {
		return nil
	}
	return func(p string) {
		if crash != nil {
			crash(p)
		}
		if pause != nil && p == h.test.pause {
			pause()
		}
	}
}

// transport returns the Vonage client's transport for the crash and pause
// hooks at after_send, or nil for the default.
func (h hooks) transport() http.RoundTripper {
	switch {
	case h.crash == crashAfterSend:
		return newStepTransport(die)
	case h.test.pause == crashAfterSend:
		return newStepTransport(pauseOnce(crashAfterSend))
	}
	return nil
}

// pauseOnce returns a function that, the first time it is called, writes
// pauseLine and stops the process with SIGSTOP; when a SIGCONT lets it go
// on, it writes pauseResumedLine and returns.
func pauseOnce(step string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			fmt.Fprintf(os.Stderr, "%s: %s%s\n", programName, pauseLine, step)
			stopSelf() // testhooks_linux.go
			fmt.Fprintf(os.Stderr, "%s: %s%s\n", programName, pauseResumedLine, step)
		})
	}
}

// offsetClock is the system's wall clock plus the offset in a file.
type offsetClock struct {
	path string

	mu     sync.Mutex
	seen   fileKey
	offset time.Duration
}

// fileKey tells one version of a file from another; the zero key is a
// missing file.
type fileKey struct {
	mtime time.Time
	size  int64
	ino   uint64
}

// now is the system's wall clock plus the offset, without Go's monotonic
// reading (as the watchdog's own wall clock), so that it compares by wall
// time.
func (c *offsetClock) now() time.Time {
	c.mu.Lock()
	if err := c.refresh(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v; keeping the offset %s\n", programName, clockEnv, err, c.offset)
	}
	off := c.offset
	c.mu.Unlock()
	return time.Now().Add(off).Round(0)
}

// load reads the file at start.
func (c *offsetClock) load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refresh()
}

// refresh reads the file again if it changed. c.mu must be held.
func (c *offsetClock) refresh() error {
	fi, err := os.Stat(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		c.seen, c.offset = fileKey{}, 0
		return nil
	}
	if err != nil {
		return err
	}
	key := fileKey{mtime: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		key.ino = uint64(st.Ino)
	}
	if key == c.seen {
		return nil
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		return err
	}
	c.seen = key // a bad file is reported once per version
	text := strings.TrimSpace(string(data))
	if text == "" {
		c.offset = 0
		return nil
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return fmt.Errorf("not a duration: %q", text)
	}
	c.offset = d
	return nil
}
