package secrettest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The secrets of the sweeps this package replaces: their characters are
// those a URL, JSON and HTML escape ("/", "+", "=", `"`, "<", "&", a space,
// non-ASCII).
const (
	e2eSecret   = "Xq7/s3cr3t+e2e=Vw"
	monthSecret = "Sup3r-S3cret/+=value"
	hostile     = `Zq7"<&é‹😀 x`
)

// Every form of the old sweeps must be one of Forms, or a sweep migrated to
// this package would look for less than it did. Each row lists the forms
// one sweep computed, the way it computed them; the sweep matches in any
// letter case, so a form counts as in the union when one of Forms equals it
// but for case.
func TestFormsHoldEveryFormTheOldSweepsListed(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte("e2ekey42:" + e2eSecret))
	j, _ := json.Marshal(e2eSecret)
	for _, tc := range []struct {
		sweep   string
		secrets []string
		want    []string
	}{
		{"internal/e2e secretForms", []string{e2eSecret, basic}, []string{
			e2eSecret, q(e2eSecret), strings.ReplaceAll(q(e2eSecret), "+", "%20"), url.PathEscape(e2eSecret),
			strings.Trim(string(j), `"`), strings.Trim(strconv.QuoteToASCII(e2eSecret), `"`),
			"Xq7%2fs3cr3t%2be2e%3dVw", basic,
		}},
		{"internal/watchdog monthSweep and acceptance assertNoSecret, cmd assertClean", []string{monthSecret}, []string{
			monthSecret, q(monthSecret), url.PathEscape(monthSecret), "Sup3r-S3cret", "Sup3r-S3cret%2F%2B%3Dvalue",
		}},
		{"internal/logging logEverything", []string{monthSecret, hostile}, []string{
			q(hostile), url.PathEscape(hostile), strings.Trim(strconv.Quote(hostile), `"`),
		}},
		{"internal/vonage assertNoSecrets and redactedForms", []string{hostile}, []string{
			strings.ToLower(q(hostile)), `Zq7&#34;&lt;&amp;é‹😀 x`, `Zq7\"\u003c\u0026\u00e9\u2039\ud83d\ude00 x`,
			`Zq7\"<&\u00e9\u2039\ud83d\ude00 x`, `Zq7\"\u003C\u0026\u00E9\u2039\uD83D\uDE00 x`, `Zq7%22%3C%26%C3%A9%E2%80%B9%F0%9F%98%80%20x`,
		}},
		{"internal/ledger redis URL parse", []string{"s3cret-Pa55w0rd"}, []string{"s3cret-Pa55w0rd", q("s3cret-Pa55w0rd")}},
	} {
		forms := Forms(tc.secrets...)
		for _, w := range tc.want {
			if !slices.ContainsFunc(forms, func(f string) bool { return strings.EqualFold(f, w) }) {
				t.Errorf("%s: Forms(%q) lacks %q", tc.sweep, tc.secrets, w)
			}
		}
	}
}

// Each form, found inside a log line, is a leak, in any letter case;
// without a form there is none.
func TestSweepFindsEveryForm(t *testing.T) {
	forms := Forms(e2eSecret, monthSecret, hostile)
	if len(forms) < 25 {
		t.Fatalf("%d forms of three secrets: %q", len(forms), forms)
	}
	for _, f := range forms {
		for _, text := range []string{f, strings.ToUpper(f), strings.ToLower(f)} {
			s := New(e2eSecret, monthSecret, hostile)
			s.Add("probe", []byte(`{"msg":"x","error":"GET /account?api_secret=`+text+`&x=1"}`))
			if len(s.Leaks()) == 0 {
				t.Errorf("the sweep misses %q", text)
			}
		}
	}
	s := New(e2eSecret, monthSecret)
	s.Add("clean", []byte(`{"msg":"decision","key":"e2ekey42","s3cr3t":"Xq7","part":"Sup3r-S3cre","v":"value"}`))
	if l := s.Leaks(); len(l) != 0 {
		t.Errorf("a line with no form of a secret is a leak: %q", l)
	}
}

// The longest run no escape changes is a form only when it is as long as
// the shortest secret the configuration accepts.
func TestFormsHoldALongRunOnly(t *testing.T) {
	if !slices.Contains(Forms("ab/Long-run_8.~/cd"), "Long-run_8.~") {
		t.Errorf("Forms lacks the run of 12 characters: %q", Forms("ab/Long-run_8.~/cd"))
	}
	for _, f := range Forms(e2eSecret) {
		if f == "s3cr3t" {
			t.Errorf("Forms holds the run %q of 6 characters", f)
		}
	}
	if got := Forms("", ""); len(got) != 0 {
		t.Errorf("Forms of empty secrets = %q, want none", got)
	}
}

// tb records what a check reports.
type tb struct {
	testing.TB
	errors []string
}

func (r *tb) Helper()                        {}
func (r *tb) Logf(string, ...any)            {}
func (r *tb) Errorf(format string, a ...any) { r.errors = append(r.errors, fmt.Sprintf(format, a...)) }

// Check fails a sweep that saw nothing, and one that found a leak, naming
// where; it passes a clean sweep of something.
func TestSweepCheckFailsALeakAndASweepOfNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items map[string]string
		want  string
	}{
		{"nothing", nil, "nothing to sweep"},
		{"empty artifacts", map[string]string{"stdout": "", "metrics": ""}, "nothing to sweep"},
		{"a leak", map[string]string{"notification /hooks/x": `{"e":"` + q(monthSecret) + `"}`}, `notification /hooks/x holds "sup3r-s3cret%2f%2b%3dvalue"`},
		{"clean", map[string]string{"stdout": `{"msg":"decision"}`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(monthSecret)
			for name, data := range tc.items {
				s.Add(name, []byte(data))
			}
			r := &tb{}
			s.Check(r)
			got := strings.Join(r.errors, "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("Check reported %q, want %q", got, tc.want)
			}
		})
	}
	s := New(monthSecret)
	s.Add("notification a", []byte("x"))
	s.Add("notification b", []byte("y"))
	s.Add("metrics", []byte("z"))
	if n := s.Seen("notification "); n != 2 {
		t.Errorf("Seen(notification) = %d, want 2", n)
	}
}

func q(s string) string { return url.QueryEscape(s) }

// A secret echoed with another language's or Unicode's case rules is still
// the secret: Turkish casing (İ, ı), the Kelvin sign and the long s. The
// redactor folds them (internal/vonage redact_fold_test.go); the sweep
// that checks it must too.
func TestSweepFindsASecretWhateverItsCaseFolding(t *testing.T) {
	const secret = "sk1-kiwi-secret"
	for _, echo := range []string{
		"SK1-KİWİ-SECRET",           // Turkish upper case
		"sk1-kıwı-secret",           // Turkish lower case of I
		"s\u212A1-\u212Aiwi-secret", // Kelvin sign
		"\u017Fk1-kiwi-\u017Fecret", // long s
	} {
		s := New(secret)
		s.Add("probe", []byte(`{"msg":"x","error":"`+echo+`"}`))
		if len(s.Leaks()) == 0 {
			t.Errorf("the sweep misses %q", echo)
		}
	}
}
