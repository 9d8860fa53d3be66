package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// parseBaseURL reads VONAGE_BASE_URL: an absolute http or https URL with a
// host and no user info, query or fragment. It returns the URL without a
// trailing slash. A value that may hold a credential is never repeated.
func parseBaseURL(s string, allowInsecure bool) (string, error) {
	u, err := parseHTTPURL(s)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, quoteBaseURL(s))
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || strings.Contains(s, "#") {
		return "", errors.New("must not carry user info, a query or a fragment (value not shown)")
	}
	if err := checkInsecure(u, allowInsecure); err != nil {
		return "", err
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// quoteBaseURL quotes a base URL for a problem, unless it has user info, a
// query or a fragment, any of which may hold a credential.
func quoteBaseURL(s string) string {
	if strings.ContainsAny(s, "@?#") {
		return "(value not shown)"
	}
	return strconv.Quote(s)
}

// parseNotifyURL reads TOPUP_NOTIFY_URL: empty, or an absolute http or https
// URL. Its problems never hold the value, which may carry a token; only the
// host may be named.
func parseNotifyURL(s string, allowInsecure bool) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := parseHTTPURL(s)
	if err != nil {
		return "", fmt.Errorf("%w (value not shown, it may carry a token)", err)
	}
	if err := checkInsecure(u, allowInsecure); err != nil {
		return "", err
	}
	return s, nil
}

// NotifyTarget returns the scheme and host of a notification URL, such as
// "https://hooks.slack.com", which is safe to log; "off" when notifyURL is
// empty.
func NotifyTarget(notifyURL string) string {
	if notifyURL == "" {
		return "off"
	}
	u, err := parseHTTPURL(notifyURL)
	if err != nil {
		return "invalid"
	}
	return u.Scheme + "://" + u.Host
}

// parseHTTPURL parses an absolute http or https URL with a host.
func parseHTTPURL(s string) (*url.URL, error) {
	errNotHTTP := errors.New("not an absolute http or https URL")
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Hostname() == "" {
		return nil, errNotHTTP
	}
	return u, nil
}

// checkInsecure refuses plain http to a host that is not loopback, unless
// allowInsecure.
func checkInsecure(u *url.URL, allowInsecure bool) error {
	if u.Scheme != "http" || allowInsecure || isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("http:// to %q is refused (not loopback); use https:// or set %s=true", u.Hostname(), varAllowInsecureHTTP)
}

// isLoopback reports whether host is localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
