package vonage

import (
	"errors"
	"testing"
)

// balanceCase is one answer to get-balance and what it must be read as:
// a balance (kind 0) or an error of that kind.
type balanceCase struct {
	name        string
	status      int
	contentType string
	body        string
	bodyErr     bool
	kind        Kind
	value       string // exact decimal, when kind is 0
	autoReload  bool
}

const (
	ctJSON = "application/json"
	ctXML  = "application/xml"
)

func balanceJSONCases() []balanceCase {
	return []balanceCase{
		{name: "spec example", body: `{"value": 10.17127500, "autoReload": false}`, value: "10.171275"},
		{name: "auto-reload on", body: `{"value": 10.17127500, "autoReload": true}`, value: "10.171275", autoReload: true},
		{name: "quoted decimal", body: `{"value": "10.17127500", "autoReload": false}`, value: "10.171275"},
		{name: "exact 0.3 not 0.1+0.2", body: `{"value": 0.3, "autoReload": true}`, value: "0.3", autoReload: true},
		{name: "float64 noise kept", body: `{"value": 0.30000000000000004, "autoReload": true}`,
			value: "0.30000000000000004", autoReload: true},
		{name: "beyond float64", body: `{"value": 12345678901234567.89, "autoReload": true}`,
			value: "12345678901234567.89", autoReload: true},
		{name: "negative", body: `{"value": -3.25, "autoReload": false}`, value: "-3.25"},
		{name: "negative quoted", body: `{"value": "-0.00000001", "autoReload": false}`, value: "-0.00000001"},
		{name: "zero", body: `{"value": 0, "autoReload": false}`, value: "0"},
		{name: "exponent", body: `{"value": 1.5e2, "autoReload": false}`, value: "150"},
		{name: "error-code 200 string", body: `{"error-code":"200","value":5,"autoReload":true}`, value: "5", autoReload: true},
		{name: "error-code 200 number", body: `{"error-code":200,"value":5,"autoReload":true}`, value: "5", autoReload: true},
		{name: "charset parameter", contentType: "application/json; charset=utf-8",
			body: `{"value": 1, "autoReload": true}`, value: "1", autoReload: true},
		{name: "no content type", contentType: "-", body: `{"value": 1, "autoReload": true}`, value: "1", autoReload: true},
		{name: "error-code 401 with status 200",
			body: `{"error-code":"401","error-code-label":"authentication failed"}`, kind: KindAuthFailed},
		{name: "error-code 401 number", body: `{"error-code":401,"error-code-label":"authentication failed"}`,
			kind: KindAuthFailed},
		{name: "error-code 401 beside a balance",
			body: `{"error-code":"401","value":10,"autoReload":true}`, kind: KindAuthFailed},
		{name: "error-code 401 auto-reload label",
			body: `{"error-code":"401","error-code-label":"not auto-reload enabled"}`, kind: KindAutoReloadDisabled},
		{name: "error-code 500", body: `{"error-code":"500","value":10,"autoReload":true}`, kind: KindMalformed},
		{name: "error-code null", body: `{"error-code":null,"value":10,"autoReload":true}`, kind: KindMalformed},
		{name: "missing value", body: `{"autoReload": true}`, kind: KindMalformed},
		{name: "missing autoReload", body: `{"value": 1}`, kind: KindMalformed},
		{name: "null autoReload", body: `{"value": 1, "autoReload": null}`, kind: KindMalformed},
		{name: "quoted autoReload", body: `{"value": 1, "autoReload": "false"}`, kind: KindMalformed},
		{name: "numeric autoReload", body: `{"value": 1, "autoReload": 0}`, kind: KindMalformed},
		{name: "null value", body: `{"value": null, "autoReload": true}`, kind: KindMalformed},
		{name: "boolean value", body: `{"value": true, "autoReload": true}`, kind: KindMalformed},
		{name: "object value", body: `{"value": {"amount": 1}, "autoReload": true}`, kind: KindMalformed},
		{name: "word value", body: `{"value": "ten", "autoReload": true}`, kind: KindMalformed},
		{name: "padded string value", body: `{"value": " 10", "autoReload": true}`, kind: KindMalformed},
		{name: "hex string value", body: `{"value": "0x10", "autoReload": true}`, kind: KindMalformed},
		{name: "NaN string value", body: `{"value": "NaN", "autoReload": true}`, kind: KindMalformed},
		{name: "huge exponent", body: `{"value": 1e999, "autoReload": true}`, kind: KindMalformed},
		{name: "key case differs", body: `{"Value": 1, "AutoReload": true}`, kind: KindMalformed},
		{name: "array", body: `[]`, kind: KindMalformed},
		{name: "null", body: `null`, kind: KindMalformed},
		{name: "empty", body: ``, kind: KindMalformed},
		{name: "cut short", body: `{"value": 1, "autoRel`, kind: KindMalformed},
		{name: "trailing garbage", body: `{"value": 1, "autoReload": true} x`, kind: KindMalformed},
		{name: "HTML", contentType: "text/html", body: `<html><body>Service Unavailable</body></html>`,
			kind: KindMalformed},
		{name: "body not read whole", body: `{"value": 1, "autoReload": true}`, bodyErr: true, kind: KindMalformed},
	}
}

