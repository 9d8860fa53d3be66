package vonage

import "testing"

// An error-code that is not the number 200 must not read as a
// successful top-up just because float64 rounds it to 200.
func TestANearly200CodeIsNoSuccessfulTopUp(t *testing.T) {
	for _, code := range []string{`200.00000000000001`, `"200.00000000000001"`, `199.99999999999999`,
		`"2.0000000000000001e2"`, `"200.0000000000000000000000000001"`} {
		t.Run(code, func(t *testing.T) {
			f := newFake(t, answerWith(200, ctJSON, `{"error-code":`+code+`,"error-code-label":"insufficient funds"}`))
			c := newTestClient(t, testOptions(f.URL))
			if err := c.TopUp(t.Context()); err == nil {
				t.Errorf("top-up answered error-code %s (not 200): success, want an error", code)
			}
		})
	}
}

// A 401 whose error-code rounds to 401 but is not 401.
func TestANearly401CodeIsNotAuthFailed(t *testing.T) {
	for _, code := range []string{`401.00000000000001`, `"400.99999999999999"`} {
		t.Run(code, func(t *testing.T) {
			f := newFake(t, answerWith(401, ctJSON, `{"error-code":`+code+`,"error-code-label":"x"}`))
			c := newTestClient(t, testOptions(f.URL))
			e := asError(t, callEndpoint(t.Context(), t, c, EndpointTopUp))
			if e.Kind != KindClient {
				t.Errorf("error-code %s: kind %s, want %s", code, e.Kind, KindClient)
			}
		})
	}
}

// Held checks: hostile spellings that are no number.
func TestHostileSpellingsHold(t *testing.T) {
	for _, c := range []struct {
		code string
		want bool
	}{{"+401", true}, {"401e0", true}, {"4010e-1", true}, {"0x191", false}, {"NaN", false}, {"Inf", false},
		{"4.01e2000", false}, {"401e-99999999999", false}, {"1_401", false}, {"401\u00a0", true}, {"４０１", false},
		{"401\x00", false}, {"", false}, {"-", false}, {"e", false}} {
		if got := codeIs(c.code, 401); got != c.want {
			t.Errorf("codeIs(%q, 401) = %v, want %v", c.code, got, c.want)
		}
	}
}
