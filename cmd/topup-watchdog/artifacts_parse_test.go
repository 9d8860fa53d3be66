package main

// Readers of the Dockerfile, .dockerignore and docker-compose.yml for the
// artifact tests.

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
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

// composeFile is what the tests read of docker-compose.yml.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Command     []string `yaml:"command"`
	Environment any      `yaml:"environment"` // a mapping or a list of KEY=VALUE
	Secrets     []any    `yaml:"secrets"`     // names, or mappings with source and target
	Volumes     []any    `yaml:"volumes"`     // SOURCE:TARGET[:MODE], or mappings
	Tmpfs       any      `yaml:"tmpfs"`       // a path or a list of PATH[:OPTIONS]
	ReadOnly    bool     `yaml:"read_only"`
	CapDrop     []string `yaml:"cap_drop"`
	SecurityOpt []string `yaml:"security_opt"`
	Healthcheck struct {
		Test    any  `yaml:"test"`
		Disable bool `yaml:"disable"`
	} `yaml:"healthcheck"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var cf composeFile
	if err := yaml.Unmarshal([]byte(readArtifact(t, "docker-compose.yml")), &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return cf
}

// env returns the service's environment as the container sees it.
func (s composeService) env(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	switch e := s.Environment.(type) {
	case nil:
	case map[string]any:
		for k, v := range e {
			vars[k] = ""
			if v != nil {
				vars[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			vars[k] = v
		}
	default:
		t.Fatalf("environment of type %T", e)
	}
	return vars
}

// secretTargets maps where each secret of s shows in the container to the
// secret's name.
func (s composeService) secretTargets(t *testing.T) map[string]string {
	t.Helper()
	targets := map[string]string{}
	for _, sec := range s.Secrets {
		source, target := fmt.Sprint(sec), ""
		if m, ok := sec.(map[string]any); ok {
			source, target = fmt.Sprint(m["source"]), fmt.Sprint(m["target"])
		}
		if target == "" || target == "<nil>" {
			target = source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		targets[target] = source
	}
	return targets
}

// resolvedEnv is env with each secret's path in the container replaced by
// the path of its file in the repository, for the program to read here.
func (s composeService) resolvedEnv(t *testing.T, cf composeFile) map[string]string {
	t.Helper()
	vars := s.env(t)
	targets := s.secretTargets(t)
	for k, v := range vars {
		if secret, ok := targets[v]; ok && cf.Secrets[secret].File != "" {
			vars[k] = filepath.Join(artifactRoot, cf.Secrets[secret].File)
		}
	}
	return vars
}

// writable returns the folders of s that a read-only root leaves writable:
// its volumes (but read-only ones) and its tmpfs mounts.
func (s composeService) writable() []string {
	var out []string
	for _, v := range s.Volumes {
		if m, ok := v.(map[string]any); ok {
			if m["read_only"] != true {
				out = append(out, fmt.Sprint(m["target"]))
			}
			continue
		}
		parts := strings.Split(fmt.Sprint(v), ":")
		if len(parts) >= 2 && (len(parts) < 3 || !strings.Contains(parts[2], "ro")) {
			out = append(out, parts[1])
		}
	}
	tmpfs, _ := s.Tmpfs.([]any)
	if s.Tmpfs != nil && tmpfs == nil {
		tmpfs = []any{s.Tmpfs}
	}
	for _, m := range tmpfs {
		out = append(out, strings.SplitN(fmt.Sprint(m), ":", 2)[0])
	}
	return out
}
