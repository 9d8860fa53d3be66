// Package bintest builds the topup-watchdog binary for the tests that run
// it as a child process (cmd/topup-watchdog, internal/e2e). It is imported
// by tests only.
//
// The binary is built once per test binary, with `go build` and no flag:
// not with -race even when the test runs under it, since the child is the
// program as shipped and the race detector watches the test process; no
// build tag or ldflags either, as the testing hooks (TOPUP_TEST_*) are in
// every build.
package bintest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Package is the import path of the program.
const Package = "github.com/topup-watchdog/topup-watchdog/cmd/topup-watchdog"

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Build builds the binary into a fresh temporary folder the first time it
// is called, and returns its path; later calls return the same path, or
// the same error.
func Build() (string, error) {
	once.Do(func() {
		dir, err = os.MkdirTemp("", "topup-watchdog-bin-")
		if err != nil {
			err = fmt.Errorf("build the binary: %w", err)
			return
		}
		path = filepath.Join(dir, "topup-watchdog")
		if out, buildErr := exec.Command("go", "build", "-o", path, Package).CombinedOutput(); buildErr != nil {
			err = fmt.Errorf("build the binary: %w\n%s", buildErr, out)
		}
	})
	return path, err
}

// Path is Build for a test: it fails the test if the build failed.
func Path(tb testing.TB) string {
	tb.Helper()
	p, err := Build()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Remove deletes the binary's folder, if it was built. A TestMain calls it
// once its tests have run.
func Remove() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
