package vonage

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// goInternals are words of encoding/json, encoding/xml and Go's type
// syntax that an operator must never have to read. Case matters: "not
// JSON: text/html" is plain words, "json: cannot unmarshal" is not.
func goInternals() []string {
	return []string{"Go value", "json:", "xml:", "map[", "[]", "RawMessage", "unmarshal", "Unmarshal",
		"invalid character", "encoding/", "Decoder", "CharsetReader", "SyntaxError", "*errors."}
}

// goInternalIn returns the first of goInternals in text, "" for none.
func goInternalIn(text string) string {
	for _, w := range goInternals() {
		if strings.Contains(text, w) {
			return w
		}
	}
	return ""
}

// unreadableCase is an answer whose body cannot be read as the endpoint's
// answer, and the cause the error must give (after "malformed answer (HTTP
// 200): ").
type unreadableCase struct {
	name        string
	endpoint    string // "" means get-balance
	contentType string // "" means JSON, "-" none
	body        string
	want        string
}

func unreadableCases() []unreadableCase {
	const html = `<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>down</body></html>`
	return []unreadableCase{
		{name: "JSON string", body: `"10.17"`, want: "answer is a JSON string, not a JSON object"},
		{name: "JSON array", body: `[{"value":1,"autoReload":true}]`, want: "answer is a JSON array, not a JSON object"},
		{name: "empty JSON array on top-up", endpoint: EndpointTopUp, body: `[]`,
			want: "answer is a JSON array, not a JSON object"},
		{name: "JSON number", body: `10.17`, want: "answer is a JSON number, not a JSON object"},
		{name: "JSON boolean", body: ` true `, want: "answer is a JSON boolean, not a JSON object"},
		{name: "JSON null", body: `null`, want: "answer is JSON null, not a JSON object"},
		{name: "truncated JSON", body: `{"value": 1, "autoRel`, want: "answer is not valid JSON: it ends early, after 21 bytes"},
		{name: "truncated string", body: `{"value": "1`, want: "answer is not valid JSON: it ends early, after 12 bytes"},
		{name: "wrong byte", body: `{"value": 1x}`, want: "answer is not valid JSON at byte 12"},
		{name: "two values", body: `{"value": 1, "autoReload": true} {"x":1}`,
			want: "answer has more than one JSON value: text at byte 34"},
		{name: "trailing garbage", body: `{"value": 1, "autoReload": true}}`,
			want: "answer has more than one JSON value: text at byte 33"},
		{name: "HTML page", contentType: "text/html; charset=utf-8", body: html, want: "answer is HTML, not JSON: text/html"},
		{name: "HTML page labelled JSON", body: html, want: "answer is HTML, not JSON: application/json"},
		{name: "HTML page without a type", contentType: "-", body: "\n<html><body>oops</body></html>",
			want: "answer is HTML, not JSON"},
		{name: "HTML on top-up", endpoint: EndpointTopUp, contentType: "text/html", body: html,
			want: "answer is HTML, not JSON: text/html"},
		{name: "plain text on top-up", endpoint: EndpointTopUp, contentType: "text/plain", body: "OK",
			want: "answer is not JSON: text/plain"},
		{name: "XML labelled JSON", body: `<accountBalance><value>1</value></accountBalance>`,
			want: "answer looks like XML, not JSON: application/json"},
		{name: "long media type left out", contentType: "application/" + strings.Repeat("x", 80), body: "x",
			want: "answer is not JSON"},
		{name: "garbage bytes", contentType: "-", body: "\x00\xff\xfe\x1b[2J garbage", want: "answer is not valid JSON at byte 1"},
		{name: "empty body", body: "", want: "answer is empty"},
		{name: "white space body", body: " \r\n\t ", want: "answer is empty"},
		{name: "byte order mark", body: "\xef\xbb\xbf" + balanceJSON,
			want: "answer starts with a byte order mark, which JSON does not allow"},
		{name: "very long body", body: `{"value":"` + strings.Repeat("9", DefaultMaxBody) + `"}`,
			want: "answer over 65536 bytes"},
		{name: "long garbage", body: strings.Repeat("z", DefaultMaxBody-1), want: "answer is not valid JSON at byte 1"},
		{name: "long JSON string", body: `"` + strings.Repeat("x", DefaultMaxBody-2) + `"`,
			want: "answer is a JSON string, not a JSON object"},
	}
}

