package vonage

import (
	"net/http"
	"testing"
	"time"
)

// topUpCase is one answer to top-up and how it must be read: succeeded
// (kind 0) or an error of that kind.
type topUpCase struct {
	name        string
	status      int
	contentType string
	body        string
	bodyErr     bool
	kind        Kind
}

// topUpFailed is Vonage's answer to a top-up that failed, as the Java SDK's
// tests have it (with status 401).
const topUpFailed = `{"error-code":"420","error-code-label":"topup failed"}`

func topUpCases() []topUpCase {
	const (
		authFailed  = `{"error-code":"401","error-code-label":"authentication failed"}`
		notEnabled  = `{"error-code":"401","error-code-label":"not auto-reload enabled"}`
		xmlSuccess  = `<?xml version="1.0" encoding="UTF-8"?><response><error-code>200</error-code><error-code-label>success</error-code-label></response>`
		xmlDisabled = `<response><error-code>401</error-code><error-code-label>not auto-reload enabled</error-code-label></response>`
	)
	return []topUpCase{
		{name: "empty body", body: ""},
		{name: "white space body", body: " \r\n\t"},
		{name: "204 empty", status: 204},
		{name: "error-code 200 string", body: successJSON},
		{name: "error-code 200 number", body: `{"error-code":200,"error-code-label":"success"}`},
		{name: "error-code 200 without label", body: `{"error-code":"200"}`},
		{name: "XML success", contentType: ctXML, body: xmlSuccess},
		{name: "XML success text/xml", contentType: "text/xml", body: xmlSuccess},
		{name: "2xx not auto-reload enabled", body: notEnabled, kind: KindAutoReloadDisabled},
		{name: "2xx authentication failed", body: authFailed, kind: KindAuthFailed},
		{name: "2xx 401 number", body: `{"error-code":401}`, kind: KindAuthFailed},
		{name: "2xx XML not auto-reload enabled", contentType: ctXML, body: xmlDisabled, kind: KindAutoReloadDisabled},
		{name: "2xx other error-code", body: `{"error-code":"420","error-code-label":"enhance your calm"}`,
			kind: KindMalformed},
		{name: "2xx error-code 420 topup failed", body: topUpFailed, kind: KindMalformed},
		{name: "2xx empty error-code", body: `{"error-code":""}`, kind: KindMalformed},
		{name: "2xx no error-code", body: `{"error-code-label":"success"}`, kind: KindMalformed},
		{name: "2xx empty object", body: `{}`, kind: KindMalformed},
		// The contract's "200 (a string or a number)": the number 200 however
		// written (TestASuccessCodeIsSuccessHoweverItIsWritten has more).
		{name: "2xx error-code 200.0", body: `{"error-code":200.0}`},
		{name: "2xx error-code 200.5", body: `{"error-code":200.5}`, kind: KindMalformed},
		{name: "2xx error-code boolean", body: `{"error-code":true}`, kind: KindMalformed},
		{name: "2xx HTML", contentType: "text/html", body: `<html>ok</html>`, kind: KindMalformed},
		{name: "2xx plain text", contentType: "text/plain", body: `OK`, kind: KindMalformed},
		{name: "2xx XML wrong root", contentType: ctXML, body: `<html><error-code>200</error-code></html>`,
			kind: KindMalformed},
		{name: "2xx body not read whole", body: successJSON, bodyErr: true, kind: KindMalformed},
		{name: "401 not auto-reload enabled", status: 401, body: notEnabled, kind: KindAutoReloadDisabled},
		{name: "401 label in any case", status: 401, body: `{"error-code-label":" Not Auto-Reload Enabled "}`,
			kind: KindAutoReloadDisabled},
		{name: "401 XML not auto-reload enabled", status: 401, contentType: ctXML, body: xmlDisabled,
			kind: KindAutoReloadDisabled},
		{name: "401 authentication failed", status: 401, body: authFailed, kind: KindAuthFailed},
		{name: "401 empty", status: 401, kind: KindAuthFailed},
		{name: "401 garbage", status: 401, body: `<<<`, kind: KindAuthFailed},
		{name: "401 unread body", status: 401, body: notEnabled, bodyErr: true, kind: KindAuthFailed},
		{name: "429", status: 429, body: successJSON, kind: KindRateLimited},
		{name: "400", status: 400, kind: KindClient},
		{name: "403", status: 403, body: notEnabled, kind: KindClient},
		{name: "500", status: 500, body: successJSON, kind: KindServer},
		{name: "502", status: 502, kind: KindServer},
		{name: "301", status: 301, kind: KindMalformed},
		{name: "100", status: 100, kind: KindMalformed},
	}
}

// topUp401Cases are 401 answers whose body, not the status, says what
// failed.
func topUp401Cases() []topUpCase {
	return []topUpCase{
		// Vonage's Java SDK fixture for a failed top-up.
		{name: "401 error-code 420", status: 401, body: topUpFailed, kind: KindClient},
		{name: "401 error-code 420 number", status: 401, body: `{"error-code":420}`, kind: KindClient},
		{name: "401 XML error-code 420", status: 401, contentType: ctXML,
			body: `<response><error-code>420</error-code><error-code-label>topup failed</error-code-label></response>`,
			kind: KindClient},
		{name: "401 error-code 420 auto-reload label", status: 401,
			body: `{"error-code":"420","error-code-label":"not auto-reload enabled"}`, kind: KindAutoReloadDisabled},
		{name: "401 error-code 200 explains nothing", status: 401, body: successJSON, kind: KindAuthFailed},
		{name: "401 error-code null", status: 401, body: `{"error-code":null}`, kind: KindAuthFailed},
		{name: "401 no error-code", status: 401, body: `{"error-code-label":"topup failed"}`, kind: KindAuthFailed},
	}
}

func TestParseTopUp(t *testing.T) {
	for _, tc := range append(topUpCases(), topUp401Cases()...) {
		t.Run(tc.name, func(t *testing.T) {
			e := parseTopUp(testAnswer(tc.status, tc.contentType, tc.body, tc.bodyErr))
			if tc.kind == 0 {
				if e != nil {
					t.Fatalf("error %v (%s), want succeeded", e, e.Kind)
				}
				return
			}
			if e == nil {
				t.Fatalf("read as succeeded, want %s", tc.kind)
			}
			if e.Kind != tc.kind || e.Status != statusOr200(tc.status) {
				t.Errorf("got %s with status %d (%v), want %s with status %d",
					e.Kind, e.Status, e, tc.kind, statusOr200(tc.status))
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 7 ", 7 * time.Second},
		{"600", 10 * time.Minute},
		{"3600", time.Hour},
		{"86400", MaxRetryAfter},
		{"86401", MaxRetryAfter},
		{"99999999999999999999999", MaxRetryAfter},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(2 * time.Hour).Format(http.TimeFormat), 2 * time.Hour},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
		{now.Add(2 * time.Minute).Format(time.RFC850), 2 * time.Minute},
		{now.Add(3 * time.Minute).Format(time.ANSIC), 3 * time.Minute},
	} {
		if got := parseRetryAfter(tc.header, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}
}
