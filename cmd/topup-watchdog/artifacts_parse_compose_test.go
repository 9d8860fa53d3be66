package main

// Readers of docker-compose.yml and of the Redis configuration it mounts,
// for the artifact tests.

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// composeFile is what the tests read of docker-compose.yml.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"` // the named volumes
}

type composeService struct {
	Image       string   `yaml:"image"`
	Command     []string `yaml:"command"`
	User        string   `yaml:"user"`
	DependsOn   any      `yaml:"depends_on"`  // a list of names, or a mapping by name
	Environment any      `yaml:"environment"` // a mapping or a list of KEY=VALUE
	Secrets     []any    `yaml:"secrets"`     // names, or mappings with source and target
	Volumes     []any    `yaml:"volumes"`     // SOURCE:TARGET[:MODE], or mappings
	Tmpfs       any      `yaml:"tmpfs"`       // a path or a list of PATH[:OPTIONS]
	Ports       []any    `yaml:"ports"`       // [[IP:]HOST:]CONTAINER, or mappings
	ReadOnly    bool     `yaml:"read_only"`
	CapDrop     []string `yaml:"cap_drop"`
	SecurityOpt []string `yaml:"security_opt"`
	Healthcheck struct {
		Test    any  `yaml:"test"`
		Disable bool `yaml:"disable"`
	} `yaml:"healthcheck"`
	Deploy struct {
		Replicas *int `yaml:"replicas"`
	} `yaml:"deploy"`
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

// replicas is how many containers of s Compose starts.
func (s composeService) replicas() int {
	if s.Deploy.Replicas == nil {
		return 1
	}
	return *s.Deploy.Replicas
}

// dependsOn returns the services s waits for.
func (s composeService) dependsOn() []string {
	var names []string
	switch d := s.DependsOn.(type) {
	case []any:
		for _, n := range d {
			names = append(names, fmt.Sprint(n))
		}
	case map[string]any:
		for n := range d {
			names = append(names, n)
		}
	}
	return names
}

// namedVolumes maps the targets of s's named volumes (not bind mounts) to
// the volumes' names.
func (s composeService) namedVolumes() map[string]string {
	named := map[string]string{}
	for _, v := range s.Volumes {
		source, target := "", ""
		if m, ok := v.(map[string]any); ok {
			if m["type"] != nil && m["type"] != "volume" {
				continue
			}
			source, target = fmt.Sprint(m["source"]), fmt.Sprint(m["target"])
		} else if parts := strings.Split(fmt.Sprint(v), ":"); len(parts) >= 2 {
			source, target = parts[0], parts[1]
		}
		if source != "" && !strings.HasPrefix(source, ".") && !strings.HasPrefix(source, "/") && !strings.HasPrefix(source, "~") {
			named[target] = source
		}
	}
	return named
}

// hostPorts returns the host ports s publishes, a range expanded, and how
// many published ports leave the host port to the engine.
func (s composeService) hostPorts(t *testing.T) (ports []string, random int) {
	t.Helper()
	for _, p := range s.Ports {
		host := ""
		if m, ok := p.(map[string]any); ok {
			if m["published"] != nil {
				host = fmt.Sprint(m["published"])
			}
		} else {
			spec, _, _ := strings.Cut(fmt.Sprint(p), "/") // 9090:9090/tcp
			parts := strings.Split(spec, ":")
			switch len(parts) {
			case 2:
				host = parts[0]
			case 3:
				host = parts[1]
			}
		}
		if host == "" {
			random++
			continue
		}
		first, last, isRange := strings.Cut(host, "-")
		if !isRange {
			ports = append(ports, host)
			continue
		}
		var lo, hi int
		if _, err := fmt.Sscan(first, &lo); err != nil {
			t.Fatalf("port range %q: %v", host, err)
		}
		if _, err := fmt.Sscan(last, &hi); err != nil {
			t.Fatalf("port range %q: %v", host, err)
		}
		for port := lo; port <= hi; port++ {
			ports = append(ports, fmt.Sprint(port))
		}
	}
	return ports, random
}

// composeSecretFiles maps where each secret of s shows in the container to
// its file in the repository, as the tests can read it.
func (s composeService) composeSecretFiles(t *testing.T, cf composeFile) map[string]string {
	t.Helper()
	files := map[string]string{}
	for target, secret := range s.secretTargets(t) {
		if f := cf.Secrets[secret].File; f != "" {
			files[target] = filepath.Join(artifactRoot, f)
		}
	}
	return files
}

// redisSetting is one setting of a Redis server and where it was set: a
// config file's path, or "the command line".
type redisSetting struct{ value, from string }

// redisSettings reads the settings a redis-server started with argv runs
// with: a config file (the first argument that is not an option), then the
// --name value options, which Redis applies after the file. readFile gives a
// config file's text. Names are lower case; a value loses its quotes.
func redisSettings(argv []string, readFile func(path string) (string, error)) (map[string]redisSetting, error) {
	if len(argv) > 0 && path.Base(argv[0]) == "redis-server" {
		argv = argv[1:]
	}
	settings := map[string]redisSetting{}
	if len(argv) > 0 && !strings.HasPrefix(argv[0], "--") {
		text, err := readFile(argv[0])
		if err != nil {
			return nil, fmt.Errorf("redis config file %s: %w", argv[0], err)
		}
		for line := range strings.Lines(text) {
			fields := strings.Fields(line)
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			settings[strings.ToLower(fields[0])] = redisSetting{redisValue(fields[1:]), argv[0]}
		}
		argv = argv[1:]
	}
	for i := 0; i < len(argv); {
		name, ok := strings.CutPrefix(argv[i], "--")
		if !ok {
			return nil, fmt.Errorf("redis-server argument %q is neither an option nor its value", argv[i])
		}
		j := i + 1
		for j < len(argv) && !strings.HasPrefix(argv[j], "--") {
			j++
		}
		settings[strings.ToLower(name)] = redisSetting{redisValue(argv[i+1 : j]), "the command line"}
		i = j
	}
	return settings, nil
}

func redisValue(fields []string) string {
	return strings.Trim(strings.Join(fields, " "), `"'`)
}
