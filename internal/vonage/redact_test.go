package vonage

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// testSecrets are the test client's secrets: the API secret, the trx and
// the Basic token.
func testSecrets() []string {
	return []string{testSecret, testTRX, strings.TrimPrefix(testBasic, "Basic ")}
}

// secretLeaks are the forms of testSecrets and of the fragments in more
// (internal/secrettest) that text holds.
func secretLeaks(text string, more ...string) []string {
	sweep := secrettest.New(append(testSecrets(), more...)...)
	sweep.Add("text", []byte(text))
	return sweep.Leaks()
}

// assertNoSecrets fails if text holds a form of testSecrets or of the
// fragments in more, or the name of the api_secret query parameter: not a
// secret, but the sign of a request URL printed with its query.
func assertNoSecrets(t *testing.T, text string, more ...string) {
	t.Helper()
	for _, l := range secretLeaks(text, more...) {
		t.Errorf("text %q: %s", text, l)
	}
	if strings.Contains(text, "api_secret") {
		t.Errorf("text %q holds %q", text, "api_secret")
	}
}

func TestNewRedactor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{name: "no secrets", in: "a b c", want: "a b c"},
		{name: "empty secrets ignored", secrets: []string{"", ""}, in: "a b", want: "a b"},
		{name: "plain", secrets: []string{"s3cr3t"}, in: "x s3cr3t y s3cr3t", want: "x [REDACTED] y [REDACTED]"},
		{name: "query escaped", secrets: []string{testSecret}, in: "api_secret=s3cr3t-Value%2F%2B%3D&x=1",
			want: "api_secret=[REDACTED]&x=1"},
		{name: "lower case escapes", secrets: []string{testSecret}, in: "s3cr3t-Value%2f%2b%3d",
			want: "[REDACTED]"},
		{name: "path escaped", secrets: []string{testSecret}, in: "/s3cr3t-Value%2F+=/", want: "/[REDACTED]/"},
		{name: "space as %20", secrets: []string{"a b&"}, in: "q=a%20b%26 and a+b%26", want: "q=[REDACTED] and [REDACTED]"},
		{name: "JSON escaped", secrets: []string{`a"b<c`}, in: `{"s":"a\"b\u003cc","t":"a\"b<c"}`,
			want: `{"s":"[REDACTED]","t":"[REDACTED]"}`},
		{name: "Go quoted", secrets: []string{"tab\there"}, in: `label "tab\there"`, want: `label "[REDACTED]"`},
		// Found by review: a hostile answer echoing the secret HTML-escaped,
		// or as JSON kept to ASCII (Python's json.dumps), got through.
		{name: "HTML escaped", secrets: []string{`Zq7"<&é`}, in: `<b>Zq7&#34;&lt;&amp;é</b>`, want: `<b>[REDACTED]</b>`},
		{name: "JSON kept to ASCII", secrets: []string{`Zq7"<&é‹😀`}, in: `"Zq7\"\u003c\u0026\u00e9\u2039\ud83d\ude00" and "Zq7\"<&\u00e9\u2039\ud83d\ude00"`,
			want: `"[REDACTED]" and "[REDACTED]"`},
		{name: "several secrets", secrets: []string{testSecret, testTRX}, in: testTRX + ":" + testSecret,
			want: "[REDACTED]:[REDACTED]"},
		{name: "longest form first", secrets: []string{"ab", "abcd"}, in: "abcd ab", want: "[REDACTED] [REDACTED]"},
		{name: "output not rescanned", secrets: []string{"RED"}, in: "RED", want: "[REDACTED]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewRedactor(tc.secrets...)(tc.in); got != tc.want {
				t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestOptionsSecrets(t *testing.T) {
	o := testOptions("https://rest.nexmo.com")
	want := []string{testSecret, testTRX, strings.TrimPrefix(testBasic, "Basic ")}
	if got := o.Secrets(); !reflect.DeepEqual(got, want) {
		t.Errorf("Secrets() = %q, want %q", got, want)
	}
	if got := (Options{APIKey: testKey}).Secrets(); len(got) != 0 {
		t.Errorf("Secrets() without secret and trx = %q, want none", got)
	}
}

func TestClientRedact(t *testing.T) {
	c := newTestClient(t, testOptions("https://rest.nexmo.com"))
	in := fmt.Sprintf("key=%s secret=%s escaped=%s trx=%s auth=%s",
		testKey, testSecret, url.QueryEscape(testSecret), testTRX, testBasic)
	got := c.Redact(in)
	assertNoSecrets(t, got)
	if !strings.Contains(got, "key="+testKey) {
		t.Errorf("Redact(%q) = %q; the API key is not a secret", in, got)
	}
}

// errorTexts are the ways an error may end up printed.
func errorTexts(err error) []string {
	texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
	}
	return texts
}

func TestErrorTextsNeverHoldSecrets(t *testing.T) {
	echo := fmt.Sprintf("secret=%s secret %s trx %s", url.QueryEscape(testSecret), testSecret, testTRX)
	labelled := func(status int, code string) http.HandlerFunc {
		body := fmt.Sprintf(`{"error-code":%q,"error-code-label":%q}`, code, echo)
		return answerWith(status, "application/json", body)
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		kind    Kind
	}{
		{name: "transport", kind: KindTransport},
		{name: "timeout", handler: hangUntilGone(t, make(chan struct{}, 4)), kind: KindTransport},
		{name: "401", handler: labelled(401, "401"), kind: KindAuthFailed},
		{name: "401 in a 200", handler: labelled(200, "401"), kind: KindAuthFailed},
		{name: "401 with another code", handler: labelled(401, "420"), kind: KindClient},
		{name: "4xx", handler: labelled(400, "400"), kind: KindClient},
		{name: "429", handler: labelled(429, "429"), kind: KindRateLimited},
		{name: "5xx", handler: labelled(503, "503"), kind: KindServer},
		{name: "malformed error-code", handler: labelled(200, "999"), kind: KindMalformed},
		{name: "malformed value", handler: answerWith(200, "application/json",
			fmt.Sprintf(`{"value":%q,"error-code-label":%q}`, testSecret+testTRX, echo)), kind: KindMalformed},
		{name: "over the limit", handler: answerWith(200, "application/json", strings.Repeat(echo, 5000)),
			kind: KindMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := refusedURL(t)
			if tc.handler != nil {
				base = newFake(t, tc.handler).URL
			}
			o := testOptions(base)
			o.Auth = AuthQuery
			o.Timeout = 100 * time.Millisecond
			c := newTestClient(t, o)
			for _, endpoint := range allEndpoints() {
				e := asError(t, callEndpoint(t.Context(), t, c, endpoint))
				if e.Kind != tc.kind {
					t.Errorf("%s: kind %s (%v), want %s", endpoint, e.Kind, e, tc.kind)
				}
				for _, text := range errorTexts(e) {
					assertNoSecrets(t, text)
				}
			}
		})
	}
}
