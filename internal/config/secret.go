package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// maxSecretFile is the largest secret file read, in bytes.
const maxSecretFile = 64 << 10

// secret reads a secret given either directly in the variable name or in the
// file the variable fileName names. Exactly one of them must be set. Its
// problems never hold the secret; they hold the path, which is not secret.
func (p *problems) secret(name, fileName, value, path string) string {
	switch {
	case value != "" && path != "":
		p.lines = append(p.lines, fmt.Sprintf("%s and %s: both are set, use only one", name, fileName))
	case value != "":
		return value
	case path != "":
		s, err := readSecretFile(path)
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
