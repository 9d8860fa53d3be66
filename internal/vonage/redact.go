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
// Empty secrets are ignored; with none left, the function returns its input
// unchanged. The function is safe for concurrent use. A log writer can use
// it to redact whole lines: NewRedactor(o.Secrets()...) redacts what
// Client.Redact does.
func NewRedactor(secrets ...string) func(string) string {
	forms := redactedForms(secrets)
	if len(forms) == 0 {
		return func(s string) string { return s }
	}
	r := &redactor{forms: forms}
	for _, f := range forms {
		c := f[0]
		if c >= utf8.RuneSelf { // another case of the rune may start with another byte
			for b := utf8.RuneSelf; b < len(r.first); b++ {
				r.first[b] = true
			}
		}
		r.first[toLowerASCII(c)], r.first[toUpperASCII(c)] = true, true
	}
	return r.replace
}

// minRun is the shortest run of a secret redacted on its own: the shortest
// secret the configuration accepts, so that it is as distinctive.
const minRun = 8

// redactor finds the forms of the secrets in any case, longest first at
// each position, left to right, without overlaps: what strings.Replacer
// does, but for strings.EqualFold rather than equality.
type redactor struct {
	forms []string // longest first
	// first marks the bytes a match can start with.
	first [256]bool
}

func (r *redactor) replace(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		n := 0
		if r.first[s[i]] {
			n = r.match(s[i:])
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

// match returns the length of the longest form s starts with, in any case,
// or 0.
func (r *redactor) match(s string) int {
	for _, f := range r.forms {
		if len(f) <= len(s) && strings.EqualFold(s[:len(f)], f) {
			return len(f)
		}
	}
	return 0
}

// redactedForms lists the non-empty secrets, their escaped forms and their
// longest unescaped runs, longest first so that a longer form wins over a
// shorter one at the same position.
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
	slices.SortFunc(forms, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
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

func toLowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
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
