package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's Guarantees table names, for each promise, the tests that
// prove it: a test renamed, merged or removed must not leave a promise
// naming nothing.
var (
	testName = regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]+)")
	testFile = regexp.MustCompile("`((?:cmd|internal|policy)/[A-Za-z0-9_/.-]+_test\\.go)")
)

// TestREADMEGuaranteesNameTestsThatExist checks every test and test file the
// README's Guarantees table names against the repository's test files.
func TestREADMEGuaranteesNameTestsThatExist(t *testing.T) {
	table := guaranteesTable(t)
	defined := testFuncs(t, filepath.Join("..", ".."))
	names := testName.FindAllStringSubmatch(table, -1)
	if len(names) < 40 {
		t.Fatalf("the Guarantees table names %d tests; the parse is wrong or the table lost its proofs", len(names))
	}
	for _, m := range names {
		if !defined[m[1]] {
			t.Errorf("README's Guarantees table names %s, which no _test.go file defines", m[1])
		}
	}
	for _, m := range testFile.FindAllStringSubmatch(table, -1) {
		if _, err := os.Stat(filepath.Join("..", "..", m[1])); err != nil {
			t.Errorf("README's Guarantees table names %s, which does not exist", m[1])
		}
	}
}

// guaranteesTable is the README's section "Guarantees", up to the next
// section.
func guaranteesTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Guarantees\n")
	if !ok {
		t.Fatal("README.md has no section ## Guarantees")
	}
	section, _, _ := strings.Cut(rest, "\n## ")
	return section
}

var testFunc = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]+)\(`)

// testFuncs returns the test, fuzz and benchmark functions that the _test.go
// files under root define.
func testFuncs(t *testing.T, root string) map[string]bool {
	t.Helper()
	defined := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return defined
}
