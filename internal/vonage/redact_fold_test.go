package vonage

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// The secrets of the case-folding tests: each has an i and an I (Turkish
// casing), a k or a K (the Kelvin sign) and an s or an S (the long s), in
// mixed case, and, but for the key, a longest run shorter than itself.
const (
	foldKey    = "iKey-Kiwi-2024s"
	foldSecret = "Sk1-KiWi-secret/+="
	foldRun    = "Sk1-KiWi-secret" // longestRun(foldSecret)
	foldTRX    = "trx-kIsS-8ef2447e69"
)

// foldedEchoes are the ways a server that changes case may echo s, each a
// case of s whose runes may take more or fewer bytes than s's own: Turkish
// upper-casing (i as İ, two bytes), Turkish lower-casing of an upper-cased
// s (I as ı, two bytes), the Kelvin sign for k and K (three bytes), the long
// s for s and S (two bytes), and a mixture of all of these with ASCII
// cases. Every echo differs from s.
func foldedEchoes(s string) map[string]string {
	return map[string]string{
		"turkish upper":          strings.ToUpperSpecial(unicode.TurkishCase, s),
		"turkish lower of upper": strings.ToLowerSpecial(unicode.TurkishCase, strings.ToUpper(s)),
		"kelvin sign":            strings.NewReplacer("k", "\u212a", "K", "\u212a").Replace(s),
		"long s":                 strings.NewReplacer("s", "\u017f", "S", "\u017f").Replace(s),
		"mixture":                mixedCase(s),
	}
}

// mixedCase writes the n-th letter of s as one of its cases, chosen by n,
// among them İ and ı for i and I, the Kelvin sign for k and K and the long s
// for s and S.
func mixedCase(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		var cases []rune
		switch unicode.ToLower(r) {
		case 'i':
			cases = []rune{'\u0130', '\u0131', 'I', 'i'}
		case 'k':
			cases = []rune{'\u212a', 'K', 'k'}
		case 's':
			cases = []rune{'\u017f', 'S', 's'}
		default:
			cases = []rune{unicode.ToUpper(r), unicode.ToLower(r)}
		}
		b.WriteRune(cases[n%len(cases)])
		n++
	}
	return b.String()
}

// folded is s with every rune in one case, computed otherwise than the
// redactor does (upper-cased, then lower-cased, and İ as i): two runes that
// fold to each other, or that are i, I, İ or ı, come out the same.
func folded(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\u0130' {
			return 'i'
		}
		return unicode.ToLower(unicode.ToUpper(r))
	}, s)
}

// foldedLeaks lists the forms of secrets (secrettest.Forms) that text holds
// in any case, the folded ones included, which secrettest's sweep does not
// all see (it lower-cases, and ı and ſ are lower case already).
func foldedLeaks(text string, secrets ...string) []string {
	t := folded(text)
	var leaks []string
	for _, f := range secrettest.Forms(secrets...) {
		if strings.Contains(t, folded(f)) {
			leaks = append(leaks, f)
		}
	}
	return leaks
}

// TestTheRedactorFindsASecretWhateverItsCaseFolding: a server may echo a
// secret in a case whose letters take more or fewer bytes than the
// secret's (a Turkish upper-casing writes i as İ, a Turkish lower-casing
// writes I as ı; K, the Kelvin sign, folds to k; ſ, the long s, to s). The
// redactor compared byte slices as long as the secret with
// strings.EqualFold, so each of these echoes got through whole; the whole
// echo must go, and only the echo.
func TestTheRedactorFindsASecretWhateverItsCaseFolding(t *testing.T) {
	secrets := []string{foldKey, foldSecret, foldTRX}
	redact := NewRedactor(secrets...)
	echoed := map[string]string{
		"key": foldKey, "secret": foldSecret, "trx": foldTRX,
		"query-escaped secret": url.QueryEscape(foldSecret),
		"run of the secret":    foldRun,
	}
	for what, s := range echoed {
		for how, echo := range foldedEchoes(s) {
			if echo == s {
				t.Fatalf("%s of %s %q is the same text", how, what, s)
			}
			for _, tt := range []struct{ in, want string }{
				{echo, Redacted},
				{"said «" + echo + "», no more", "said «" + Redacted + "», no more"},
				{"a" + echo + "b" + echo, "a" + Redacted + "b" + Redacted},
			} {
				got := redact(tt.in)
				if got != tt.want {
					t.Errorf("%s, %s: redact(%q) = %q, want %q", what, how, tt.in, got, tt.want)
				}
				if l := foldedLeaks(got, secrets...); len(l) > 0 {
					t.Errorf("%s, %s: redact(%q) = %q still holds %q", what, how, tt.in, got, l)
				}
			}
		}
	}
}

