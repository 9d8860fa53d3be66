package sim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

// specPath is Vonage's Account API description, a copy of the project's
// shared/vonage/account-api.yml kept with the tests so they need nothing
// outside the repository; TestSpecCopyIsCurrent keeps it in step.
const specPath = "testdata/account-api.yml"

// sharedSpecPath is where the project's own copy sits beside the repository
// on the developers' machines and in CI.
const sharedSpecPath = "../../../shared/vonage/account-api.yml"

func TestSpecCopyIsCurrent(t *testing.T) {
	shared, err := os.ReadFile(sharedSpecPath)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no %s beside the repository to compare with", sharedSpecPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	ours, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, ours) {
		t.Errorf("%s differs from %s: copy it again", specPath, sharedSpecPath)
	}
}

// loadSpec loads the spec with every server replaced by serverURL, so that
// the router matches the test server (the spec's servers are
// https://api.nexmo.com and, per path, https://rest.nexmo.com; the legacy
// router only reads the document's servers).
func loadSpec(t *testing.T, serverURL string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("load %s: %v", specPath, err)
	}
	doc.Servers = openapi3.Servers{{URL: serverURL}}
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
	}
	// The spec's XML examples (and the JSON example of /account/settings)
	// are strings, written as YAML block scalars, where the schemas want
	// objects: "invalid example: value must be an object". Examples say
	// nothing about answers, so the document is validated without them.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("the spec does not validate: %v", err)
	}
	return doc
}

// relaxTopUp401 works around the one place the spec cannot be met: the 401 of
// POST /account/top-up is oneOf ErrorAuthenticationFailed and
// ErrorAutoReloadNotEnabled, two object schemas with no type, required or enum
// on their properties (only examples), so every object matches both and
// "exactly one" always fails. It turns that oneOf into anyOf; the tests check
// the error-code-label themselves.
func relaxTopUp401(t *testing.T, doc *openapi3.T) {
	t.Helper()
	op := doc.Paths.Value(PathTopUp).Post
	for _, mt := range op.Responses.Status(http.StatusUnauthorized).Value.Content {
		s := mt.Schema.Value
		if len(s.OneOf) != 2 {
			t.Fatalf("top-up 401 schema changed: oneOf has %d entries", len(s.OneOf))
		}
		s.AnyOf, s.OneOf = s.OneOf, nil
	}
}

func newRouter(t *testing.T, doc *openapi3.T) routers.Router {
	t.Helper()
	router, err := legacyrouter.NewRouter(doc, openapi3.DisableExamplesValidation())
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return router
}