func unreadableXMLCases() []unreadableCase {
	return []unreadableCase{
		{name: "XML wrong root", contentType: ctXML, body: `<html><value>1</value><autoReload>true</autoReload></html>`,
			want: `answer has XML root element "html", want "accountBalance"`},
		{name: "XML wrong root on top-up", endpoint: EndpointTopUp, contentType: ctXML,
			body: `<html><error-code>200</error-code></html>`, want: `answer has XML root element "html", want "response"`},
		{name: "XML broken before the root", contentType: ctXML, body: `<<<`, want: "answer is not valid XML at line 1"},
		{name: "XML broken inside the root", contentType: ctXML,
			body: "<accountBalance>\n<value>1</autoReload>\n</accountBalance>", want: "answer is not valid XML at line 2"},
		{name: "XML broken after the root", contentType: ctXML,
			body: "<accountBalance><value>1</value><autoReload>true</autoReload></accountBalance>\n\n</x>",
			want: "answer is not valid XML at line 3"},
		{name: "XML cut short", contentType: ctXML, body: "<accountBalance><value>1</value>",
			want: "answer is not valid XML: it ends early, at line 1"},
		{name: "XML in another encoding", contentType: "text/xml",
			body: `<?xml version="1.0" encoding="ISO-8859-1"?><accountBalance/>`,
			want: `answer is XML in encoding "ISO-8859-1"; only UTF-8 is read`},
		{name: "XML without a root", contentType: ctXML, body: `<?xml version="1.0"?><!-- none -->`,
			want: "answer has no XML root element"},
		{name: "XML doctype", contentType: ctXML, body: `<!DOCTYPE html><accountBalance/>`,
			want: "answer has a declaration before its XML root element"},
		{name: "XML text before the root", contentType: ctXML, body: `oops<accountBalance/>`,
			want: "answer has text before its XML root element"},
		{name: "XML two roots", contentType: ctXML, body: `<accountBalance/><x/>`,
			want: "answer has more than one XML root element"},
		{name: "XML text after the root", contentType: ctXML, body: `<accountBalance/>oops`,
			want: "answer has text after its XML root element"},
		{name: "XML invalid UTF-8", contentType: ctXML, body: "<accountBalance>\xff</accountBalance>",
			want: "answer is not valid XML at line 1"},
	}
}

func TestUnreadableAnswersAreSaidInWords(t *testing.T) {
	for _, tc := range append(unreadableCases(), unreadableXMLCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.handler())
			c := newTestClient(t, testOptions(f.URL))
			endpoint := tc.endpoint
			if endpoint == "" {
				endpoint = EndpointGetBalance
			}
			e := asError(t, callEndpoint(t.Context(), t, c, endpoint))
			op := map[string]string{EndpointGetBalance: OpGetBalance, EndpointTopUp: OpTopUp}[endpoint]
			want := "vonage: " + op + ": malformed answer (HTTP 200): " + tc.want
			if got := e.Error(); got != want || e.Kind != KindMalformed {
				t.Errorf("%s error text\n got %s\nwant %s", e.Kind, got, want)
			}
			for err := error(e); err != nil; err = errors.Unwrap(err) {
				if w := goInternalIn(err.Error()); w != "" {
					t.Errorf("error text %q holds %q", err.Error(), w)
				}
			}
		})
	}
}

// handler answers 200 with the case's body and Content-Type; with "-", no
// Content-Type at all (net/http would otherwise sniff one).
func (tc unreadableCase) handler() http.HandlerFunc {
	switch tc.contentType {
	case "":
		return answerWith(200, ctJSON, tc.body)
	case "-":
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = io.WriteString(w, tc.body)
		}
	}
	return answerWith(200, tc.contentType, tc.body)
}
