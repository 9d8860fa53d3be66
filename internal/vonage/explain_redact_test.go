package vonage

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// A hostile server may echo the secret in any field of its explanation, at
// any place; cutting a field or the whole before redacting it would leave a
// prefix of the secret that no redactor recognises.
func TestExplanationNeverHoldsSecrets(t *testing.T) {
	token := strings.TrimPrefix(testBasic, "Basic ")
	echoes := []string{testSecret, url.QueryEscape(testSecret), testTRX, token}
	for _, auth := range []Auth{AuthBasic, AuthQuery} {
		for i, echo := range echoes {
			for pad := 0; pad <= maxSaidField; pad += 7 {
				text := strings.Repeat("a", pad) + echo + " tail"
				t.Run(fmt.Sprintf("%s/echo %d/pad %d", auth, i, pad), func(t *testing.T) {
					checkExplanationRedacted(t, auth, problemBody(text))
				})
			}
		}
	}
}

// problemBody puts text in every field an explanation prints.
func problemBody(text string) string {
	fields := map[string]any{
		"error-code": text, "error-code-label": text, "title": text, "detail": text,
		"instance": text, "type": text,
		"invalid_parameters": []map[string]string{{"name": text, "reason": text}},
		"validation":         []map[string]any{{"location": []string{text}, "message": text}},
	}
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func checkExplanationRedacted(t *testing.T, auth Auth, body string) {
	t.Helper()
	f := newFake(t, answerWith(422, "application/problem+json", body))
	o := testOptions(f.URL)
	o.Auth = auth
	c := newTestClient(t, o)
	for _, endpoint := range allEndpoints() {
		e := asError(t, callEndpoint(t.Context(), t, c, endpoint))
		if e.Err == nil || !strings.Contains(e.Err.Error(), "[R") {
			t.Fatalf("%s: explanation %v shows no redaction", endpoint, e.Err)
		}
		texts := append(errorTexts(e), e.Code, e.Label)
		// A secret cut short shows as its first characters.
		cuts := []string{testSecret[:5], url.QueryEscape(testSecret)[:5], testTRX[:6], strings.TrimPrefix(testBasic, "Basic ")[:6]}
		for _, text := range texts {
			assertNoSecrets(t, text, cuts...)
		}
	}
}
