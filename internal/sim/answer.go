package sim

import (
	"encoding/json"
	"encoding/xml"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// The content types answered.
const (
	contentJSON = "application/json;charset=UTF-8"
	contentXML  = "application/xml;charset=UTF-8"
	contentText = "text/plain; charset=utf-8"
)

// xmlHeader is the declaration of the spec's XML examples.
const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

// XML roots, as the spec's schemas name them.
const (
	rootBalance  = "accountBalance"
	rootResponse = "response"
)

// The error-code-label values of the spec.
const (
	labelSuccess    = "success"
	labelAuthFailed = "authentication failed"
	labelNoReload   = "not auto-reload enabled"
)

// answer is an HTTP answer to send.
type answer struct {
	status      int
	contentType string
	body        []byte
	retryAfter  int
}

type jsonBalance struct {
	Value      json.Number `json:"value"`
	AutoReload bool        `json:"autoReload"`
}

type xmlBalance struct {
	XMLName    xml.Name `xml:"accountBalance"`
	Value      string   `xml:"value"`
	AutoReload bool     `xml:"autoReload"`
}

type jsonCode struct {
	Code  string `json:"error-code"`
	Label string `json:"error-code-label"`
}

type xmlCode struct {
	XMLName xml.Name
	Code    string `xml:"error-code"`
	Label   string `xml:"error-code-label"`
}

// balanceAnswer is the 200 of get-balance; value is a JSON number written
// with 8 decimal places, like 10.17127500.
func balanceAnswer(v decimal.Decimal, autoReload bool, asXML bool) answer {
	value := v.StringFixed(balancePlaces)
	if asXML {
		return encodeXML(http.StatusOK, xmlBalance{Value: value, AutoReload: autoReload})
	}
	return encodeJSON(http.StatusOK, jsonBalance{Value: json.Number(value), AutoReload: autoReload})
}

// codeAnswer is an {"error-code", "error-code-label"} answer; the code is
// the status.
func codeAnswer(status int, root, label string, asXML bool) answer {
	code := strconv.Itoa(status)
	if asXML {
		return encodeXML(status, xmlCode{XMLName: xml.Name{Local: root}, Code: code, Label: label})
	}
	return encodeJSON(status, jsonCode{Code: code, Label: label})
}

func topUpAnswer(res Result, asXML bool) answer {
	switch res {
	case ResultApplied:
		return codeAnswer(http.StatusOK, rootResponse, labelSuccess, asXML)
	case ResultAutoReloadDisabled:
		return codeAnswer(http.StatusUnauthorized, rootResponse, labelNoReload, asXML)
	}
	return codeAnswer(http.StatusUnauthorized, rootResponse, labelAuthFailed, asXML)
}

func textAnswer(status int) answer {
	return answer{status: status, contentType: contentText, body: []byte(http.StatusText(status) + "\n")}
}

func encodeJSON(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sim: encode json: " + err.Error())
	}
	return answer{status: status, contentType: contentJSON, body: b}
}

func encodeXML(status int, v any) answer {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		panic("sim: encode xml: " + err.Error())
	}
	return answer{status: status, contentType: contentXML, body: append([]byte(xmlHeader), b...)}
}

// malformed keeps the content type and only the first half of the body.
func malformed(ans answer) answer {
	return answer{status: http.StatusOK, contentType: ans.contentType, body: ans.body[:len(ans.body)/2]}
}

// deliveredStatus is the status that reaches the client when f spoils an
// answer of status; 0 when none does.
func deliveredStatus(f Fault, status int) int {
	switch f {
	case FaultAppliedNoAnswer, FaultResetAfterApply:
		return 0
	case FaultAppliedServerError:
		return http.StatusInternalServerError
	case FaultMalformed:
		return http.StatusOK
	}
	return status
}

// deliver sends ans, spoiled by c's after-processing fault if it has one.
func (a *Account) deliver(w http.ResponseWriter, r *http.Request, c *call, ans answer) {
	switch c.fault {
	case FaultAppliedNoAnswer:
		a.hang(r)
	case FaultResetAfterApply:
		reset(w)
	case FaultAppliedServerError:
		write(w, textAnswer(http.StatusInternalServerError))
	case FaultMalformed:
		write(w, malformed(ans))
	default:
		write(w, ans)
	}
}

// failEarly answers with c's before-processing fault.
func (a *Account) failEarly(w http.ResponseWriter, r *http.Request, c *call) {
	var ans answer
	switch c.fault {
	case FaultServerError:
		ans = textAnswer(http.StatusInternalServerError)
	case FaultUnavailable:
		ans = textAnswer(http.StatusServiceUnavailable)
	case FaultRateLimit:
		ans = textAnswer(http.StatusTooManyRequests)
		ans.retryAfter = c.retryAfter
	}
	a.recordEarly(c, ans.status)
	switch c.fault {
	case FaultNoAnswer:
		a.hang(r)
	case FaultReset:
		reset(w)
	default:
		write(w, ans)
	}
}

func write(w http.ResponseWriter, ans answer) {
	h := w.Header()
	h.Set("Content-Type", ans.contentType)
	h.Set("Content-Length", strconv.Itoa(len(ans.body)))
	if ans.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ans.retryAfter))
	}
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
}

// hang holds the request until the client goes away or the server stops,
// then drops the connection without an answer.
func (a *Account) hang(r *http.Request) {
	a.hold(1)
	<-r.Context().Done()
	a.hold(-1)
	abort()
}

// reset closes the connection with a TCP RST. Without a hijackable TCP
// connection (HTTP/2, a recorder) it aborts the answer instead.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		abort()
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		abort()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// abort makes net/http drop the connection without writing an answer.
func abort() {
	panic(http.ErrAbortHandler)
}

// wantsXML reports whether the Accept header prefers XML to JSON; JSON wins
// ties and is the default.
func wantsXML(accept string) bool {
	var xmlQ, jsonQ float64
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				q = v
			}
		}
		switch mt {
		case "application/xml", "text/xml":
			xmlQ = max(xmlQ, q)
		case "application/json", "application/*", "*/*":
			jsonQ = max(jsonQ, q)
		}
	}
	return xmlQ > jsonQ
}
