package vonage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Redacted replaces every secret that a redactor finds.
const Redacted = "[REDACTED]"

// NewRedactor returns a function that replaces, in any text, every
// occurrence of each secret with Redacted, together with the forms a secret
// takes once escaped for a URL query, a URL path, a JSON string or a Go
// quoted string, in any letter case (a server may echo a secret upper-cased,
// or with its percent escapes in mixed case), and the longest run of the
// secret that no escape changes, when it has minRun characters or more and
// the secret is not a URL (a part of the secret left whole by an escaping
// this list does not know).
// Any letter case is any case by simple case folding, whatever the bytes
// it takes: K (the Kelvin sign) is k, ſ (the long s) is s, and the Turkish
// İ and ı are i and I, so that a server upper-casing "kiwi" the Turkish way
// ("KİWİ") echoes it redacted all the same.
// Empty secrets are ignored; with none left, the function returns its input
// unchanged. The function is safe for concurrent use. A log writer can use
// it to redact whole lines: NewRedactor(o.Secrets()...) redacts what
// Client.Redact does.
func NewRedactor(secrets ...string) func(string) string {
	forms := redactedForms(secrets)
	if len(forms) == 0 {
		return func(s string) string { return s }
	}
	folded := make([]string, 0, len(forms))
	for _, f := range forms {
		folded = append(folded, foldString(f))
	}
	// Forms that differ only in case (the escapes' hex digits) fold to one.
	slices.SortFunc(folded, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	r := &redactor{}
	for _, f := range slices.Compact(folded) {
		r.add(f)
	}
	return r.replace
}

// minRun is the shortest run of a secret redacted on its own: the shortest
// secret the configuration accepts, so that it is as distinctive.
const minRun = 8

// redactor finds the forms of the secrets in any case, the longest match at
// each position, left to right, without overlaps: what strings.Replacer
// does, but for case folding rather than equality. A form and the text it
// matches may differ in length, as "kiwi" and "KİWİ" do.
type redactor struct {
	// byFirst lists, for each byte, the forms, longest first, that a match
	// starting with that byte can be of: those whose first rune some rune
	// starting with that byte folds to. Most bytes have none, and an
	// ASCII text is scanned a byte at a time.
	byFirst [256][]foldedForm
}

// foldedForm is a form with every rune folded (foldString).
type foldedForm struct {
	text string
	// runes is the number of runes of text, the fewest bytes a match takes.
	runes int
}

// add adds a folded form, after any longer one, to the lists of the first
// bytes of the runes that fold to its first rune.
func (r *redactor) add(form string) {
	first, _ := utf8.DecodeRuneInString(form)
	var starts []byte
	if first == utf8.RuneError { // an invalid byte in a secret: any invalid byte
		for b := utf8.RuneSelf; b < len(r.byFirst); b++ {
			starts = append(starts, byte(b))
		}
	}
	for _, c := range foldOrbit(first) {
		var buf [utf8.UTFMax]byte
		utf8.EncodeRune(buf[:], c)
		starts = append(starts, buf[0])
	}
	slices.Sort(starts)
	f := foldedForm{text: form, runes: utf8.RuneCountInString(form)}
	for _, b := range slices.Compact(starts) {
		r.byFirst[b] = append(r.byFirst[b], f)
	}
}

func (r *redactor) replace(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		n := 0
		if forms := r.byFirst[s[i]]; len(forms) > 0 {
			n = match(s[i:], forms)
		}
		if n == 0 {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(Redacted)
		i += n
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// match returns the length in s of the longest match of one of forms
// (longest first) that s starts with, or 0. The longest in s, not the
// longest form: a shorter form can match more bytes, in runes that fold to
// it from longer ones. But a match all in ASCII is as long as its form,
// and a form as long or shorter cannot match more of s, whose first bytes
// are then ASCII: that ends the search, as the first match did before
// folding.
func match(s string, forms []foldedForm) int {
	best := 0
	for _, f := range forms {
		if f.runes > len(s) {
			continue
		}
		n, ascii := matchFolded(s, f.text)
		best = max(best, n)
		if n > 0 && ascii {
			return best
		}
	}
	return best
}

// matchFolded returns the length of the prefix of s that folds to form,
// rune by rune (foldRune), or 0, and whether that prefix is all ASCII.
// ASCII bytes are compared as bytes; only the others are decoded.
func matchFolded(s, form string) (int, bool) {
	i, ascii := 0, true
	for j := 0; j < len(form); {
		if i >= len(s) {
			return 0, false
		}
		if c := s[i]; c < utf8.RuneSelf {
			// An ASCII byte folds to an ASCII byte, never to a rune
			// beyond ASCII.
			if toUpperASCII(c) != form[j] {
				return 0, false
			}
			i, j = i+1, j+1
			continue
		}
		c, n := utf8.DecodeRuneInString(s[i:])
		f, m := utf8.DecodeRuneInString(form[j:])
		if foldRune(c) != f {
			return 0, false
		}
		i, j, ascii = i+n, j+m, false
	}
	return i, ascii
}

// Two Turkish letters whose cases are i and I, in Turkish text, but that
// simple case folding keeps apart from them and from each other.
const (
	dottedCapitalI = '\u0130' // İ, the Turkish upper case of i
	dotlessSmallI  = '\u0131' // ı, the Turkish lower case of I
)

// foldRune is the one rune every case of r folds to: the least rune of r's
// simple case-folding orbit (unicode.SimpleFold), so that K (the Kelvin
// sign) folds to K and ſ (the long s) to S, as k and s do; and I for the
// Turkish İ and ı, which the orbit of i does not hold. An ASCII rune folds
// to ASCII: its upper case.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return rune(toUpperASCII(byte(r)))
	}
	if r == dottedCapitalI || r == dotlessSmallI {
		return 'I'
	}
	least := r
	for c := unicode.SimpleFold(r); c != r; c = unicode.SimpleFold(c) {
		least = min(least, c)
	}
	return least
}

// foldOrbit lists the runes that fold to folded, itself a folded rune.
func foldOrbit(folded rune) []rune {
	orbit := []rune{folded}
	for c := unicode.SimpleFold(folded); c != folded; c = unicode.SimpleFold(c) {
		orbit = append(orbit, c)
	}
	if folded == 'I' {
		orbit = append(orbit, dottedCapitalI, dotlessSmallI)
	}
	return orbit
}

// foldString is s with every rune folded (foldRune); an invalid byte
// becomes U+FFFD, as every invalid byte matched against it decodes.
func foldString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// redactedForms lists the non-empty secrets, their escaped forms and their
// longest unescaped runs, without duplicates.
func redactedForms(secrets []string) []string {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		q := url.QueryEscape(s)
		forms = append(forms,
			s,
			q,
			strings.ReplaceAll(q, "+", "%20"),
			url.PathEscape(s),
			jsonEscape(s, true),
			jsonEscape(s, false),
			asciiEscapes(jsonEscape(s, true)),
			asciiEscapes(jsonEscape(s, false)),
			html.EscapeString(s),
			unquoted(strconv.Quote(s)),
			unquoted(strconv.QuoteToASCII(s)),
		)
		// A URL's runs are its host and its path's segments, most of
		// which say nothing secret, and an error may need to name them.
		if run := longestRun(s); len(run) >= minRun && !strings.Contains(s, "://") {
			forms = append(forms, run)
		}
	}
	slices.Sort(forms)
	return slices.Compact(forms)
}

