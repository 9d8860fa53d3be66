package main

// Readers of the Dockerfile and .dockerignore for the artifact tests.

import (
	"encoding/json"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerInstruction is one instruction of a Dockerfile, continuation lines
// joined.
type dockerInstruction struct{ cmd, args string }

type dockerStage struct {
	from         string
	instructions []dockerInstruction
}

type dockerfile []dockerStage

// parseDockerfile splits a Dockerfile into stages of instructions. It knows
// what this repository's Dockerfile uses; heredocs it does not.
func parseDockerfile(text string) dockerfile {
	var stages dockerfile
	var logical strings.Builder
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(rest + " ")
			continue
		}
		logical.WriteString(line)
		cmd, args, _ := strings.Cut(logical.String(), " ")
		logical.Reset()
		in := dockerInstruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			fields := slices.DeleteFunc(strings.Fields(in.args), func(f string) bool { return strings.HasPrefix(f, "--") })
			stages = append(stages, dockerStage{from: fields[0]})
		} else if len(stages) > 0 {
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
		}
	}
	return stages
}

func (d dockerfile) final() dockerStage { return d[len(d)-1] }

func (s dockerStage) all(cmd string) []dockerInstruction {
	return slices.DeleteFunc(slices.Clone(s.instructions), func(in dockerInstruction) bool { return in.cmd != cmd })
}

// last returns the arguments of the stage's last cmd instruction, the one in force.
func (s dockerStage) last(cmd string) string {
	all := s.all(cmd)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1].args
}

// envPair is one KEY=VALUE of an ENV instruction; the value may be quoted.
var envPair = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)`)

// env returns the variables the stage's ENV instructions set.
func (s dockerStage) env() map[string]string {
	vars := map[string]string{}
	for _, in := range s.all("ENV") {
		if key, value, _ := strings.Cut(in.args, " "); !strings.Contains(key, "=") { // ENV KEY value
			vars[key] = strings.TrimSpace(value)
			continue
		}
		for _, m := range envPair.FindAllStringSubmatch(in.args, -1) {
			vars[m[1]] = strings.Trim(m[2], `"'`)
		}
	}
	return vars
}

func (s dockerStage) volumes(t *testing.T) []string {
	var out []string
	for _, in := range s.all("VOLUME") {
		if strings.HasPrefix(in.args, "[") {
			out = append(out, execForm(t, in.args)...)
		} else {
			out = append(out, strings.Fields(in.args)...)
		}
	}
	return out
}

func (s dockerStage) exposed() []string {
	var ports []string
	for _, in := range s.all("EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			ports = append(ports, strings.TrimSuffix(p, "/tcp"))
		}
	}
	return ports
}

// parseDockerignore returns whether .dockerignore keeps a file (a path
// relative to the context, with slashes) out of the build context: the last
// pattern that matches the file or a folder above it decides.
func parseDockerignore(text string) func(file string) bool {
	type rule struct {
		re   *regexp.Regexp
		keep bool
	}
	var rules []rule
	for line := range strings.Lines(text) {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		keep := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(path.Clean(strings.TrimPrefix(p, "!")), "/")
		rules = append(rules, rule{globRegexp(p), keep})
	}
	return func(file string) bool {
		ignored := false
		for _, r := range rules {
			for prefix := file; ; prefix = path.Dir(prefix) {
				if r.re.MatchString(prefix) {
					ignored = !r.keep
					break
				}
				if !strings.Contains(prefix, "/") {
					break
				}
			}
		}
		return ignored
	}
}

// globRegexp translates a .dockerignore pattern: ** is any number of
// folders, * and ? do not cross a slash.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString("[^/]*")
		case p[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	return regexp.MustCompile("^" + b.String() + "$")
}

func execForm(t *testing.T, s string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil {
		t.Errorf("%q is not in exec (JSON array) form", s)
	}
	return argv
}
