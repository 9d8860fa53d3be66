package vonage

import (
	"testing"
)

// An error-code is a number, however an answer writes it: with white space
// around it, as a JSON number with a fraction or an exponent, as a string
// with leading zeros. What it stands for must not depend on the spelling,
// or a real "authentication failed" is classed a client error and the
// alarm, the readiness probe and the notification stay silent.
func TestAnErrorCodeMeansItsNumberHoweverItIsWritten(t *testing.T) {
	cases := []struct {
		name     string
		endpoint string
		status   int
		code     string // as it stands in the JSON body
		kind     Kind
	}{
		{"401 with a trailing space", EndpointTopUp, 401, `"401 "`, KindAuthFailed},
		{"401 with a leading space", EndpointGetBalance, 401, `" 401"`, KindAuthFailed},
		{"401 between tabs and newlines", EndpointTopUp, 401, `"\t401\n"`, KindAuthFailed},
		{"401.0 as a number", EndpointTopUp, 401, `401.0`, KindAuthFailed},
		{"4.01e2 as a number", EndpointGetBalance, 401, `4.01e2`, KindAuthFailed},
		{"401.00 as a string", EndpointTopUp, 401, `"401.00"`, KindAuthFailed},
		{"0401 as a string", EndpointTopUp, 401, `"0401"`, KindAuthFailed},
		{"200.0 in a 401 explains no failure", EndpointTopUp, 401, `200.0`, KindAuthFailed},
		{"2xx with 401 spaced", EndpointGetBalance, 200, `" 401 "`, KindAuthFailed},
		{"2xx with 4.01E2", EndpointTopUp, 200, `4.01E2`, KindAuthFailed},
		// Other numbers stay what they are.
		{"420 spaced is a rejection", EndpointTopUp, 401, `" 420 "`, KindClient},
		{"4.2e2 is a rejection", EndpointTopUp, 401, `4.2e2`, KindClient},
		{"401.5 is not 401", EndpointTopUp, 401, `401.5`, KindClient},
		{"-401 is not 401", EndpointTopUp, 401, `-401`, KindClient},
		{"401x is not a number", EndpointTopUp, 401, `"401x"`, KindClient},
		{"2xx with 420 spaced", EndpointTopUp, 200, `"420 "`, KindMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answerWith(tc.status, ctJSON, `{"error-code":`+tc.code+`,"error-code-label":"x"}`))
			c := newTestClient(t, testOptions(f.URL))
			e := asError(t, callEndpoint(t.Context(), t, c, tc.endpoint))
			if e.Kind != tc.kind {
				t.Errorf("error-code %s in HTTP %d: kind %s, want %s (%v)", tc.code, tc.status, e.Kind, tc.kind, e)
			}
		})
	}
}

// An error-code 200 that says success is success however it is written.
func TestASuccessCodeIsSuccessHoweverItIsWritten(t *testing.T) {
	for _, code := range []string{`"200 "`, `" 200"`, `200.0`, `2e2`, `"0200"`} {
		t.Run(code, func(t *testing.T) {
			f := newFake(t, answerWith(200, ctJSON, `{"error-code":`+code+`,"error-code-label":"success"}`))
			c := newTestClient(t, testOptions(f.URL))
			if err := c.TopUp(t.Context()); err != nil {
				t.Errorf("top-up answered error-code %s: %v, want success", code, err)
			}
			f = newFake(t, answerWith(200, ctJSON, `{"error-code":`+code+`,"value":10.5,"autoReload":false}`))
			c = newTestClient(t, testOptions(f.URL))
			if b, err := c.GetBalance(t.Context()); err != nil || b.Value.String() != "10.5" {
				t.Errorf("balance answered error-code %s: %+v, %v; want 10.5", code, b, err)
			}
		})
	}
}
