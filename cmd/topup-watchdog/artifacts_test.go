package main

// The Dockerfile, docker-compose.yml, .dockerignore and the README are held
// to the program in the artifacts_*_test.go files, without a Docker engine
// or a cluster: they name only variables the program reads (here), the
// README documents all of them (here), the image, the compose demo (a fleet
// of watchdogs on one Redis) and the README's Kubernetes example are shaped
// as the README promises, and the demo tops up in time.

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
)

// artifactRoot is the repository's root, seen from this package's folder.
const artifactRoot = "../.."

// The compose services the README's demo relies on.
const (
	composeSim   = "vonage-sim"
	composeRedis = "redis"
)

// fleetReplicas is how many watchdogs the compose demo and the README's
// Kubernetes example run on one account: a fleet on one Redis.
const fleetReplicas = 3

func readArtifact(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(artifactRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// programVariables is every environment variable the program reads.
func programVariables() []string { return append(config.Variables(), testHookVariables()...) }

// ownVariable matches the names of the program's own variables, wherever
// they appear; other names (GOOS, VERSION) belong to other tools.
var ownVariable = regexp.MustCompile(`\b(?:TOPUP|VONAGE)_[A-Z0-9_]+\b`)

func TestArtifactsNameOnlyVariablesTheProgramReads(t *testing.T) {
	df := parseDockerfile(readArtifact(t, "Dockerfile"))
	cf := loadCompose(t)
	named := map[string][]string{
		"Dockerfile (final stage ENV)": slices.Collect(maps.Keys(df.final().env())),
		"README table":                 readmeTableVariables(readArtifact(t, "README.md")),
	}
	for _, name := range []string{"Dockerfile", "docker-compose.yml", "README.md"} {
		named[name] = ownVariable.FindAllString(readArtifact(t, name), -1)
	}
	for svc, s := range cf.Services {
		named["docker-compose.yml service "+svc] = slices.Collect(maps.Keys(s.env(t)))
	}
	for where, names := range named {
		for _, n := range names {
			if where == "README.md" && n == redistest.RequireEnv { // the tests' own, in Development
				continue
			}
			if !slices.Contains(programVariables(), n) {
				t.Errorf("%s names %s, which the program does not read", where, n)
			}
		}
	}
}

func TestArtifactsREADMEDocumentsEveryVariable(t *testing.T) {
	readme := readArtifact(t, "README.md")
	table := readmeTableVariables(readme)
	for _, v := range config.Variables() {
		if !slices.Contains(table, v) {
			t.Errorf("README's configuration table has no row for %s", v)
		}
	}
	if !strings.Contains(readme, "`"+crashEnv+"`") {
		t.Errorf("README does not document the testing hook %s", crashEnv)
	}
}

// readmeTableVariables returns the names in backticks in the first cell of
// the README's table rows.
func readmeTableVariables(readme string) []string {
	cellName := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	var names []string
	for line := range strings.Lines(readme) {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			continue
		}
		for _, m := range cellName.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
	}
	return names
}

func artifactFileSize(t *testing.T, name string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(artifactRoot, name))
	if err != nil {
		t.Error(err)
		return 0
	}
	return info.Size()
}

// within reports whether file is dir or lies under it.
func within(file, dir string) bool {
	rel, err := filepath.Rel(dir, file)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
