package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func control(t *testing.T, acct *Account, method, name string, form url.Values) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, "http://sim"+ControlPrefix+name, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := record(acct, r)
	return w.Code, w.Body.String()
}

func TestControlEndpointsDriveTheAccount(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	posts := []struct {
		name string
		form url.Values
	}{
		{"balance", url.Values{"value": {"12.5"}}},
		{"drain", url.Values{"amount": {"2.25"}}},
		{"auto-reload", url.Values{"enabled": {"false"}}},
		{"script", url.Values{"endpoint": {"top-up"}, "fault": {"reset,none", "malformed"}}},
	}
	for _, p := range posts {
		if code, body := control(t, acct, http.MethodPost, p.name, p.form); code != http.StatusNoContent {
			t.Fatalf("POST %s: %d %s", p.name, code, body)
		}
	}
	code, body := control(t, acct, http.MethodGet, "state", nil)
	var st State
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("GET state: %d %s %v", code, body, err)
	}
	if !st.Balance.Equal(dec("10.25")) || st.AutoReload || st.Scripted[EndpointTopUp] != 3 {
		t.Errorf("state %+v, want balance 10.25, auto-reload off, 3 scripted top-up faults", st)
	}

	record(acct, balanceRequest(t, "http://sim", good, ""))
	_, body = control(t, acct, http.MethodGet, "stats", nil)
	if !strings.Contains(body, `"balance_requests":1`) {
		t.Errorf("GET stats: %s", body)
	}
	_, body = control(t, acct, http.MethodGet, "topups", nil)
	if strings.TrimSpace(body) != "[]" {
		t.Errorf("GET topups: %s, want []", body)
	}
}

func TestControlRejectsBadInput(t *testing.T) {
	acct := newAccount(t, testConfig(newClock()))
	tests := []struct {
		method, name string
		form         url.Values
		status       int
	}{
		{http.MethodPost, "balance", url.Values{"value": {"lots"}}, 400},
		{http.MethodPost, "auto-reload", url.Values{"enabled": {"maybe"}}, 400},
		{http.MethodPost, "script", url.Values{"endpoint": {"top-up"}, "fault": {"explode"}}, 400},
		{http.MethodPost, "script", url.Values{"endpoint": {"settings"}}, 400},
		{http.MethodPost, "nothing", nil, 404},
		{http.MethodGet, "nothing", nil, 404},
		{http.MethodDelete, "stats", nil, 405},
	}
	for _, tt := range tests {
		if code, body := control(t, acct, tt.method, tt.name, tt.form); code != tt.status {
			t.Errorf("%s %s %v: %d %s, want %d", tt.method, tt.name, tt.form, code, body, tt.status)
		}
	}
	if st := acct.State(); !st.Balance.Equal(dec("10.171275")) || !st.AutoReload || st.Scripted[EndpointTopUp] != 0 {
		t.Errorf("bad input changed the account: %+v", st)
	}
}