func balanceXMLCases() []balanceCase {
	return []balanceCase{
		{name: "XML spec example", contentType: ctXML, body: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<accountBalance>
  <value>10.17127500</value>
  <autoReload>false</autoReload>
</accountBalance>`, value: "10.171275"},
		{name: "text/xml", contentType: "text/xml; charset=UTF-8",
			body:  `<accountBalance><value>-2.5</value><autoReload>true</autoReload></accountBalance>`,
			value: "-2.5", autoReload: true},
		{name: "XML error-code 401", contentType: ctXML,
			body: `<accountBalance><error-code>401</error-code><error-code-label>authentication failed</error-code-label></accountBalance>`,
			kind: KindAuthFailed},
		{name: "XML error-code 401 in a response root", contentType: ctXML,
			body: `<response><error-code>401</error-code></response>`, kind: KindAuthFailed},
		{name: "XML wrong root", contentType: ctXML,
			body: `<balance><value>1</value><autoReload>true</autoReload></balance>`, kind: KindMalformed},
		{name: "XML autoReload yes", contentType: ctXML,
			body: `<accountBalance><value>1</value><autoReload>yes</autoReload></accountBalance>`, kind: KindMalformed},
		{name: "XML empty autoReload", contentType: ctXML,
			body: `<accountBalance><value>1</value><autoReload/></accountBalance>`, kind: KindMalformed},
		{name: "XML missing autoReload", contentType: ctXML,
			body: `<accountBalance><value>1</value></accountBalance>`, kind: KindMalformed},
		{name: "XML nested value", contentType: ctXML,
			body: `<accountBalance><value>1<x/>0</value><autoReload>true</autoReload></accountBalance>`, kind: KindMalformed},
		{name: "XML text before root", contentType: ctXML,
			body: `oops<accountBalance><value>1</value><autoReload>true</autoReload></accountBalance>`, kind: KindMalformed},
		{name: "XML two roots", contentType: ctXML,
			body: `<accountBalance><value>1</value><autoReload>true</autoReload></accountBalance><x/>`, kind: KindMalformed},
		{name: "JSON sent as XML", contentType: ctXML, body: balanceJSON, kind: KindMalformed},
		{name: "XML sent as JSON", contentType: ctJSON,
			body: `<accountBalance><value>1</value><autoReload>true</autoReload></accountBalance>`, kind: KindMalformed},
	}
}

func balanceStatusCases() []balanceCase {
	return []balanceCase{
		{name: "401 JSON", status: 401, body: `{"error-code":"401","error-code-label":"authentication failed"}`,
			kind: KindAuthFailed},
		{name: "401 with a balance", status: 401, body: balanceJSON, kind: KindAuthFailed},
		{name: "401 auto-reload label", status: 401, body: `{"error-code-label":"not auto-reload enabled"}`,
			kind: KindAutoReloadDisabled},
		{name: "401 HTML", status: 401, contentType: "text/html", body: `<h1>401</h1>`, kind: KindAuthFailed},
		{name: "401 unread body", status: 401, body: `{"error-code-label":"not auto-reload enabled"}`,
			bodyErr: true, kind: KindAuthFailed},
		{name: "401 error-code 420", status: 401, body: `{"error-code":"420","error-code-label":"topup failed"}`,
			kind: KindClient},
		{name: "429", status: 429, kind: KindRateLimited},
		{name: "400", status: 400, kind: KindClient},
		{name: "404", status: 404, body: balanceJSON, kind: KindClient},
		{name: "500", status: 500, kind: KindServer},
		{name: "503 with a balance", status: 503, body: balanceJSON, kind: KindServer},
		{name: "503 unread body", status: 503, bodyErr: true, kind: KindServer},
		{name: "302", status: 302, body: balanceJSON, kind: KindMalformed},
		{name: "101", status: 101, kind: KindMalformed},
		{name: "204 empty", status: 204, kind: KindMalformed},
		{name: "203 with a balance", status: 203, body: balanceJSON, value: "10.171275", autoReload: true},
	}
}

func TestParseBalance(t *testing.T) {
	var cases []balanceCase
	cases = append(cases, balanceJSONCases()...)
	cases = append(cases, balanceXMLCases()...)
	cases = append(cases, balanceStatusCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, e := parseBalance(tc.answer())
			if tc.kind != 0 {
				if e == nil {
					t.Fatalf("read as balance %s/%t, want %s", b.Value, b.AutoReload, tc.kind)
				}
				if e.Kind != tc.kind || e.Status != tc.wantStatus() || b != (Balance{}) {
					t.Errorf("got %+v (%v) and balance %+v, want %s with status %d", *e, e, b, tc.kind, tc.wantStatus())
				}
				return
			}
			if e != nil {
				t.Fatalf("error %v, want balance %s", e, tc.value)
			}
			if b.Value.String() != tc.value || b.AutoReload != tc.autoReload {
				t.Errorf("balance = %s/%t, want %s/%t", b.Value, b.AutoReload, tc.value, tc.autoReload)
			}
		})
	}
}

// answer builds the answer of a case; status 0 means 200 and content type
// "" means JSON, "-" none.
func (tc balanceCase) answer() answer {
	return testAnswer(tc.status, tc.contentType, tc.body, tc.bodyErr)
}

func (tc balanceCase) wantStatus() int { return statusOr200(tc.status) }

func testAnswer(status int, contentType, body string, bodyErr bool) answer {
	switch contentType {
	case "":
		contentType = ctJSON
	case "-":
		contentType = ""
	}
	a := answer{status: statusOr200(status), contentType: contentType, body: []byte(body)}
	if bodyErr {
		a.body, a.bodyErr = nil, errors.New("read answer: unexpected EOF")
	}
	return a
}

func statusOr200(status int) int {
	if status == 0 {
		return 200
	}
	return status
}