// longestRun is the longest run of s made of characters that no escaping
// changes (RFC 3986's unreserved ones).
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

// jsonEscape returns s as it appears inside a JSON string.
func jsonEscape(s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		return s
	}
	return unquoted(strings.TrimSuffix(buf.String(), "\n"))
}

// asciiEscapes rewrites every non-ASCII rune of s as a JSON \uXXXX escape
// (a surrogate pair above U+FFFF), as JSON encoders that keep to ASCII do
// (Python's json.dumps, for one).
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

// unquoted drops the first and last byte of a quoted string.
func unquoted(q string) string {
	if len(q) < 2 {
		return q
	}
	return q[1 : len(q)-1]
}

func toUpperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// Secrets lists the values of o that must never be printed: the API
// secret, the trx reference and the Basic auth token base64(key:secret).
// Empty values are left out.
func (o Options) Secrets() []string {
	return slices.DeleteFunc([]string{o.APISecret, o.TRX, basicToken(o.APIKey, o.APISecret)},
		func(s string) bool { return s == "" })
}

// Redact replaces the API secret, the trx reference, the Basic auth token and
// their escaped forms in s with Redacted (see NewRedactor).
func (c *Client) Redact(s string) string { return c.redact(s) }

// redactedError is a cause whose text has been redacted. It unwraps to the
// original cause only when that cause's own text needed no redaction, so that
// errors.Is(err, context.DeadlineExceeded) and the like keep working without
// exposing a secret through Unwrap.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Unwrap() error { return e.cause }

// maxErrorText is the longest error text kept, in bytes; an answer can put
// up to MaxBody bytes of its own text in an error.
const maxErrorText = 512

// redactError returns err with its text run through redact, then cut to
// maxErrorText. cause is the error err wraps, kept for errors.Is and
// errors.As when its own text is clean.
func redactError(redact func(string) string, err, cause error) error {
	if err == nil {
		return nil
	}
	re := &redactedError{msg: truncate(redact(err.Error()), maxErrorText)}
	if cause != nil && redact(cause.Error()) == cause.Error() {
		re.cause = cause
	}
	return re
}

// truncate cuts s to at most n bytes plus "...", on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