// TestTheRedactorKeepsTextThatOnlyLooksLikeAFoldedSecret: folding makes
// more runes equal, not more text a secret: a folded echo with one
// character changed, or cut below minRun, stays as it was, and so do the
// letters that fold to no letter of the secret.
func TestTheRedactorKeepsTextThatOnlyLooksLikeAFoldedSecret(t *testing.T) {
	redact := NewRedactor(foldKey, foldSecret, foldTRX)
	for _, in := range []string{
		"İKEY-KİWİ-2025Ş",      // one digit changed, and Ş is no s
		"\u212aKEY-KIWI-2024S", // K for the i
		"SK1-KİW",              // a run shorter than minRun
		"trx-kısŞ-8ef2447e69",  // Ş (U+015E) is not S
		"ıııı İİİİ ſſſſ \u212a\u212a\u212a\u212a",
		"caf\xc3\xa9 \xff\xfe kiwi",
	} {
		if got := redact(in); got != in {
			t.Errorf("redact(%q) = %q, want it unchanged", in, got)
		}
	}
}

// TestTheRedactorFoldsTheSecretsOwnRunes: a secret with letters beyond ASCII
// comes back in another case too, with runes of other lengths: Turkish ı and
// ş upper-cased the usual way are I (one byte for two) and Ş; İ lower-cased
// the usual way is i. A secret holding a K or an ſ matches k and s. And an
// invalid byte in a secret stands for any invalid byte or U+FFFD, which an
// echo may have put in its place.
func TestTheRedactorFoldsTheSecretsOwnRunes(t *testing.T) {
	for _, tt := range []struct{ secret, in string }{
		{"Çağrı-Kılıç-2024", "ÇAĞRI-KILIÇ-2024"},
		{"Çağrı-Kılıç-2024", "çağri-kiliç-2024"},
		{"İstanbul-2024x", "istanbul-2024X"},
		{"İstanbul-2024x", "ISTANBUL-2024X"},
		{"\u212aelvin-\u017fign-42", "kelvin-sign-42"},
		{"\u212aelvin-\u017fign-42", "KELVIN-SIGN-42"},
		{"ab\xffcd\xfeef\xfdgh", "AB\xffCD\xfeEF\xfdGH"},
		{"ab\xffcd\xfeef\xfdgh", "ab\xfecd\ufffdef\xfdgh"},
	} {
		got := NewRedactor(tt.secret)("x " + tt.in + " y")
		if want := "x " + Redacted + " y"; got != want {
			t.Errorf("secret %q: redact(%q) = %q, want %q", tt.secret, tt.in, got, want)
		}
	}
}

// foldOptions are valid options whose secrets fold (foldSecret, foldTRX).
func foldOptions(baseURL string, auth Auth) Options {
	o := testOptions(baseURL)
	o.APIKey, o.APISecret, o.TRX, o.Auth = "key-kiwi", foldSecret, foldTRX, auth
	return o
}

// TestAnErrorNeverEchoesAFoldedSecret: end to end, an answer that echoes
// the secret, the trx or the Basic token in a folded case, in a 400's
// error-code-label, a problem's title, detail and invalid_parameters, a
// balance value or an XML root element, makes an error that holds no form
// of any of them.
func TestAnErrorNeverEchoesAFoldedSecret(t *testing.T) {
	for _, auth := range []Auth{AuthBasic, AuthQuery} {
		o := foldOptions("https://rest.nexmo.com", auth)
		secrets := o.Secrets()
		echoed := map[string]string{"secret": foldSecret, "trx": foldTRX, "run of the secret": foldRun,
			"basic token": basicToken(o.APIKey, o.APISecret)}
		for what, s := range echoed {
			for how, echo := range foldedEchoes(s) {
				t.Run(fmt.Sprintf("%s/%s/%s", auth, what, how), func(t *testing.T) {
					checkFoldedEcho(t, o, secrets, echo)
				})
			}
		}
	}
}

