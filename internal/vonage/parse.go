package vonage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// maxExponent bounds the decimal exponent of a balance, so that a hostile
// answer such as 1e9999 cannot make later arithmetic or printing costly.
const maxExponent = 100

// The XML root elements of the two answers.
const (
	rootBalance = "accountBalance"
	rootTopUp   = "response"
)

// parseBalance reads a get-balance answer. An answer with an error-code
// other than 200 is never read as a balance.
func parseBalance(a answer) (Balance, *Error) {
	if e := statusError(a); e != nil {
		return Balance{}, e
	}
	if a.bodyErr != nil {
		return Balance{}, malformed(a.status, a.bodyErr)
	}
	doc, err := decodeDocument(a.contentType, a.body)
	if err != nil {
		return Balance{}, malformed(a.status, err)
	}
	if e := checkErrorCode(a.status, doc); e != nil {
		return Balance{}, e
	}
	b, err := balanceOf(doc)
	if err != nil {
		return Balance{}, malformed(a.status, err)
	}
	return b, nil
}

// checkErrorCode returns the error an error-code other than 200 stands for,
// or nil when the document has none or 200.
func checkErrorCode(status int, doc document) *Error {
	v, ok := doc.field("error-code")
	if !ok {
		return nil
	}
	if v.typ != typeText && v.typ != typeNumber {
		return malformed(status, errors.New("error-code is not a string or a number"))
	}
	if codeIs(v.text, 200) {
		return nil
	}
	return errorCodeError(status, doc)
}

func balanceOf(doc document) (Balance, error) {
	if doc.root != "" && doc.root != rootBalance {
		return Balance{}, fmt.Errorf("answer has XML root element %s, want %s", quote(doc.root), quote(rootBalance))
	}
	v, ok := doc.field("value")
	if !ok {
		return Balance{}, errors.New("answer has no value")
	}
	amount, err := parseAmount(v)
	if err != nil {
		return Balance{}, err
	}
	r, ok := doc.field("autoReload")
	if !ok {
		return Balance{}, errors.New("answer has no autoReload")
	}
	autoReload, err := parseBool(r, doc.root != "")
	if err != nil {
		return Balance{}, err
	}
	return Balance{Value: amount, AutoReload: autoReload}, nil
}

// parseAmount reads a balance exactly: a JSON number, or a string (JSON or
// XML text) written as a JSON number.
func parseAmount(v value) (decimal.Decimal, error) {
	if v.typ != typeText && v.typ != typeNumber {
		return decimal.Decimal{}, errors.New("value is not a number")
	}
	if !isJSONNumber(v.text) {
		return decimal.Decimal{}, fmt.Errorf("value %s is not a decimal number", quote(v.text))
	}
	d, err := decimal.NewFromString(v.text)
	if err != nil || d.Exponent() < -maxExponent || d.Exponent() > maxExponent {
		return decimal.Decimal{}, fmt.Errorf("value %s is out of range", quote(v.text))
	}
	return d, nil
}

// isJSONNumber reports whether s is exactly one JSON number, nothing around.
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	last := s[len(s)-1]
	return '0' <= last && last <= '9' && json.Valid([]byte(s))
}

// parseBool reads autoReload: a JSON boolean, or in XML the text true or
// false.
func parseBool(v value, xmlText bool) (bool, error) {
	ok := v.typ == typeBool || (xmlText && v.typ == typeText)
	switch {
	case ok && v.text == "true":
		return true, nil
	case ok && v.text == "false":
		return false, nil
	}
	return false, errors.New("autoReload is not a boolean")
}

// parseTopUp reads a top-up answer: nil when it succeeded, that is a 2xx
// whose body is empty (white space only) or has error-code 200 (a string or a
// number).
func parseTopUp(a answer) *Error {
	if e := statusError(a); e != nil {
		return e
	}
	if a.bodyErr != nil {
		return malformed(a.status, a.bodyErr)
	}
	if len(bytes.Trim(a.body, " \t\r\n")) == 0 {
		return nil
	}
	doc, err := decodeDocument(a.contentType, a.body)
	if err != nil {
		return malformed(a.status, err)
	}
	if _, ok := doc.field("error-code"); !ok {
		return malformed(a.status, errors.New("answer has no error-code"))
	}
	if e := checkErrorCode(a.status, doc); e != nil {
		return e
	}
	if doc.root != "" && doc.root != rootTopUp {
		return malformed(a.status, fmt.Errorf("answer has XML root element %s, want %s", quote(doc.root), quote(rootTopUp)))
	}
	return nil
}

func malformed(status int, err error) *Error {
	return &Error{Kind: KindMalformed, Status: status, Err: err}
}
