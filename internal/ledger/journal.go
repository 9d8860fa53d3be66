package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// The readings journal. A check that only adds a balance reading (most
// checks: the burn rate's readings change at every one) would otherwise
// rewrite and fsync the whole state file. It appends the reading to the
// journal instead, <state file>.readings, with one write(2) and no fsync: a
// process that is killed loses nothing (the page cache holds the line); a
// power loss may lose the journal's tail, which costs burn-rate history,
// never a money record, since records are only ever written with the state
// file, durably, as before.
//
// The journal is JSON lines: a header naming the state file it extends by
// the SHA-256 of its bytes, then one reading per line, each added to the
// state file's readings by AddReading in order. Every rewrite of the state
// file (a record changed, the journal grew past journalMax, a change to the
// readings other than an addition) holds all the readings and starts the
// journal again with a header naming the new file. A journal whose header
// names another file (a crash between the rename of a new state file and
// the journal's reset, an old journal beside a restored file) is stale and
// ignored without a word. It holds times and balances only.

// journalVersion is the version of the journal's layout, in its header.
const journalVersion = 1

// The steps of the journal's writes, so that tests can make them fail.
const (
	stepJournal      step = "journal"
	stepJournalReset step = "journal-reset"
)

const (
	// journalMax bounds the journal: an addition that would take it past
	// this many bytes rewrites the state file instead, which empties it.
	// At about 80 bytes a reading that is some 800 checks (nearly 7 hours
	// at the default 30 s), so the fsyncs of those rewrites are spread
	// thin, and Open reads little.
	journalMax = 64 << 10
	// journalReadMax is the most Open reads of a journal; a longer one was
	// not written by this package and is dropped.
	journalReadMax = 4 * journalMax
)

// journalHeader is the first line of a journal.
type journalHeader struct {
	Version int `json:"readings_journal"`
	// State is the hex SHA-256 of the bytes of the state file the
	// journal's readings follow.
	State string `json:"state_sha256"`
}

// journalPath is the readings journal of the ledger at path.
func journalPath(path string) string { return path + ".readings" }

// stateSum names the state file that holds data, in a journal's header.
func stateSum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// readJournal returns the readings of the journal at path that follow the
// state file whose bytes have the SHA-256 sum, in order. A missing journal,
// an empty one, or one whose header names another state file (stale: true)
// has none. A torn last line (no newline: a crash in the middle of an
// append) is dropped without a word. Anything else wrong (a line that is not
// a reading, a header of another version, a file that cannot be read) is a
// problem: no readings, and an error naming the file and the line.
func readJournal(path, sum string) (rs []Reading, stale bool, problem error) {
	fail := func(line int, err error) ([]Reading, bool, error) {
		where := "readings journal " + path
		if line > 0 {
			where += fmt.Sprintf(": line %d", line)
		}
		return nil, false, fmt.Errorf("%s: %w: its readings were dropped (they only feed the burn rate, which starts again from the state file's)", where, err)
	}
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return fail(0, err)
	case !info.Mode().IsRegular():
		return fail(0, fmt.Errorf("not a regular file (%s)", info.Mode().Type()))
	}
	jf, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fail(0, err)
	}
	data, err := io.ReadAll(io.LimitReader(jf, journalReadMax+1))
	_ = jf.Close()
	switch {
	case err != nil:
		return fail(0, err)
	case len(data) > journalReadMax:
		return fail(0, fmt.Errorf("over %d bytes", journalReadMax))
	}
	rs, stale, line, err := parseJournal(data, sum)
	if err != nil {
		return fail(line, err)
	}
	return rs, stale, nil
}

