package vonage

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The encoding/json and encoding/xml errors name Go types and decoder
// states ("cannot unmarshal string into Go value of type map[string]...");
// an operator reading a log needs to know what the answer was instead.

// unreadable is what is wrong with an answer, in an operator's words.
type unreadable string

func (u unreadable) Error() string { return string(u) }

// utf8BOM is the byte order mark some servers put before JSON, which
// RFC 8259 forbids a sender to add.
const utf8BOM = "\xef\xbb\xbf"

// maxShownMediaType is the longest Content-Type media type quoted in an
// error; a longer one is left out rather than cut (a cut could keep part of
// a secret that redaction would then miss).
const maxShownMediaType = 64

// notJSONObject says why body, which json.Unmarshal refused, is not a JSON
// object.
func notJSONObject(contentType string, body []byte) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	mt := strings.ToLower(mediaType(contentType))
	switch {
	case len(trimmed) == 0:
		return unreadable("answer is empty")
	case bytes.HasPrefix(body, []byte(utf8BOM)):
		return unreadable("answer starts with a byte order mark, which JSON does not allow")
	case isHTML(mt, trimmed):
		return unreadable(withMediaType("answer is HTML, not JSON", contentType))
	case mt != "" && !isJSONType(mt):
		return unreadable(withMediaType("answer is not JSON", contentType))
	case trimmed[0] == '<':
		return unreadable(withMediaType("answer looks like XML, not JSON", contentType))
	}
	return notJSONSyntax(body)
}

// notJSONSyntax reads body again with a json.Decoder, whose errors tell a
// cut-short answer from a wrong byte, to say where body goes wrong.
func notJSONSyntax(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var first json.RawMessage
	err := dec.Decode(&first)
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return unreadable(fmt.Sprintf("answer is not valid JSON: it ends early, after %d bytes", len(body)))
	case errors.As(err, &syn):
		return unreadable(fmt.Sprintf("answer is not valid JSON at byte %d", syn.Offset))
	case err != nil:
		return unreadable("answer is not valid JSON")
	}
	end := dec.InputOffset()
	if rest := bytes.TrimLeft(body[end:], " \t\r\n"); len(rest) > 0 {
		at := int64(len(body)-len(rest)) + 1
		return unreadable(fmt.Sprintf("answer has more than one JSON value: text at byte %d", at))
	}
	if first[0] == '{' {
		return unreadable("answer is not a readable JSON object")
	}
	return unreadable("answer is " + jsonKind(first[0]) + ", not a JSON object")
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch {
	case c == '"':
		return "a JSON string"
	case c == '[':
		return "a JSON array"
	case c == 't' || c == 'f':
		return "a JSON boolean"
	case c == 'n':
		return "JSON null"
	default:
		return "a JSON number"
	}
}

// notXML says why the XML decoder refused an answer. charset is the
// encoding the answer declared, set when the decoder asked for a reader of
// one other than UTF-8.
func notXML(err error, charset string) error {
	var u unreadable
	var syn *xml.SyntaxError
	switch {
	case charset != "":
		return unreadable(fmt.Sprintf("answer is XML in encoding %s; only UTF-8 is read", quote(charset)))
	case errors.As(err, &u):
		return u
	case errors.As(err, &syn) && syn.Msg == "unexpected EOF":
		return unreadable(fmt.Sprintf("answer is not valid XML: it ends early, at line %d", syn.Line))
	case errors.As(err, &syn):
		return unreadable(fmt.Sprintf("answer is not valid XML at line %d", syn.Line))
	default:
		return unreadable("answer is not readable XML")
	}
}

// mediaType is the media type of a Content-Type header as sent, without
// its parameters.
func mediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// withMediaType appends the answer's media type to msg, when it has a short
// printable one.
func withMediaType(msg, contentType string) string {
	mt := mediaType(contentType)
	if mt == "" || len(mt) > maxShownMediaType || strings.IndexFunc(mt, notPrintableASCII) >= 0 {
		return msg
	}
	return msg + ": " + mt
}

func notPrintableASCII(r rune) bool { return r <= ' ' || r > '~' }

// isHTML reports whether an answer is an HTML page: by its media type, or
// by how it starts.
func isHTML(lowerMediaType string, trimmed []byte) bool {
	if lowerMediaType == "text/html" || lowerMediaType == "application/xhtml+xml" {
		return true
	}
	head := strings.ToLower(string(trimmed[:min(len(trimmed), 16)]))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}

// isJSONType reports whether a lower-case media type says JSON:
// application/json, text/json or any +json type (application/problem+json).
func isJSONType(mt string) bool {
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}
