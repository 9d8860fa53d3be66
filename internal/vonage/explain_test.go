package vonage

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
)

// explainCase is an error answer and exactly what the client must make of
// it: the kind, the code and label kept, and the text an operator reads.
type explainCase struct {
	name        string
	endpoint    string
	status      int
	contentType string
	body        string
	kind        Kind
	code, label string
	want        string
}

func explainCases() []explainCase {
	const (
		topUp   = EndpointTopUp
		balance = EndpointGetBalance
	)
	return []explainCase{
		{name: "Vonage's 420 topup failed in a 401", endpoint: topUp, status: 401,
			body: `{"error-code":"420","error-code-label":"topup failed"}`, kind: KindClient, code: "420", label: "topup failed",
			want: `vonage: top up: client error (HTTP 401): answer says error-code "420", error-code-label "topup failed"`},
		{name: "420 as a number", endpoint: topUp, status: 401, body: `{"error-code":420}`, kind: KindClient, code: "420",
			want: `vonage: top up: client error (HTTP 401): answer says error-code "420"`},
		{name: "420 in XML", endpoint: topUp, status: 401, contentType: ctXML,
			body: `<response><error-code>420</error-code><error-code-label>topup failed</error-code-label></response>`,
			kind: KindClient, code: "420", label: "topup failed",
			want: `vonage: top up: client error (HTTP 401): answer says error-code "420", error-code-label "topup failed"`},
		{name: "Vonage's own 401 says nothing more", endpoint: topUp, status: 401,
			body: `{"error-code":"401","error-code-label":"authentication failed"}`, kind: KindAuthFailed,
			code: "401", label: "authentication failed", want: `vonage: top up: authentication failed (HTTP 401)`},
		{name: "not auto-reload enabled says nothing more", endpoint: topUp, status: 401,
			body: `{"error-code":"401","error-code-label":"not auto-reload enabled"}`, kind: KindAutoReloadDisabled,
			code: "401", label: "not auto-reload enabled", want: `vonage: top up: not auto-reload enabled (HTTP 401)`},
		{name: "401 with its own label", endpoint: balance, status: 401,
			body: `{"error-code":"401","error-code-label":"Bad Credentials"}`, kind: KindAuthFailed, code: "401",
			label: "Bad Credentials",
			want:  `vonage: get balance: authentication failed (HTTP 401): answer says error-code "401", error-code-label "Bad Credentials"`},
		{name: "401 without a body", endpoint: balance, status: 401, kind: KindAuthFailed,
			want: `vonage: get balance: authentication failed (HTTP 401)`},
		{name: "400 with error-code-label", endpoint: topUp, status: 400,
			body: `{"error-code":"400","error-code-label":"invalid trx"}`, kind: KindClient, code: "400", label: "invalid trx",
			want: `vonage: top up: client error (HTTP 400): answer says error-code "400", error-code-label "invalid trx"`},
		{name: "400 problem details as account-api.yml documents them", endpoint: balance, status: 400,
			contentType: "application/problem+json",
			body: `{"type":"https://developer.nexmo.com/api-errors#invalid-api-key","title":"Bad Request",` +
				`"detail":"The request failed due to validation errors","instance":"bf0ca0bf927b3b52e3cb03217e1a1ddf",` +
				`"invalid_parameters":[{"name":"trx","reason":"Is required"},{"name":"amount"}]}`,
			kind: KindClient,
			want: `vonage: get balance: client error (HTTP 400): answer says title "Bad Request", ` +
				`invalid_parameters "trx: Is required; amount", detail "The request failed due to validation errors", ` +
				`instance "bf0ca0bf927b3b52e3cb03217e1a1ddf", type "https://developer.nexmo.com/api-errors#invalid-api-key"`},
		{name: "403 keeps the code it has", endpoint: topUp, status: 403,
			body: `{"error-code":"401","error-code-label":"not auto-reload enabled"}`, kind: KindClient,
			code: "401", label: "not auto-reload enabled",
			want: `vonage: top up: client error (HTTP 403): answer says error-code "401", error-code-label "not auto-reload enabled"`},
		{name: "404 HTML page says nothing", endpoint: balance, status: 404, contentType: "text/html",
			body: `<html><body><h1>Not Found</h1></body></html>`, kind: KindClient,
			want: `vonage: get balance: client error (HTTP 404)`},
		{name: "HTML 502", endpoint: balance, status: 502, contentType: "text/html",
			body: `<html><head><title>502 Bad Gateway</title></head></html>`, kind: KindServer,
			want: `vonage: get balance: server error (HTTP 502)`},
		{name: "2xx with another error-code", endpoint: topUp, status: 200,
			body: `{"error-code":"420","error-code-label":"topup failed"}`, kind: KindMalformed, code: "420",
			label: "topup failed",
			want:  `vonage: top up: malformed answer (HTTP 200): answer says error-code "420", error-code-label "topup failed"`},
		{name: "2xx with an empty error-code", endpoint: topUp, status: 200, body: `{"error-code":""}`, kind: KindMalformed,
			want: `vonage: top up: malformed answer (HTTP 200): answer has an empty error-code`},
		{name: "2xx with error-code 401", endpoint: balance, status: 200, body: `{"error-code":401}`, kind: KindAuthFailed,
			code: "401", want: `vonage: get balance: authentication failed (HTTP 200): answer says error-code "401"`},
	}
}

