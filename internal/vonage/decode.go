package vonage

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// valueType is the type of a field of an answer body.
type valueType int

const (
	// typeText: a JSON string, or the text of an XML element.
	typeText valueType = iota + 1
	// typeNumber: a JSON number.
	typeNumber
	// typeBool: a JSON true or false.
	typeBool
	// typeOther: a JSON null, object or array.
	typeOther
)

// value is a field of an answer body, as written there.
type value struct {
	typ  valueType
	text string
	// raw is the JSON text of a typeOther value, which explain reads.
	raw json.RawMessage
}

// document is an answer body decoded into its top-level fields. Vonage's
// JSON answers are flat objects; its XML answers are one root element whose
// children hold the same fields.
type document struct {
	// root is the XML root element's name, empty for JSON.
	root   string
	fields map[string]value
}

// field returns the named field, if the body has it.
func (d document) field(name string) (value, bool) {
	v, ok := d.fields[name]
	return v, ok
}

// text returns a field's text, or "" unless it is a string or a number.
func (d document) text(name string) string {
	v, ok := d.fields[name]
	if !ok || (v.typ != typeText && v.typ != typeNumber) {
		return ""
	}
	return v.text
}

// decodeDocument decodes a body as XML when its media type says so
// (application/xml, text/xml) and as JSON otherwise.
func decodeDocument(contentType string, body []byte) (document, error) {
	if isXML(contentType) {
		return decodeXML(body)
	}
	return decodeJSON(contentType, body)
}

func isXML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	return mt == "application/xml" || mt == "text/xml"
}

// decodeJSON decodes a JSON object. Its errors never carry the json
// package's own, which name Go types (see notJSONObject).
func decodeJSON(contentType string, body []byte) (document, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return document{}, notJSONObject(contentType, body)
	}
	if raw == nil {
		return document{}, unreadable("answer is JSON null, not a JSON object")
	}
	doc := document{fields: make(map[string]value, len(raw))}
	for name, r := range raw {
		v, err := jsonValue(r)
		if err != nil {
			return document{}, fmt.Errorf("answer field %s is not a readable JSON string", quote(name))
		}
		doc.fields[name] = v
	}
	return doc, nil
}

func jsonValue(r json.RawMessage) (value, error) {
	if len(r) == 0 {
		return value{typ: typeOther}, nil
	}
	switch c := r[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return value{}, err
		}
		return value{typ: typeText, text: s}, nil
	case c == 't' || c == 'f':
		return value{typ: typeBool, text: string(r)}, nil
	case c == '-' || '0' <= c && c <= '9':
		return value{typ: typeNumber, text: string(r)}, nil
	default:
		return value{typ: typeOther, raw: r}, nil
	}
}

// xmlDocument is one root element and the text of its children.
type xmlDocument struct {
	Fields []struct {
		XMLName xml.Name
		Text    string `xml:",chardata"`
		// Nested elements make the field something other than text.
		Nested []struct{} `xml:",any"`
	} `xml:",any"`
}

// decodeXML decodes one XML root element. Its errors never carry the xml
// package's own (see notXML).
func decodeXML(body []byte) (document, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	// The decoder reads only UTF-8; this reader records what else the
	// answer declared, for notXML to name it.
	var charset string
	dec.CharsetReader = func(label string, _ io.Reader) (io.Reader, error) {
		charset = label
		return nil, errors.New("unsupported charset")
	}
	root, err := expectXMLRoot(dec)
	if err != nil {
		return document{}, notXML(err, charset)
	}
	var x xmlDocument
	if err := dec.DecodeElement(&x, &root); err != nil {
		return document{}, notXML(err, charset)
	}
	if err := expectXMLEnd(dec); err != nil {
		return document{}, notXML(err, charset)
	}
	doc := document{root: root.Name.Local, fields: make(map[string]value, len(x.Fields))}
	for _, f := range x.Fields {
		v := value{typ: typeText, text: strings.TrimSpace(f.Text)}
		if len(f.Nested) > 0 {
			v = value{typ: typeOther}
		}
		doc.fields[f.XMLName.Local] = v
	}
	return doc, nil
}

// expectXMLRoot returns the root element's start, failing if anything but
// white space, comments and processing instructions comes before it.
func expectXMLRoot(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, unreadable("answer has no XML root element")
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, unreadable("answer has text before its XML root element")
			}
		default:
			return xml.StartElement{}, unreadable("answer has a declaration before its XML root element")
		}
	}
}

// expectXMLEnd fails unless only white space, comments and processing
// instructions follow the root element.
func expectXMLEnd(dec *xml.Decoder) error {
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return unreadable("answer has text after its XML root element")
			}
		default:
			return unreadable("answer has more than one XML root element")
		}
	}
}
