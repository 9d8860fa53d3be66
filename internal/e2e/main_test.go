package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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

// binPath is the binary TestMain builds, without -race: the child is the
// program as shipped; the race detector watches the test process.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "topup-watchdog-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create build folder:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	binPath = filepath.Join(dir, "topup-watchdog")
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/topup-watchdog").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build the binary: %v\n%s", err, out)
		return 1
	}
	if testing.Verbose() {
		fmt.Printf("e2e: built %s in %s\n", binPath, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}
