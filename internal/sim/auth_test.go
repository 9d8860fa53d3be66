package sim

import (
	"net/http"
	"testing"
)

func TestBothAuthStylesAreAccepted(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	srv := serve(t, acct)
	client := newClient(t, 0)
	for _, c := range []creds{{AuthBasic, testKey, testSecret}, {AuthQuery, testKey, testSecret}} {
		resp, body := do(t, client, balanceRequest(t, srv.URL, c, ""))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s auth: get-balance answered %d %s", c.style, resp.StatusCode, body)
		}
		resp, body = do(t, client, topUpRequest(t, srv.URL, c, testTRX, ""))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s auth: top-up answered %d %s", c.style, resp.StatusCode, body)
		}
	}
	s := acct.Stats()
	if s.AuthBasic != 2 || s.AuthQuery != 2 || s.AuthFailures != 0 || s.TopUpsApplied != 2 {
		t.Errorf("stats %+v, want 2 basic, 2 query, no failure, 2 applied", s)
	}
}

func TestWrongCredentialsGetTheSpecs401(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	const jsonBody = `{"error-code":"401","error-code-label":"authentication failed"}`
	xmlBody := func(root string) string {
		return xmlHeader + "<" + root + ">\n  <error-code>401</error-code>\n  <error-code-label>authentication failed</error-code-label>\n</" + root + ">"
	}
	wrong := []creds{
		{AuthBasic, testKey, "nope"},
		{AuthBasic, "nope", testSecret},
		{AuthQuery, testKey, "nope"},
		{AuthNone, "", ""},
	}
	for _, c := range wrong {
		for _, accept := range []string{"", "application/json", "text/xml", "application/xml"} {
			asXML := accept == "text/xml" || accept == "application/xml"
			w := record(acct, balanceRequest(t, "http://sim", c, accept))
			want := jsonBody
			if asXML {
				want = xmlBody(rootBalance)
			}
			if w.Code != http.StatusUnauthorized || w.Body.String() != want {
				t.Errorf("get-balance %+v accept %q: %d %q, want 401 %q", c, accept, w.Code, w.Body, want)
			}
			w = record(acct, topUpRequest(t, "http://sim", c, testTRX, accept))
			if asXML {
				want = xmlBody(rootResponse)
			}
			if w.Code != http.StatusUnauthorized || w.Body.String() != want {
				t.Errorf("top-up %+v accept %q: %d %q, want 401 %q", c, accept, w.Code, w.Body, want)
			}
		}
	}
	s := acct.Stats()
	if s.AuthFailures != 32 || s.TopUpsRejected != 16 || s.TopUpsApplied != 0 {
		t.Errorf("stats %+v, want 32 auth failures, 16 rejected top-ups, none applied", s)
	}
}

func TestContentTypeFollowsAccept(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	for accept, want := range map[string]string{
		"":                                    contentJSON,
		"*/*":                                 contentJSON,
		"application/xml":                     contentXML,
		"text/xml":                            contentXML,
		"application/json, application/xml":   contentJSON,
		"application/json;q=0.5, text/xml":    contentXML,
		"application/xml;q=0.9, */*;q=0.1":    contentXML,
		"application/xml;q=0.5, */*":          contentJSON,
		"text/html":                           contentJSON,
		"application/xml;q=0, application/js": contentJSON,
	} {
		w := record(acct, balanceRequest(t, "http://sim", good, accept))
		if got := w.Header().Get("Content-Type"); got != want {
			t.Errorf("Accept %q: Content-Type %q, want %q", accept, got, want)
		}
	}
}

func TestAuthorizationHeaderIsJudgedAlone(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	r := balanceRequest(t, "http://sim", creds{AuthQuery, testKey, testSecret}, "")
	r.SetBasicAuth(testKey, "nope")
	if w := record(acct, r); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong basic credentials with right query ones: %d, want 401", w.Code)
	}
}

func TestTopUpRefusals(t *testing.T) {
	tests := []struct {
		name       string
		autoReload bool
		trx        string
		inQuery    bool
		wantLabel  string
		wantResult Result
	}{
		{"auto-reload disabled", false, testTRX, false, labelNoReload, ResultAutoReloadDisabled},
		{"wrong trx", true, "0000", false, labelAuthFailed, ResultBadTRX},
		{"missing trx", true, "", false, labelAuthFailed, ResultBadTRX},
		{"trx in the query only", true, "", true, labelAuthFailed, ResultBadTRX},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(newClock())
			cfg.AutoReload = tt.autoReload
			acct := newAccount(t, cfg)
			r := topUpRequest(t, "http://sim", good, tt.trx, "")
			if tt.inQuery {
				r.URL.RawQuery = "trx=" + testTRX
			}
			w := record(acct, r)
			want := `{"error-code":"401","error-code-label":"` + tt.wantLabel + `"}`
			if w.Code != http.StatusUnauthorized || w.Body.String() != want {
				t.Errorf("answer %d %q, want 401 %q", w.Code, w.Body, want)
			}
			tu := acct.TopUps()
			if len(tu) != 1 || tu[0].Applied || tu[0].Result != tt.wantResult || tu[0].TRXInQuery != tt.inQuery {
				t.Errorf("top-ups %+v, want one %s, not applied, trx in query %v", tu, tt.wantResult, tt.inQuery)
			}
			if !acct.Balance().Equal(dec("10.171275")) {
				t.Errorf("balance %s changed", acct.Balance())
			}
		})
	}
}

func TestOtherMethodsAndPaths(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPost, PathBalance, http.StatusMethodNotAllowed, http.MethodGet},
		{http.MethodGet, PathTopUp, http.StatusMethodNotAllowed, http.MethodPost},
		{http.MethodGet, "/account/settings", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(tt.method, "http://sim"+tt.path, nil)
		good.apply(r)
		w := record(acct, r)
		if w.Code != tt.status || w.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tt.method, tt.path, w.Code, w.Header().Get("Allow"), tt.status, tt.allow)
		}
	}
	if s := acct.Stats(); s.Other != 3 || s.BalanceRequests != 0 || s.TopUpRequests != 0 {
		t.Errorf("stats %+v, want 3 other requests only", s)
	}
}