func checkFoldedEcho(t *testing.T, o Options, secrets []string, echo string) {
	t.Helper()
	q := jsonText
	bodies := []struct {
		name, contentType, body string
		status                  int
		label                   string // the Label wanted, "" for any
	}{
		{"label", ctJSON, `{"error-code":"400","error-code-label":` + q("bad "+echo) + `}`,
			http.StatusBadRequest, "bad " + Redacted},
		{"problem", "application/problem+json", `{"title":` + q(echo) + `,"detail":` + q("x "+echo+" y") +
			`,"invalid_parameters":[{"name":"trx","reason":` + q(echo) + `}]}`, http.StatusBadRequest, ""},
		{"value", ctJSON, `{"value":` + q(echo) + `,"autoReload":true}`, http.StatusOK, ""},
		{"xml root", ctXML, "<" + echo + "><value>1</value><autoReload>true</autoReload></" + echo + ">",
			http.StatusOK, ""},
	}
	for _, b := range bodies {
		o.BaseURL = newFake(t, answerWith(b.status, b.contentType, b.body)).URL
		c := newTestClient(t, o)
		for _, endpoint := range allEndpoints() {
			err := callEndpoint(t.Context(), t, c, endpoint)
			if err == nil {
				continue // a top-up's 200 without an error-code in XML, say
			}
			e := asError(t, err)
			if b.label != "" && e.Label != b.label {
				t.Errorf("%s, %s: label %q, want %q", b.name, endpoint, e.Label, b.label)
			}
			for _, text := range append(errorTexts(e), e.Code, e.Label, e.Hint) {
				if l := foldedLeaks(text, secrets...); len(l) > 0 {
					t.Errorf("%s, %s: error text %q holds %q", b.name, endpoint, text, l)
				}
			}
		}
	}
}

// jsonText is s as a JSON string.
func jsonText(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always encodes
	}
	return string(b)
}

// foldBenchLine is a line as long as a log line, with letters that start a
// secret's form (i, k, s) but no secret.
const foldBenchLine = `{"level":"info","msg":"decision","balance":"10.17127500","auto_reload":true,` +
	`"threshold":"10","action":"none","reason":"balance_ok","dry_run":false,"topups_24h":0,"refilling":false}`

func BenchmarkRedact(b *testing.B) {
	redact := NewRedactor(foldOptions("https://rest.nexmo.com", AuthBasic).Secrets()...)
	for _, bc := range []struct{ name, in string }{
		{"ascii clean", foldBenchLine},
		{"ascii secret", foldBenchLine + " " + foldSecret},
		{"non-ascii clean", foldBenchLine + " Çağrı café ſ ı İ \u212a"},
		{"folded secret", foldBenchLine + " " + mixedCase(foldSecret)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = redact(bc.in)
			}
		})
	}
}

// FuzzRedactFoldedSecrets holds the redactor to case folding defined
// otherwise, rune by rune, as strings.EqualFold and the Turkish i's have it:
// what it returns holds no form of a secret in any case, and a text holding
// none comes back as it was.
func FuzzRedactFoldedSecrets(f *testing.F) {
	secrets := []string{foldKey, foldSecret, foldTRX}
	for _, s := range []string{foldKey, foldSecret, foldTRX, foldRun, url.QueryEscape(foldSecret)} {
		for _, echo := range foldedEchoes(s) {
			f.Add("said «" + echo + "», no more")
		}
	}
	f.Add("SK1-KİW")
	f.Add("caf\xc3\xa9 \xff ıİſ\u212a")
	forms := secrettest.Forms(secrets...)
	redact := NewRedactor(secrets...)
	f.Fuzz(func(t *testing.T, in string) {
		got := redact(in)
		for _, form := range forms {
			if foldIndex(got, form) >= 0 {
				t.Fatalf("redact(%q) = %q holds %q in some case", in, got, form)
			}
		}
		if got != in && !slices.ContainsFunc(forms, func(form string) bool { return foldIndex(in, form) >= 0 }) {
			t.Fatalf("redact(%q) = %q, but it holds no form of a secret", in, got)
		}
	})
}

// foldIndex is the byte offset of the first run of s that equals form rune
// by rune in some case (sameLetter), or -1.
func foldIndex(s, form string) int {
	for i := range s {
		rest, ok := s[i:], true
		for _, want := range form {
			if rest == "" {
				ok = false
				break
			}
			r, n := utf8.DecodeRuneInString(rest)
			if !sameLetter(r, want) {
				ok = false
				break
			}
			rest = rest[n:]
		}
		if ok {
			return i
		}
	}
	return -1
}

// sameLetter reports whether a and b are cases of one letter: equal under
// strings.EqualFold, or each one of i, I, İ and ı.
func sameLetter(a, b rune) bool {
	isI := func(r rune) bool { return r == 'i' || r == 'I' || r == '\u0130' || r == '\u0131' }
	return strings.EqualFold(string(a), string(b)) || isI(a) && isI(b)
}