// dirtyTextCases are answers whose explanation must be made printable.
func dirtyTextCases() []explainCase {
	return []explainCase{
		{name: "control characters", endpoint: EndpointTopUp, status: 400,
			body: `{"error-code":"4\u000020","error-code-label":"topup\r\n\tfailed\u001b[31m \u2028now\u007f"}`,
			kind: KindClient, code: "4 20", label: "topup failed [31m now",
			want: `vonage: top up: client error (HTTP 400): answer says error-code "4 20", error-code-label "topup failed [31m now"`},
		{name: "invalid UTF-8", endpoint: EndpointTopUp, status: 400, body: "{\"error-code-label\":\"bad\xffbyte\"}",
			kind: KindClient, label: "bad\uFFFDbyte",
			want: "vonage: top up: client error (HTTP 400): answer says error-code-label \"bad\uFFFDbyte\""},
	}
}

func TestErrorAnswersKeepWhatTheySay(t *testing.T) {
	for _, tc := range append(explainCases(), dirtyTextCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			contentType := tc.contentType
			if contentType == "" {
				contentType = ctJSON
			}
			f := newFake(t, answerWith(tc.status, contentType, tc.body))
			c := newTestClient(t, testOptions(f.URL))
			e := asError(t, callEndpoint(t.Context(), t, c, tc.endpoint))
			if e.Kind != tc.kind || e.Code != tc.code || e.Label != tc.label {
				t.Errorf("kind %s, code %q, label %q; want %s, %q, %q", e.Kind, e.Code, e.Label, tc.kind, tc.code, tc.label)
			}
			if got := e.Error(); got != tc.want {
				t.Errorf("error text\n got %s\nwant %s", got, tc.want)
			}
			if e.Hint != "" {
				t.Errorf("hint %q on an answer that does not ask for credentials", e.Hint)
			}
		})
	}
}

func TestExplanationIsBounded(t *testing.T) {
	long := strings.Repeat("very long text ", 300)
	body := `{"error-code":"` + long + `","error-code-label":"` + long + `","title":"` + long +
		`","detail":"` + long + `","invalid_parameters":[{"name":"` + long + `","reason":"x"}]}`
	f := newFake(t, answerWith(422, "application/problem+json", body))
	c := newTestClient(t, testOptions(f.URL))
	e := asError(t, callEndpoint(t.Context(), t, c, EndpointTopUp))
	if e.Err == nil {
		t.Fatalf("no explanation in %v", e)
	}
	if n := len(e.Err.Error()); n > maxSaid+len("...") {
		t.Errorf("explanation is %d bytes, want at most %d: %s", n, maxSaid+len("..."), e.Err)
	}
	for name, v := range map[string]string{"code": e.Code, "label": e.Label} {
		if want := maxSaidField + len("..."); len(v) != want {
			t.Errorf("%s is %d bytes, want cut to %d: %q", name, len(v), want, v)
		}
	}
	if !strings.HasPrefix(e.Err.Error(), `answer says error-code "very long text very long`) {
		t.Errorf("explanation %q does not start with the error-code", e.Err)
	}
}

func TestExplanationIsPrintable(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r < 0x100; r++ {
		all.WriteRune(r)
	}
	all.WriteString("\u2028\u2029\ufeff\u200b")
	label, err := json.Marshal(all.String())
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t, answerWith(400, ctJSON, `{"error-code-label":`+string(label)+`}`))
	c := newTestClient(t, testOptions(f.URL))
	e := asError(t, callEndpoint(t.Context(), t, c, EndpointGetBalance))
	for _, text := range []string{e.Error(), e.Label} {
		if i := strings.IndexFunc(text, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
			t.Errorf("text holds unprintable %U at byte %d: %q", []rune(text[i:])[0], i, text)
		}
	}
}
