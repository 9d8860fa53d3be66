package bintest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Build builds the program once: a second call gives the same file, which
// runs as the program does.
func TestBuildBuildsTheProgramOnce(t *testing.T) {
	t.Cleanup(Remove)
	first := Path(t)
	info, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	second := Path(t)
	again, err := os.Stat(second)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || !os.SameFile(info, again) || !again.ModTime().Equal(info.ModTime()) {
		t.Errorf("the second Build gave %s, the first %s: built twice", second, first)
	}
	out, err := exec.Command(first, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "topup-watchdog") {
		t.Errorf("%s version: %v: %s", first, err, out)
	}
}
