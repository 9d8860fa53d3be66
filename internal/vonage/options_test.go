package vonage

import (
	"strings"
	"testing"
	"time"
)

func TestNewAcceptsValidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{name: "basic auth", edit: func(*Options) {}},
		{name: "query auth", edit: func(o *Options) { o.Auth = AuthQuery }},
		{name: "https", edit: func(o *Options) { o.BaseURL = "https://rest.nexmo.com" }},
		{name: "path prefix", edit: func(o *Options) { o.BaseURL = "https://proxy.example/vonage/" }},
		{name: "no user agent", edit: func(o *Options) { o.UserAgent = "" }},
		{name: "max body set", edit: func(o *Options) { o.MaxBody = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions("http://127.0.0.1:8080")
			tc.edit(&o)
			newTestClient(t, o)
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	const prefix = "check vonage options: "
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{name: "no base URL", edit: func(o *Options) { o.BaseURL = "" }, want: "missing BaseURL"},
		{name: "unparsable base URL", edit: func(o *Options) { o.BaseURL = "://rest.nexmo.com" },
			want: "invalid BaseURL: missing protocol scheme"},
		{name: "bad port", edit: func(o *Options) { o.BaseURL = "https://rest.nexmo.com:https" },
			want: `invalid BaseURL: invalid port ":https" after host`},
		{name: "no scheme", edit: func(o *Options) { o.BaseURL = "rest.nexmo.com" },
			want: "invalid BaseURL: scheme must be http or https"},
		{name: "ftp", edit: func(o *Options) { o.BaseURL = "ftp://rest.nexmo.com" },
			want: "invalid BaseURL: scheme must be http or https"},
		{name: "no host", edit: func(o *Options) { o.BaseURL = "https://" }, want: "invalid BaseURL: missing host"},
		{name: "port only", edit: func(o *Options) { o.BaseURL = "https://:443" }, want: "invalid BaseURL: missing host"},
		{name: "user info", edit: func(o *Options) { o.BaseURL = "https://" + testKey + ":" + testTRX + "@rest.nexmo.com" },
			want: "invalid BaseURL: must not hold user info"},
		{name: "query", edit: func(o *Options) { o.BaseURL = "https://rest.nexmo.com?api_key=x" },
			want: "invalid BaseURL: must not have a query"},
		{name: "empty query", edit: func(o *Options) { o.BaseURL = "https://rest.nexmo.com/?" },
			want: "invalid BaseURL: must not have a query"},
		{name: "fragment", edit: func(o *Options) { o.BaseURL = "https://rest.nexmo.com/#top" },
			want: "invalid BaseURL: must not have a fragment"},
		{name: "no auth", edit: func(o *Options) { o.Auth = "" }, want: `invalid Auth "": want "basic" or "query"`},
		{name: "bearer auth", edit: func(o *Options) { o.Auth = "bearer" },
			want: `invalid Auth "bearer": want "basic" or "query"`},
		{name: "zero timeout", edit: func(o *Options) { o.Timeout = 0 }, want: "invalid Timeout 0s: must be positive"},
		{name: "negative timeout", edit: func(o *Options) { o.Timeout = -time.Second },
			want: "invalid Timeout -1s: must be positive"},
		{name: "negative max body", edit: func(o *Options) { o.MaxBody = -1 },
			want: "invalid MaxBody -1: must not be negative"},
		{name: "no key", edit: func(o *Options) { o.APIKey = "" }, want: "missing APIKey"},
		{name: "no secret", edit: func(o *Options) { o.APISecret = "" }, want: "missing APISecret"},
		{name: "no trx", edit: func(o *Options) { o.TRX = "" }, want: "missing TRX"},
		{name: "colon in key", edit: func(o *Options) { o.APIKey = "a:b" },
			want: "invalid APIKey: must not contain a colon (Basic auth)"},
		{name: "control in user agent", edit: func(o *Options) { o.UserAgent = "ua\r\nX-Evil: 1" },
			want: "invalid UserAgent: contains a control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions("https://rest.nexmo.com")
			tc.edit(&o)
			c, err := New(o)
			if err == nil {
				c.CloseIdleConnections()
				t.Fatalf("New accepted the options, want %q", tc.want)
			}
			if got := err.Error(); got != prefix+tc.want {
				t.Errorf("error = %q, want %q", got, prefix+tc.want)
			}
		})
	}
}

func TestNewReportsEveryProblemWithoutSecrets(t *testing.T) {
	o := Options{
		BaseURL:   "https://" + testSecret + "@rest.nexmo.com/" + testTRX + "?x#y",
		APISecret: testSecret,
		TRX:       testTRX,
		Auth:      "digest",
	}
	_, err := New(o)
	if err == nil {
		t.Fatal("New accepted the options")
	}
	got := err.Error()
	for _, want := range []string{"BaseURL", "Auth", "Timeout", "APIKey"} {
		if !strings.Contains(got, want) {
			t.Errorf("error %q does not name %s", got, want)
		}
	}
	if strings.Contains(got, "\n") {
		t.Errorf("error %q spans several lines", got)
	}
	assertNoSecrets(t, got)
}
