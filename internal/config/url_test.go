package config

import (
	"testing"
)

func TestLoadAcceptsPlainHTTPOnlyToLoopback(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.1.2.3/", "http://127.1.2.3"},
		{"http://[::1]:80", "http://[::1]:80"},
		{"http://localhost", "http://localhost"},
		{"http://LOCALHOST:9000/vonage/", "http://LOCALHOST:9000/vonage"},
		{"HTTPS://rest.nexmo.com/", "https://rest.nexmo.com"},
	}
	for _, tt := range tests {
		c := mustLoad(t, with(map[string]string{"VONAGE_BASE_URL": tt.url}))
		if c.BaseURL != tt.want {
			t.Errorf("%s: BaseURL = %q, want %q", tt.url, c.BaseURL, tt.want)
		}
	}
}

func TestLoadRefusesPlainHTTPToOtherHosts(t *testing.T) {
	for _, u := range []string{"http://example.com", "http://10.0.0.1:8080", "http://[::2]", "http://localhost.example.com"} {
		got := problemsOf(t, with(map[string]string{"VONAGE_BASE_URL": u}))
		if len(got) != 1 {
			t.Errorf("%s: problems %q, want one", u, got)
		}
	}
}

func TestAllowInsecureHTTPAcceptsAnyHost(t *testing.T) {
	c := mustLoad(t, with(map[string]string{
		"VONAGE_BASE_URL":           "http://example.com",
		"TOPUP_NOTIFY_URL":          "http://hooks.example.com/T0/XYZ",
		"TOPUP_ALLOW_INSECURE_HTTP": "true",
	}))
	if c.BaseURL != "http://example.com" || c.NotifyURL != "http://hooks.example.com/T0/XYZ" || !c.AllowInsecureHTTP {
		t.Errorf("BaseURL %q, NotifyURL %q, AllowInsecureHTTP %v", c.BaseURL, c.NotifyURL, c.AllowInsecureHTTP)
	}
}

func TestNotifyURLToLoopbackMayBePlainHTTP(t *testing.T) {
	c := mustLoad(t, with(map[string]string{"TOPUP_NOTIFY_URL": "http://127.0.0.1:8080/hook?token=abc"}))
	if c.NotifyURL != "http://127.0.0.1:8080/hook?token=abc" {
		t.Errorf("NotifyURL = %q, want it unchanged", c.NotifyURL)
	}
}

func TestNotifyTargetShowsOnlySchemeAndHost(t *testing.T) {
	tests := []struct{ url, want string }{
		{"", "off"},
		{"https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com"},
		{"http://user:pw@127.0.0.1:8080/hook?token=abc", "http://127.0.0.1:8080"},
		{"not a url", "invalid"},
	}
	for _, tt := range tests {
		if got := NotifyTarget(tt.url); got != tt.want {
			t.Errorf("NotifyTarget(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
