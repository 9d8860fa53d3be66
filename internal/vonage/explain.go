package vonage

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode"
)

// An error answer's own explanation is what an operator needs most ("420
// topup failed" is not "authentication failed"), but it is text from the
// server: a hostile one may echo the secret, send control characters or a
// page of text. So every field is redacted before it is cut, made printable,
// and the whole is bounded.
const (
	// maxSaidField is the longest text kept of one field, in bytes.
	maxSaidField = 100
	// maxSaid is the longest explanation kept, in bytes.
	maxSaid = 300
)

// hintQueryAuth is the fix suggested when a server asks for api_key and
// api_secret while the client sends them in a Basic Authorization header.
const hintQueryAuth = "this server may not accept Basic authentication; try VONAGE_AUTH=query"

// said is what an error answer says of its failure, as written there. It is
// never printed as it is: Client.explain redacts it.
type said struct {
	code, label string
	// fields are the RFC 7807 problem fields and Prism's validation, in the
	// order printed, most telling first.
	fields []saidField
	// namesCredentials is set when the label or a field that explains the
	// failure names api_key or api_secret.
	namesCredentials bool
}

type saidField struct{ name, text string }

// saidBy reads what a decoded error answer says: Vonage's error-code and
// error-code-label, and the problem fields (RFC 7807) that Vonage's newer
// APIs and spec-driven mocks such as Prism send.
func saidBy(doc document) *said {
	s := &said{code: doc.text("error-code"), label: doc.text("error-code-label")}
	s.namesCredentials = namesCredentials(s.label)
	for _, name := range [...]string{"title", "invalid_parameters", "validation", "detail", "instance", "type"} {
		text := problemText(doc, name)
		if text == "" {
			continue
		}
		s.fields = append(s.fields, saidField{name: name, text: text})
		if name != "instance" && name != "type" && namesCredentials(text) {
			s.namesCredentials = true
		}
	}
	return s
}

// namesCredentials reports whether text names the auth query parameters.
func namesCredentials(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "api_key") || strings.Contains(t, "api_secret")
}

// problemText is the text of a problem field, "" when it has none.
func problemText(doc document, name string) string {
	v, ok := doc.field(name)
	switch {
	case !ok:
		return ""
	case v.typ == typeText || v.typ == typeNumber:
		return v.text
	case name == "invalid_parameters":
		return invalidParameters(v.raw)
	case name == "validation":
		return prismViolations(v.raw)
	}
	return ""
}

// invalidParameters reads Vonage's invalid_parameters, a list of
// {"name", "reason"}, as "name: reason; ...".
func invalidParameters(raw json.RawMessage) string {
	var ps []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(raw, &ps) != nil {
		return ""
	}
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, joinNonEmpty(": ", p.Name, p.Reason))
	}
	return joinNonEmpty("; ", parts...)
}

// prismViolations reads the validation list of Stoplight Prism's 422, whose
// items are {"location": ["query"], "message": "must have required property
// 'api_key'", ...}, as "query: must have ...; ...".
func prismViolations(raw json.RawMessage) string {
	var vs []struct {
		Location []json.RawMessage `json:"location"`
		Message  string            `json:"message"`
	}
	if json.Unmarshal(raw, &vs) != nil {
		return ""
	}
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		var path []string
		for _, l := range v.Location {
			var s string
			if json.Unmarshal(l, &s) != nil {
				s = string(l)
			}
			path = append(path, s)
		}
		parts = append(parts, joinNonEmpty(": ", strings.Join(path, "."), v.Message))
	}
	return joinNonEmpty("; ", parts...)
}

func joinNonEmpty(sep string, parts ...string) string {
	kept := make([]string, 0, len(parts))
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// explain turns what e's answer said into e.Code, e.Label and, when it says
// more than e.Kind, e.Err; and sets e.Hint when the answer asks for the
// credentials that a Basic header carries.
func (c *Client) explain(e *Error) {
	s := e.said
	e.said = nil
	if s == nil {
		return
	}
	e.Code, e.Label = c.sayText(s.code), c.sayText(s.label)
	if c.authHeader != "" && s.namesCredentials && asksForCredentials(e.Status) {
		e.Hint = hintQueryAuth
	}
	if e.Err != nil || s.onlyRepeats(e.Kind) {
		return
	}
	var parts []string
	if s.code != "" {
		parts = append(parts, "error-code "+quote(e.Code))
	}
	if s.label != "" {
		parts = append(parts, "error-code-label "+quote(e.Label))
	}
	for _, f := range s.fields {
		parts = append(parts, f.name+" "+quote(c.sayText(f.text)))
	}
	if len(parts) > 0 {
		e.Err = unreadable(truncate("answer says "+strings.Join(parts, ", "), maxSaid))
	}
}

// asksForCredentials reports whether an answer's status is one with which a
// server refuses a request for its missing credentials: Prism answers 422
// for a missing required query parameter (400 when the operation documents
// a 400), and an API may answer 401.
func asksForCredentials(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusUnauthorized ||
		status == http.StatusUnprocessableEntity
}

// onlyRepeats reports whether s says nothing but what kind k already says,
// as Vonage's own "401 authentication failed" does.
func (s *said) onlyRepeats(k Kind) bool {
	return len(s.fields) == 0 && (s.code == "" || codeIs(s.code, 401)) &&
		strings.EqualFold(strings.TrimSpace(s.label), k.String())
}

// sayText is text from an answer made fit for an error: redacted, then made
// printable (and redacted again, for what that revealed), then cut.
func (c *Client) sayText(raw string) string {
	return truncate(c.redact(printable(c.redact(raw))), maxSaidField)
}

// printable replaces invalid UTF-8 and every run of white space, control
// and other unprintable characters with one space.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