// validateAnswer checks an answer against the spec, undocumented statuses
// included.
func validateAnswer(router routers.Router, r *http.Request, resp *http.Response, body string) error {
	route, params, err := router.FindRoute(r)
	if err != nil {
		return fmt.Errorf("find route: %w", err)
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(strings.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

func TestAnswersMatchTheSpec(t *testing.T) {
	clock := newClock()
	acct := newAccount(t, testConfig(clock))
	srv := serve(t, acct)
	doc := loadSpec(t, srv.URL)
	relaxTopUp401(t, doc)
	router := newRouter(t, doc)
	client := newClient(t, 0)
	bad := creds{AuthQuery, testKey, "wrong"}
	const js, xm = "application/json", "application/xml"

	tests := []struct {
		name     string
		setup    func()
		req      func() *http.Request
		status   int
		wantBody string
	}{
		{"balance json", nil, func() *http.Request { return balanceRequest(t, srv.URL, good, js) },
			200, `{"value":10.17127500,"autoReload":true}`},
		{"balance xml", nil, func() *http.Request { return balanceRequest(t, srv.URL, good, xm) },
			200, xmlHeader + "<accountBalance>\n  <value>10.17127500</value>\n  <autoReload>true</autoReload>\n</accountBalance>"},
		{"balance 401 json", nil, func() *http.Request { return balanceRequest(t, srv.URL, bad, js) },
			401, `{"error-code":"401","error-code-label":"authentication failed"}`},
		{"balance 401 xml", nil, func() *http.Request { return balanceRequest(t, srv.URL, bad, xm) },
			401, xmlHeader + "<accountBalance>\n  <error-code>401</error-code>\n  <error-code-label>authentication failed</error-code-label>\n</accountBalance>"},
		{"top-up json", nil, func() *http.Request { return topUpRequest(t, srv.URL, good, testTRX, js) },
			200, `{"error-code":"200","error-code-label":"success"}`},
		{"top-up xml", nil, func() *http.Request { return topUpRequest(t, srv.URL, good, testTRX, xm) },
			200, xmlHeader + "<response>\n  <error-code>200</error-code>\n  <error-code-label>success</error-code-label>\n</response>"},
		{"top-up 401 auth json", nil, func() *http.Request { return topUpRequest(t, srv.URL, bad, testTRX, js) },
			401, `{"error-code":"401","error-code-label":"authentication failed"}`},
		{"top-up 401 auth xml", nil, func() *http.Request { return topUpRequest(t, srv.URL, bad, testTRX, xm) },
			401, xmlHeader + "<response>\n  <error-code>401</error-code>\n  <error-code-label>authentication failed</error-code-label>\n</response>"},
		{"top-up 401 no reload json", func() { acct.SetAutoReload(false) },
			func() *http.Request { return topUpRequest(t, srv.URL, good, testTRX, js) },
			401, `{"error-code":"401","error-code-label":"not auto-reload enabled"}`},
		{"top-up 401 no reload xml", func() { acct.SetAutoReload(false) },
			func() *http.Request { return topUpRequest(t, srv.URL, good, testTRX, xm) },
			401, xmlHeader + "<response>\n  <error-code>401</error-code>\n  <error-code-label>not auto-reload enabled</error-code-label>\n</response>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct.SetAutoReload(true)
			acct.SetBalance(dec("10.171275"))
			if tt.setup != nil {
				tt.setup()
			}
			r := tt.req()
			resp, body := do(t, client, r)
			if resp.StatusCode != tt.status || body != tt.wantBody {
				t.Errorf("answer %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.wantBody)
			}
			if err := validateAnswer(router, r, resp, body); err != nil {
				t.Errorf("answer does not match the spec: %v", err)
			}
		})
	}
}

func TestSpecRejectsEveryTopUp401AsWritten(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	srv := serve(t, acct)
	router := newRouter(t, loadSpec(t, srv.URL))
	r := topUpRequest(t, srv.URL, creds{AuthBasic, testKey, "wrong"}, testTRX, "")
	resp, body := do(t, newClient(t, 0), r)
	err := validateAnswer(router, r, resp, body)
	if err == nil || !strings.Contains(err.Error(), "more than one") {
		t.Fatalf("validation error %v; if the spec's top-up 401 oneOf was fixed, drop relaxTopUp401", err)
	}
}

func TestValidatorCatchesWrongAnswers(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	srv := serve(t, acct)
	router := newRouter(t, loadSpec(t, srv.URL))
	client := newClient(t, 0)
	tests := []struct{ name, accept, body string }{
		{"value as a string", "application/json", `{"value":"10.17127500","autoReload":true}`},
		{"wrong xml root", "application/xml", xmlHeader + "<response><value>1.00000000</value><autoReload>true</autoReload></response>"},
		{"xml value not a number", "application/xml", xmlHeader + "<accountBalance><value>ten</value></accountBalance>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := balanceRequest(t, srv.URL, good, tt.accept)
			resp, _ := do(t, client, r)
			if err := validateAnswer(router, r, resp, tt.body); err == nil {
				t.Fatalf("%s passed validation", tt.body)
			}
		})
	}
}

// xmlBodyDecoder decodes a flat XML document for kin-openapi: the root must
// be the name the schema (or one of its oneOf/anyOf entries) gives, and each
// child element becomes a property, typed as the schema says.
func xmlBodyDecoder(body io.Reader, _ http.Header, ref *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	var doc struct {
		XMLName xml.Name
		Items   []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, err
	}
	roots, props := xmlShape(ref.Value)
	if !slices.Contains(roots, doc.XMLName.Local) {
		return nil, fmt.Errorf("xml root %q, want one of %q", doc.XMLName.Local, roots)
	}
	out := map[string]any{}
	for _, it := range doc.Items {
		v, err := xmlValue(it.Text, props[it.XMLName.Local])
		if err != nil {
			return nil, fmt.Errorf("element %s: %w", it.XMLName.Local, err)
		}
		out[it.XMLName.Local] = v
	}
	return out, nil
}

func xmlShape(s *openapi3.Schema) (roots []string, props openapi3.Schemas) {
	props = openapi3.Schemas{}
	all := append(append([]*openapi3.SchemaRef{{Value: s}}, s.OneOf...), s.AnyOf...)
	for _, ref := range all {
		if ref.Value.XML != nil {
			roots = append(roots, ref.Value.XML.Name)
		}
		for name, p := range ref.Value.Properties {
			props[name] = p
		}
	}
	return roots, props
}

func xmlValue(text string, prop *openapi3.SchemaRef) (any, error) {
	if prop == nil || prop.Value.Type == nil {
		return text, nil
	}
	switch {
	case prop.Value.Type.Is("number"):
		return strconv.ParseFloat(text, 64)
	case prop.Value.Type.Is("boolean"):
		return strconv.ParseBool(text)
	}
	return text, nil
}
