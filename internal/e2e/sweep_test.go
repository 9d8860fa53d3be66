package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// sweep collects every byte the binary wrote in one test (its output, its
// state folder, its metrics, its notifications, and in a fleet its probes'
// bodies and every value in Redis) and checks that no secret is in any of
// it.
type sweep struct {
	mu     sync.Mutex
	items  []artifact
	counts map[string]int
}

type artifact struct {
	name string
	data []byte
}

func (s *sweep) add(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, artifact{name: name, data: bytes.Clone(data)})
}

func (s *sweep) count(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[kind]++
}

// notifications is how many notification bodies were swept.
func (s *sweep) notifications() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts["notification"]
}

// secretForms lists what must never appear: the API secret, the trx, the
// webhook token, the Basic token and the fleet's Redis passwords (the
// server's and the wrong one a test configures), each raw and in the forms a
// URL query or path, JSON or a Go quoted string would give it, with upper and
// lower case percent escapes.
func secretForms() []string {
	basic := base64.StdEncoding.EncodeToString([]byte(testKey + ":" + testSecret))
	var forms []string
	for _, s := range []string{testSecret, testTRX, notifyToken, basic, redisPassword, redisWrongPassword} {
		q := url.QueryEscape(s)
		j, _ := json.Marshal(s)
		for _, f := range []string{s, q, strings.ReplaceAll(q, "+", "%20"), url.PathEscape(s),
			strings.Trim(string(j), `"`), strings.Trim(strconv.QuoteToASCII(s), `"`)} {
			forms = append(forms, f, lowerEscapes(f))
		}
	}
	slices.Sort(forms)
	return slices.Compact(forms)
}

// lowerEscapes writes the hex digits of every %XX escape in lower case.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerASCII(b[i+1]), lowerASCII(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// leaks returns, for each artifact holding a secret form, its name and the
// form.
func (s *sweep) leaks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	forms := secretForms()
	for _, a := range s.items {
		for _, f := range forms {
			if bytes.Contains(a.data, []byte(f)) {
				out = append(out, a.name+" holds "+f)
			}
		}
	}
	return out
}

// check fails the test for every leak, and for a sweep that saw nothing.
func (s *sweep) check(t *testing.T) {
	t.Helper()
	for _, l := range s.leaks() {
		t.Errorf("secret sweep: %s", l)
	}
	s.mu.Lock()
	n, bytesSeen := len(s.items), 0
	for _, a := range s.items {
		bytesSeen += len(a.data)
	}
	s.mu.Unlock()
	if bytesSeen == 0 {
		t.Errorf("secret sweep: nothing to sweep")
	}
	t.Logf("secret sweep: %d artifacts, %d bytes, %d notifications: clean unless reported", n, bytesSeen, s.notifications())
}

// The sweep must find every form it looks for, and look for the forms the
// secret takes in a query string, or a clean sweep proves nothing.
func TestSweepFindsEveryForm(t *testing.T) {
	t.Parallel()
	for _, f := range secretForms() {
		s := &sweep{}
		s.add("probe", []byte(`{"msg":"x","error":"GET /account?api_secret=`+f+`&x=1"}`))
		if len(s.leaks()) == 0 {
			t.Errorf("the sweep misses %q", f)
		}
	}
	for _, must := range []string{testSecret, "Xq7%2Fs3cr3t%2Be2e%3DVw", "Xq7%2fs3cr3t%2be2e%3dVw", testTRX, notifyToken, redisPassword, redisWrongPassword} {
		if !slices.Contains(secretForms(), must) {
			t.Errorf("the sweep does not look for %q", must)
		}
	}
}
