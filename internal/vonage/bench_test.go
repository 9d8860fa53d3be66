package vonage

import (
	"net/http"
	"testing"
)

func BenchmarkGetBalance(b *testing.B) {
	f := newFake(b, answerWith(http.StatusOK, ctJSON, balanceJSON))
	c := newTestClient(b, testOptions(f.URL))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetBalance(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseBalance(b *testing.B) {
	for _, tc := range []struct{ name, contentType, body string }{
		{"json", ctJSON, balanceJSON},
		{"xml", ctXML, `<accountBalance><value>10.17127500</value><autoReload>false</autoReload></accountBalance>`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := answer{status: http.StatusOK, contentType: tc.contentType, body: []byte(tc.body)}
			b.ReportAllocs()
			for b.Loop() {
				if _, e := parseBalance(a); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}
