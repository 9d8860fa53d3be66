package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: what a program writes to tty, the test
// reads from the returned function, as a terminal would show it.
func openPTY(t *testing.T) (tty *os.File, shown func() string) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { _ = ptm.Close() })
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("name the pseudo-terminal: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the terminal side: %v", err)
	}
	t.Cleanup(func() { _ = tty.Close() })
	return tty, func() string {
		// Once the terminal side is closed, a read of the other side gives
		// what is left, then EIO.
		_ = tty.Close()
		out, err := io.ReadAll(ptm)
		if err != nil && !errors.Is(err, syscall.EIO) {
			t.Fatalf("read the pseudo-terminal: %v", err)
		}
		return string(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))) // the terminal's ONLCR
	}
}
