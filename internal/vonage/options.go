package vonage

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DefaultUserAgent is sent when Options.UserAgent is empty.
const DefaultUserAgent = "topup-watchdog"

// validate reports every problem of o at once in one line, each naming the
// field and never holding the value of a secret.
func (o Options) validate() error {
	var errs []error
	if _, err := parseBaseURL(o.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if o.Auth != AuthBasic && o.Auth != AuthQuery {
		errs = append(errs, fmt.Errorf("invalid Auth %q: want %q or %q", o.Auth, AuthBasic, AuthQuery))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("invalid Timeout %s: must be positive", o.Timeout))
	}
	if o.MaxBody < 0 {
		errs = append(errs, fmt.Errorf("invalid MaxBody %d: must not be negative", o.MaxBody))
	}
	errs = append(errs, checkSecret("APIKey", o.APIKey), checkSecret("APISecret", o.APISecret),
		checkSecret("TRX", o.TRX))
	if strings.Contains(o.APIKey, ":") {
		errs = append(errs, errors.New("invalid APIKey: must not contain a colon (Basic auth)"))
	}
	if strings.IndexFunc(o.UserAgent, isControl) >= 0 {
		errs = append(errs, errors.New("invalid UserAgent: contains a control character"))
	}
	var problems []string
	for _, err := range errs {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("check vonage options: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkSecret reports a missing value without ever printing it.
func checkSecret(field, v string) error {
	if v == "" {
		return fmt.Errorf("missing %s", field)
	}
	return nil
}

// parseBaseURL parses and checks Options.BaseURL. Its errors never quote the
// URL, which may hold credentials.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("missing BaseURL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid BaseURL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("invalid BaseURL: scheme must be http or https")
	case u.User != nil:
		return nil, errors.New("invalid BaseURL: must not hold user info")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("invalid BaseURL: missing host")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("invalid BaseURL: must not have a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("invalid BaseURL: must not have a fragment")
	}
	return u, nil
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

// endpointURL is the URL of an endpoint path under base, with the auth query
// when query is non-nil.
func endpointURL(base *url.URL, path string, query url.Values) string {
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	return u.String()
}
