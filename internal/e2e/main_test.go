package e2e

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/bintest"
)

// The test account's credentials. The secret holds the characters a URL
// query escapes ("/", "+", "="), so that a leak of its escaped form is caught
// too; the trx and the notification token are distinctive.
const (
	testKey     = "e2ekey42"
	testSecret  = "Xq7/s3cr3t+e2e=Vw"
	testTRX     = "f00dfeed0123456789abcdef42e2e000"
	notifyToken = "hook-t0ken-9f8e7d6c"
)

// waitLimit bounds every wait for something the program should do soon; a
// test that reaches it has failed. Waits that depend on a window or a credit
// delay add those to it.
const waitLimit = 20 * time.Second

// binPath is the binary TestMain builds (internal/bintest: without -race,
// the child is the program as shipped; the race detector watches the test
// process), before any test, so that a build failure fails once.
var binPath string

// e2eParallel is how many of the package's tests run at once unless
// -test.parallel says otherwise. They spend their time waiting for a child
// process, a window or a credit, not computing, so the default (GOMAXPROCS:
// 2 on the project's machine) would only queue them behind the storm: the
// package would take the storm's 70 seconds plus the sum of the others'.
const e2eParallel = 8

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if f := flag.Lookup("test.parallel"); f != nil {
			if n, err := strconv.Atoi(f.Value.String()); err == nil && n < e2eParallel {
				_ = f.Value.Set(strconv.Itoa(e2eParallel))
			}
		}
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer bintest.Remove()
	start := time.Now()
	var err error
	if binPath, err = bintest.Build(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Printf("e2e: built %s in %s\n", binPath, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}
