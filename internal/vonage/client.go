package vonage

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// The paths of the two endpoints, under Options.BaseURL.
const (
	PathGetBalance = "/account/get-balance"
	PathTopUp      = "/account/top-up"
)

// The operations named in Error.Op.
const (
	OpGetBalance = "get balance"
	OpTopUp      = "top up"
)

// Client calls the Account API. Each call is a single attempt; retries are
// the caller's, driven by the fields of the *Error it returns. A Client is
// safe for concurrent use.
type Client struct {
	http       *http.Client
	balanceURL string
	topUpURL   string
	// authHeader is the Authorization header value, empty with AuthQuery.
	authHeader string
	topUpBody  string
	userAgent  string
	timeout    time.Duration
	maxBody    int64
	observe    func(endpoint, code string, d time.Duration)
	redact     func(string) string
	// now is the clock that Retry-After dates are read against.
	now func() time.Time
}

// New checks o and returns a Client. Its error lists every invalid option,
// naming the field and never the value of a secret.
func New(o Options) (*Client, error) {
	redact := NewRedactor(o.Secrets()...)
	if err := o.validate(); err != nil {
		return nil, errors.New(redact(err.Error()))
	}
	base, err := parseBaseURL(o.BaseURL)
	if err != nil {
		return nil, errors.New(redact(err.Error()))
	}
	c := &Client{
		http:      newHTTPClient(o),
		topUpBody: url.Values{"trx": {o.TRX}}.Encode(),
		userAgent: o.UserAgent,
		timeout:   o.Timeout,
		maxBody:   o.MaxBody,
		observe:   o.Observe,
		redact:    redact,
		now:       time.Now,
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBody
	}
	var query url.Values
	if o.Auth == AuthQuery {
		query = url.Values{"api_key": {o.APIKey}, "api_secret": {o.APISecret}}
	} else {
		c.authHeader = "Basic " + basicToken(o.APIKey, o.APISecret)
	}
	c.balanceURL = endpointURL(base, PathGetBalance, query)
	c.topUpURL = endpointURL(base, PathTopUp, query)
	return c, nil
}

// CloseIdleConnections closes the connections the Client keeps open between
// calls. The Client stays usable.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// newHTTPClient returns the Client's own http.Client: it never follows a
// redirect, and bounds an attempt by o.Timeout besides the per-call context.
func newHTTPClient(o Options) *http.Client {
	rt := o.Transport
	if rt == nil {
		rt = cloneDefaultTransport()
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: o.Timeout,
	}
}

// cloneDefaultTransport clones http.DefaultTransport, or builds a fresh
// transport when another package replaced it with a type of its own.
func cloneDefaultTransport() http.RoundTripper {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
}

// basicToken is base64(key:secret), the credentials of a Basic Authorization
// header; empty without a secret.
func basicToken(key, secret string) string {
	if secret == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(key + ":" + secret))
}
