package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/topup-watchdog/topup-watchdog/internal/vonage"
)

// maxSecretFile is the largest secret file read, in bytes.
const maxSecretFile = 64 << 10

// minSecretLen is the fewest characters of a secret, the API secret or the
// trx. Vonage's own rule for an API secret is 8 to 25 characters, and the
// secrets it gives out have 16; its trx references are 32 hex digits.
// Anything shorter is a mistake, and would have the redaction of logs and
// problems blank out every occurrence of a few common characters.
const minSecretLen = 8

// secretKinds names what each secret variable holds, for its problems.
var secretKinds = map[string]string{
	varAPISecret: "a Vonage API secret",
	varTRX:       "a trx reference",
}

// secret reads a secret given either directly in the variable name or in the
// file the variable fileName names. Exactly one of them must be set, and
// the secret must have at least minSecretLen characters. Its problems never
// hold the secret; they hold the path, which is not secret. A secret too
// short is returned all the same, for the redaction of the other problems.
func (p *problems) secret(name, fileName, value, path string) string {
	short := fmt.Sprintf("%d characters, too short for %s (value not shown)", minSecretLen, secretKinds[name])
	switch {
	case value != "" && path != "":
		p.lines = append(p.lines, fmt.Sprintf("%s and %s: both are set, use only one", name, fileName))
	case value != "":
		if tooShort(value) {
			p.lines = append(p.lines, name+": shorter than "+short)
		}
		return value
	case path != "":
		s, err := readSecretFile(path)
		if err == nil && tooShort(s) {
			err = fmt.Errorf("file %q holds fewer than %s", path, short)
		}
		p.add(fileName, err)
		return s
	default:
		p.lines = append(p.lines, fmt.Sprintf("%s or %s: one is required, but both are empty or unset", name, fileName))
	}
	return ""
}

// readSecretFile returns the content of the file at path, surrounding
// whitespace trimmed.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", readError(path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", readError(path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("file %q is larger than %d KiB", path, maxSecretFile>>10)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("file %q is empty", path)
	}
	return s, nil
}

// readError says why path could not be read, without repeating the path
// twice.
func readError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot read %q: %w", path, err)
}

// tooShort reports whether s has fewer than minSecretLen characters.
func tooShort(s string) bool { return utf8.RuneCountInString(s) < minSecretLen }

// redactProblems returns lines with every secret read redacted, as the logs
// redact them (vonage.NewRedactor): the API secret and the trx, from their
// variables and their files, the Basic auth token they make with the API
// key, and the notify URL. A secret pasted into the wrong variable is then
// not echoed back by that variable's problem. A secret too short for a
// redactor, which would blank out every occurrence of its characters, is
// redacted only where a problem quotes it as a whole value.
func redactProblems(lines []string, raw rawEnv, c Config) []string {
	secrets := []string{raw.APISecret, c.APISecret, raw.TRX, c.TRX, raw.NotifyURL}
	secrets = append(secrets, RedisSecrets(raw.RedisURL)...)
	secrets = append(secrets, RedisSecrets(c.RedisURL)...)
	for _, s := range []string{raw.APISecret, c.APISecret} {
		secrets = append(secrets, vonage.Options{APIKey: raw.APIKey, APISecret: s}.Secrets()...)
	}
	var long, quoted []string
	for _, s := range secrets {
		switch {
		case s == "":
		case tooShort(s):
			quoted = append(quoted, strconv.Quote(s), strconv.Quote(vonage.Redacted))
		default:
			long = append(long, s)
		}
	}
	redact := vonage.NewRedactor(long...)
	whole := strings.NewReplacer(quoted...)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = redact(whole.Replace(l))
	}
	return out
}
