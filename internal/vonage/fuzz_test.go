package vonage

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// answerTransport answers every request in memory with one answer, so that
// fuzzing runs the whole client without a network.
type answerTransport struct {
	status      int
	contentType string
	body        []byte
}

func (a *answerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h := make(http.Header)
	if a.contentType != "" {
		h.Set("Content-Type", a.contentType)
	}
	return &http.Response{
		StatusCode: a.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)), Request: req,
	}, nil
}

// fuzzClient is a client whose calls get the answer *next holds. Fuzzing
// runs one input at a time per worker process (T.Parallel has no effect
// then), so a fuzz target sets *next for each input and reuses the client.
func fuzzClient(f *testing.F, next *answerTransport) *Client {
	o := testOptions("https://rest.nexmo.com")
	o.Auth = AuthQuery
	o.Transport = next
	return newTestClient(f, o)
}

// fuzzStatus maps any int onto the status codes net/http can carry,
// 100 to 999, keeping those as they are, so that a seed's 401 is a 401.
func fuzzStatus(s int) int {
	if s >= 100 && s <= 999 {
		return s
	}
	if s < 0 {
		s = -(s + 1)
	}
	return 100 + s%900
}

// checkAnswerError holds every error made from an answer to its contract:
// an *Error of an answer's kind, bounded, with no secret in any form, and
// none of the json and xml packages' words unless the answer wrote them
// itself (an escape could spell them, so an answer with one is not held to
// that).
func checkAnswerError(t *testing.T, err error, a *answerTransport) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v is a %T, not an *Error", err, err)
	}
	if e.Kind <= KindTransport || e.Kind > KindMalformed {
		t.Fatalf("kind %d (%s) for an answer", e.Kind, e.Kind)
	}
	if !e.Sent || e.Status != a.status {
		t.Fatalf("sent %t, status %d; want sent, status %d", e.Sent, e.Status, a.status)
	}
	msg := e.Error()
	if len(msg) > maxErrorText+128 {
		t.Fatalf("error text is %d bytes long", len(msg))
	}
	for _, text := range []string{msg, e.Code, e.Label, e.Hint} {
		if l := secretLeaks(text); len(l) > 0 {
			t.Fatalf("error text %q: %s", text, l)
		}
	}
	wrote := string(a.body) + a.contentType
	if strings.ContainsAny(wrote, `\&`) {
		return
	}
	for _, w := range goInternals() {
		if strings.Contains(msg, w) && !strings.Contains(wrote, w) {
			t.Fatalf("error text %q holds %q", msg, w)
		}
	}
}

// fuzzSeeds are answers both fuzz targets start from: the error answers
// whose explanation the client prints, and bodies it cannot read.
func fuzzSeeds(f *testing.F) {
	f.Add(401, ctJSON, []byte(`{"error-code":"420","error-code-label":"topup failed"}`))
	f.Add(422, "application/problem+json", []byte(`{"title":"Invalid request","detail":"`+testSecret+
		`","validation":[{"location":["query"],"message":"must have required property 'api_key'"}],`+
		`"invalid_parameters":[{"name":"trx","reason":"`+testTRX+`"}]}`))
	f.Add(400, ctXML, []byte(`<response><error-code>400</error-code><error-code-label>x</error-code-label></response>`))
	f.Add(200, ctJSON, []byte("\xef\xbb\xbf{}"))
	f.Add(200, "text/html", []byte(`<html><body>oops</body></html>`))
	f.Add(200, ctXML, []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><response/>`))
	f.Add(200, ctJSON, []byte(`[1,"s"] x`))
}

func FuzzParseBalance(f *testing.F) {
	f.Add(200, ctJSON, []byte(balanceJSON))
	f.Add(200, ctXML, []byte(`<accountBalance><value>-1.5</value><autoReload>true</autoReload></accountBalance>`))
	f.Add(401, ctJSON, []byte(`{"error-code":"401","error-code-label":"authentication failed"}`))
	fuzzSeeds(f)
	next := &answerTransport{}
	c := fuzzClient(f, next)
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		status = fuzzStatus(status)
		*next = answerTransport{status: status, contentType: contentType, body: body}
		b, err := c.GetBalance(context.Background())
		if err != nil {
			if b != (Balance{}) {
				t.Fatalf("balance %+v returned with error %v", b, err)
			}
			checkAnswerError(t, err, next)
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("balance %s read from a %d answer", b.Value, status)
		}
		if exp := b.Value.Exponent(); exp < -maxExponent || exp > maxExponent {
			t.Fatalf("balance exponent %d out of bounds", exp)
		}
	})
}

func FuzzParseTopUp(f *testing.F) {
	f.Add(200, ctJSON, []byte(successJSON))
	f.Add(200, ctXML, []byte(`<response><error-code>200</error-code></response>`))
	f.Add(401, ctJSON, []byte(`{"error-code":"401","error-code-label":"not auto-reload enabled"}`))
	fuzzSeeds(f)
	next := &answerTransport{}
	c := fuzzClient(f, next)
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		status = fuzzStatus(status)
		*next = answerTransport{status: status, contentType: contentType, body: body}
		err := c.TopUp(context.Background())
		if err != nil {
			checkAnswerError(t, err, next)
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("top-up succeeded on a %d answer", status)
		}
	})
}
