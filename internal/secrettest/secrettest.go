// Package secrettest is the one secret sweep of the tests: the forms a
// secret takes in any output (Forms), and a Sweep that collects what a test
// saw written and fails it for every form it finds. It is imported by tests
// only.
//
// A secret here is any string that must never be printed: an API secret, a
// trx, a token, a password, and whatever the caller derives from them, such
// as the Basic token base64(key:secret) or a fragment a parser might cut out
// of a value. The package knows no secret of its own.
package secrettest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MinRun is the shortest run of a secret, unchanged by every escape, that
// Forms looks for on its own: as long as the shortest secret the
// configuration accepts, so that it is as distinctive.
const MinRun = 8

// Forms lists every form of each secret that must never appear: the secret
// as is; escaped for a URL query (a space as "+" and as "%20") or a URL
// path; inside a JSON string, with and without HTML escaping, and kept to
// ASCII with \u escapes; HTML-escaped; inside a Go quoted string (%q and
// QuoteToASCII); each of these with its hex escapes (%XX, \uXXXX,
// \UXXXXXXXX, \xXX) in upper and in lower case; and the longest run of the
// secret that no escape changes, when it has MinRun characters or more: it
// survives an escaping this list does not know. Empty secrets are left
// out. The list is sorted and has no duplicates.
func Forms(secrets ...string) []string {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		q := url.QueryEscape(s)
		for _, f := range []string{
			s, q, strings.ReplaceAll(q, "+", "%20"), url.PathEscape(s),
			jsonString(s, true), jsonString(s, false),
			asciiEscapes(jsonString(s, true)), asciiEscapes(jsonString(s, false)),
			html.EscapeString(s),
			unquoted(strconv.Quote(s)), unquoted(strconv.QuoteToASCII(s)),
		} {
			forms = append(forms, f, hexCase(f, false), hexCase(f, true))
		}
		if run := longestRun(s); len(run) >= MinRun {
			forms = append(forms, run)
		}
	}
	slices.Sort(forms)
	return slices.Compact(forms)
}

// jsonString is s as it appears inside a JSON string.
func jsonString(s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // a string always encodes
	return unquoted(strings.TrimSuffix(buf.String(), "\n"))
}

// asciiEscapes writes every non-ASCII rune of s as a JSON \uXXXX escape (a
// surrogate pair above U+FFFF), as JSON encoders that keep to ASCII do.
func asciiEscapes(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func unquoted(q string) string { return q[1 : len(q)-1] }

// hexCase writes the hex digits of every %XX, \uXXXX, \UXXXXXXXX and \xXX
// escape of s in upper or in lower case.
func hexCase(s string, upper bool) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		n := 0
		switch {
		case b[i] == '%':
			n = 2
		case b[i] == '\\' && i+1 < len(b) && b[i+1] == 'u':
			i, n = i+1, 4
		case b[i] == '\\' && i+1 < len(b) && b[i+1] == 'U':
			i, n = i+1, 8
		case b[i] == '\\' && i+1 < len(b) && b[i+1] == 'x':
			i, n = i+1, 2
		}
		for j := i + 1; j <= i+n && j < len(b); j++ {
			if upper && 'a' <= b[j] && b[j] <= 'f' {
				b[j] -= 'a' - 'A'
			} else if !upper && 'A' <= b[j] && b[j] <= 'F' {
				b[j] += 'a' - 'A'
			}
		}
		i += n
	}
	return string(b)
}

// longestRun is the longest run of s made of the characters that no escape
// of Forms changes (those a URL query leaves alone: letters, digits and
// "-._~"), the first of them if several are as long.
func longestRun(s string) string {
	best, start := "", 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && unreserved(s[i]) {
			continue
		}
		if i-start > len(best) {
			best = s[start:i]
		}
		start = i + 1
	}
	return best
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// Sweep collects every byte a test saw written (output, files, bodies,
// values in a store) and finds the forms of its secrets in any of it, in
// any letter case (see fold). It is safe for concurrent use.
type Sweep struct {
	forms [][]byte // lower case

	mu    sync.Mutex
	items []artifact
}

type artifact struct {
	name string
	data []byte
}

// New returns a sweep for the forms of secrets (see Forms).
func New(secrets ...string) *Sweep {
	s := &Sweep{}
	for _, f := range Forms(secrets...) {
		s.forms = append(s.forms, fold([]byte(f)))
	}
	slices.SortFunc(s.forms, bytes.Compare)
	s.forms = slices.CompactFunc(s.forms, bytes.Equal)
	return s
}

// Add adds data, under a name that says where it was found.
func (s *Sweep) Add(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, artifact{name: name, data: fold(data)})
}

// fold writes every rune of b as the one rune all its cases fold to, in
// lower case: the least rune of its simple case-folding orbit
// (unicode.SimpleFold) lower-cased, and i for the Turkish İ and ı, which
// that orbit of i does not hold. Lower-casing alone misses the cases that
// are lower case already: ı (a Turkish lower-cased I) and ſ (the long s).
func fold(b []byte) []byte {
	return bytes.Map(func(r rune) rune {
		if r == '\u0130' || r == '\u0131' {
			return 'i'
		}
		least := r
		for c := unicode.SimpleFold(r); c != r; c = unicode.SimpleFold(c) {
			least = min(least, c)
		}
		return unicode.ToLower(least)
	}, b)
}

// Seen counts the artifacts added so far whose name starts with prefix.
func (s *Sweep) Seen(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.items {
		if strings.HasPrefix(a.name, prefix) {
			n++
		}
	}
	return n
}

// Leaks returns, for each artifact holding a form of a secret, its name and
// the form (in lower case).
func (s *Sweep) Leaks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.items {
		for _, f := range s.forms {
			if bytes.Contains(a.data, f) {
				out = append(out, fmt.Sprintf("%s holds %q", a.name, f))
			}
		}
	}
	return out
}

// Check fails the test for every leak, and for a sweep that saw nothing
// (no artifact, or none with a byte): a clean sweep of nothing proves
// nothing. It logs what it swept.
func (s *Sweep) Check(t testing.TB) {
	t.Helper()
	for _, l := range s.Leaks() {
		t.Errorf("secret sweep: %s", l)
	}
	s.mu.Lock()
	n, size := len(s.items), 0
	for _, a := range s.items {
		size += len(a.data)
	}
	s.mu.Unlock()
	if size == 0 {
		t.Errorf("secret sweep: nothing to sweep (%d artifacts, all empty)", n)
	}
	t.Logf("secret sweep: %d artifacts, %d bytes, %d forms: clean unless reported", n, size, len(s.forms))
}
