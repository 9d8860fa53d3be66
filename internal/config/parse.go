package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap/zapcore"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// ParseDecimal reads a plain decimal such as 25, 12.50 or -3: no exponent,
// no sign but minus, no NaN or infinity. The backtest's flags use it too.
func ParseDecimal(s string) (decimal.Decimal, error) {
	if !IsPlainDecimal(s) {
		return decimal.Decimal{}, fmt.Errorf("not a decimal number: %q", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("not a decimal number: %q", s)
	}
	return d, nil
}

// parsePositiveDecimal reads a plain decimal above 0.
func parsePositiveDecimal(s string) (decimal.Decimal, error) {
	d, err := ParseDecimal(s)
	if err != nil {
		return d, err
	}
	if !d.IsPositive() {
		return decimal.Decimal{}, fmt.Errorf("must be greater than 0: %q", s)
	}
	return d, nil
}

// parseAmount reads TOPUP_AMOUNT: a plain decimal of at least MinAmount.
func parseAmount(s string) (decimal.Decimal, error) {
	d, err := ParseDecimal(s)
	if err != nil {
		return d, err
	}
	if d.LessThan(MinAmount) {
		return decimal.Decimal{}, fmt.Errorf("must be at least %s (EUR, the amount of the auto-reload payment): %q", MinAmount, s)
	}
	return d, nil
}

// parseTarget reads TOPUP_TARGET: the threshold when empty, otherwise a
// decimal that is not below the threshold, when the threshold is known.
func parseTarget(s, thresholdText string, threshold decimal.Decimal, thresholdOK bool) (decimal.Decimal, error) {
	if s == "" {
		return threshold, nil
	}
	d, err := ParseDecimal(s)
	if err != nil {
		return d, err
	}
	if thresholdOK && d.LessThan(threshold) {
		return decimal.Decimal{}, fmt.Errorf("%s is below %s %s", s, varThreshold, thresholdText)
	}
	return d, nil
}

// IsPlainDecimal reports whether s is written as ParseDecimal reads it:
// digits, at most one point with digits on both sides, an optional leading
// minus. Such a text cannot hold an exponent that would make decimal
// arithmetic slow.
func IsPlainDecimal(s string) bool {
	whole, frac, hasDot := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	return allDigits(whole) && (!hasDot || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDuration reads a Go duration above 0 and, unless max is 0, at most
// max.
func parseDuration(s string, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("not a duration such as 90s or 15m: %q", s)
	case d <= 0:
		return 0, fmt.Errorf("must be greater than 0: %q", s)
	case max > 0 && d > max:
		return 0, fmt.Errorf("must be at most %s: %q", ShortDuration(max), s)
	}
	return d, nil
}

// shortDuration writes 5m rather than 5m0s, and 24h rather than 24h0m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseCount reads a whole number from 0 to max.
func parseCount(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("out of range: %q", s)
	case err != nil:
		return 0, fmt.Errorf("not a whole number: %q", s)
	case n < 0:
		return 0, fmt.Errorf("must not be negative: %q", s)
	case n > max:
		return 0, fmt.Errorf("must be at most %d: %q", max, s)
	}
	return n, nil
}

// parseBool reads a boolean as strconv.ParseBool does (true, false, 1, 0,
// t, f, in upper or lower case).
func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("not a boolean (true or false): %q", s)
	}
	return b, nil
}

// parsePath reads a path that is not blank.
func parsePath(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("not a path: %q", s)
	}
	return s, nil
}

// parseListenAddr reads host:port with a numeric port; empty means off.
func parseListenAddr(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("not host:port such as :9090 or 127.0.0.1:9090: %q", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("port is not a number from 0 to 65535: %q", s)
	}
	return s, nil
}

// parseAuth reads VONAGE_AUTH.
func parseAuth(s string) (vonage.Auth, error) {
	a, err := parseChoice(s, string(vonage.AuthBasic), string(vonage.AuthQuery))
	return vonage.Auth(a), err
}

// parseLogLevel reads one of the four levels the contract names.
func parseLogLevel(s string) (zapcore.Level, error) {
	if _, err := parseChoice(s, "debug", "info", "warn", "error"); err != nil {
		return zapcore.InfoLevel, err
	}
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return zapcore.InfoLevel, fmt.Errorf("not a log level: %q", s)
	}
	return l, nil
}

// parseChoice accepts exactly one of choices.
func parseChoice(s string, choices ...string) (string, error) {
	for _, c := range choices {
		if s == c {
			return s, nil
		}
	}
	return "", fmt.Errorf("not %s: %q", orList(choices), s)
}

// orList writes "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
