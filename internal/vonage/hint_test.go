package vonage

import (
	"strings"
	"testing"
)

// prism422 is what Stoplight Prism answers, when mocking account-api.yml,
// to a request without the api_key and api_secret query parameters that
// the spec declares required (Prism's createUnprocessableEntityResponse;
// the operation documents no 422 or 400, so Prism makes its own).
const prism422 = `{"type":"https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY","title":"Invalid request",` +
	`"status":422,"detail":"Your request is not valid and no HTTP validation response was found in the spec, ` +
	`so Prism is generating this error for you.","validation":[` +
	`{"location":["query"],"severity":"Error","code":"required","message":"must have required property 'api_key'"},` +
	`{"location":["query"],"severity":"Error","code":"required","message":"must have required property 'api_secret'"}]}`

const ctProblem = "application/problem+json"

func TestPrismOnBasicAuthGetsTheQueryHint(t *testing.T) {
	f := newFake(t, answerWith(422, ctProblem, prism422))
	c := newTestClient(t, testOptions(f.URL))
	e := asError(t, callEndpoint(t.Context(), t, c, EndpointGetBalance))
	want := `vonage: get balance: client error (HTTP 422): answer says title "Invalid request", ` +
		`validation "query: must have required property 'api_key'; query: must have required property 'api_secret'", ` +
		`detail "Your request is not valid and no HTTP validation response was found in the spec, so Prism is generat...", ` +
		`type "https://stoplight.io/prism/errors#U...; ` +
		`hint: this server may not accept Basic authentication; try VONAGE_AUTH=query`
	if got := e.Error(); got != want {
		t.Errorf("error text\n got %s\nwant %s", got, want)
	}
	if e.Kind != KindClient || e.Hint != hintQueryAuth {
		t.Errorf("kind %s, hint %q; want %s, %q", e.Kind, e.Hint, KindClient, hintQueryAuth)
	}
}

func TestQueryHint(t *testing.T) {
	const unrelated = `{"type":"https://developer.nexmo.com/api-errors#validation","title":"Bad Request",` +
		`"detail":"trx is not a payment reference","invalid_parameters":[{"name":"trx","reason":"unknown"}]}`
	for _, tc := range []struct {
		name        string
		auth        Auth
		status      int
		contentType string
		body        string
		hint        bool
	}{
		{name: "Prism 422", auth: AuthBasic, status: 422, body: prism422, hint: true},
		{name: "Prism 400, when the operation documents one", auth: AuthBasic, status: 400, body: prism422, hint: true},
		{name: "invalid_parameters naming api_key", auth: AuthBasic, status: 422,
			body: `{"title":"Bad Request","invalid_parameters":[{"name":"api_key","reason":"is required"}]}`, hint: true},
		{name: "detail naming api_secret", auth: AuthBasic, status: 422,
			body: `{"title":"Unprocessable","detail":"Missing API_SECRET"}`, hint: true},
		{name: "401 label naming api_key", auth: AuthBasic, status: 401,
			body: `{"error-code":"401","error-code-label":"api_key and api_secret are required"}`, hint: true},
		{name: "XML 422 naming api_key", auth: AuthBasic, status: 422, contentType: ctXML,
			body: `<problem><title>Invalid request</title><detail>api_key is required</detail></problem>`, hint: true},
		{name: "Prism 422 on query auth", auth: AuthQuery, status: 422, body: prism422},
		{name: "invalid_parameters naming api_key on query auth", auth: AuthQuery, status: 422,
			body: `{"invalid_parameters":[{"name":"api_key","reason":"is required"}]}`},
		{name: "unrelated 422", auth: AuthBasic, status: 422, body: unrelated},
		{name: "422 naming api_key only in type and instance", auth: AuthBasic, status: 422,
			body: `{"title":"Invalid","type":"https://example.com/errors#api_key","instance":"api_key-42"}`},
		{name: "Vonage's 401 authentication failed", auth: AuthBasic, status: 401,
			body: `{"error-code":"401","error-code-label":"authentication failed"}`},
		{name: "403 naming api_key", auth: AuthBasic, status: 403, body: `{"detail":"api_key is required"}`},
		{name: "2xx naming api_key", auth: AuthBasic, status: 200,
			body: `{"error-code":"420","error-code-label":"api_key is required"}`},
		{name: "422 HTML naming api_key", auth: AuthBasic, status: 422, contentType: "text/html",
			body: `<html>api_key is required</html>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			contentType := tc.contentType
			if contentType == "" {
				contentType = ctProblem
			}
			f := newFake(t, answerWith(tc.status, contentType, tc.body))
			o := testOptions(f.URL)
			o.Auth = tc.auth
			c := newTestClient(t, o)
			for _, endpoint := range allEndpoints() {
				e := asError(t, callEndpoint(t.Context(), t, c, endpoint))
				text := e.Error()
				hinted := strings.HasSuffix(text, "; hint: "+hintQueryAuth)
				if hinted != tc.hint || (e.Hint == hintQueryAuth) != tc.hint || strings.Count(text, "hint:") > 1 {
					t.Errorf("%s: hint %q in %q, want hint %t", endpoint, e.Hint, text, tc.hint)
				}
			}
		})
	}
}