// parseJournal reads the bytes of a journal as readJournal says; on error,
// line is the number of the line at fault.
func parseJournal(data []byte, sum string) (rs []Reading, stale bool, line int, err error) {
	data = data[:bytes.LastIndexByte(data, '\n')+1] // a torn last line is dropped
	for n := 1; len(data) > 0; n++ {
		text, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		if n == 1 {
			var h journalHeader
			switch err := unmarshalStrict(text, &h); {
			case err != nil:
				return nil, false, n, fmt.Errorf("not a journal header: %w", err)
			case h.Version != journalVersion:
				return nil, false, n, fmt.Errorf("journal version %d, this one reads version %d", h.Version, journalVersion)
			case h.State != sum:
				return nil, true, 0, nil
			}
			continue
		}
		var r Reading
		if err := unmarshalStrict(text, &r); err != nil {
			return nil, false, n, fmt.Errorf("not a reading: %w", err)
		}
		rs = append(rs, r)
	}
	return rs, false, 0, nil
}

// encodeJournalLines returns the journal lines of rs and the readings a
// restart decodes from them, which may differ from rs in form (a time's
// location, a balance's exponent) but not in value.
func encodeJournalLines(rs []Reading) ([]byte, []Reading, error) {
	var buf []byte
	saved := make([]Reading, 0, len(rs))
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, nil, fmt.Errorf("encode reading: %w", err)
		}
		var back Reading
		if err := back.UnmarshalJSON(b); err != nil { // b is one value: Marshal wrote it
			return nil, nil, fmt.Errorf("read back reading: %w", err)
		}
		buf = append(append(buf, b...), '\n')
		saved = append(saved, back)
	}
	return buf, saved, nil
}

// appendJournal appends the lines of rs to the journal with one write and
// no fsync, and returns the readings a restart decodes from them. It fails,
// writing nothing, when the journal is not open or the lines would take it
// past journalMax: the caller then rewrites the state file. A write that
// fails may have left part of a line: the journal is closed, and the next
// rewrite of the state file starts it again. f.mu must be held.
func (f *File) appendJournal(rs []Reading) ([]Reading, error) {
	if f.journal == nil {
		return nil, errors.New("readings journal not open")
	}
	buf, saved, err := encodeJournalLines(rs)
	if err != nil {
		return nil, err
	}
	if f.journalSize+int64(len(buf)) > journalMax {
		return nil, errors.New("readings journal full")
	}
	err = f.do(stepJournal, func() error { _, err := f.journal.Write(buf); return err })
	if err != nil {
		f.closeJournal()
		return nil, err
	}
	f.journalSize += int64(len(buf))
	return saved, nil
}

// resetJournal empties the journal (opening it, created if need be, when it
// is not open) and writes its header naming the state file whose bytes have
// sum. On failure the journal is left closed: additions of readings then
// rewrite the state file, and each rewrite tries the journal again. f.mu must
// be held.
func (f *File) resetJournal(sum string) error {
	if f.journal == nil {
		jf, err := openJournal(journalPath(f.path))
		if err != nil {
			return err
		}
		f.journal = jf
	}
	header, err := json.Marshal(journalHeader{Version: journalVersion, State: sum})
	if err != nil {
		return err
	}
	header = append(header, '\n')
	err = f.do(stepJournalReset, func() error {
		if err := f.journal.Truncate(0); err != nil {
			return err
		}
		_, err := f.journal.Write(header)
		return err
	})
	if err != nil {
		f.closeJournal()
		return fmt.Errorf("readings journal %s: %w", journalPath(f.path), err)
	}
	f.journalSize = int64(len(header))
	return nil
}

// openJournal opens the journal at path for appending, creating it with the
// state file's permissions (0600). It refuses anything but a regular file:
// a symbolic link would have the truncation of a reset land elsewhere, a
// FIFO would block the write.
func openJournal(path string) (*os.File, error) {
	if info, err := os.Lstat(path); err == nil && !info.Mode().IsRegular() {
		return nil, fmt.Errorf("readings journal %s: not a regular file (%s)", path, info.Mode().Type())
	}
	jf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("readings journal: %w", err)
	}
	if err := jf.Chmod(0o600); err != nil {
		_ = jf.Close()
		return nil, fmt.Errorf("readings journal %s: %w", path, err)
	}
	return jf, nil
}

// closeJournal closes the journal, if it is open. f.mu must be held.
func (f *File) closeJournal() {
	if f.journal != nil {
		_ = f.journal.Close()
		f.journal, f.journalSize = nil, 0
	}
}
