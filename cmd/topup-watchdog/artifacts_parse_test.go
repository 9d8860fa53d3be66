package main

// Readers of the Dockerfile, .dockerignore and docker-compose.yml for the
// artifact tests.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

// k8sObject is what the tests read of a Kubernetes object in the README: a
// Secret, a Service, a Deployment or a StatefulSet.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas *int             `yaml:"replicas"`
		Selector map[string]any   `yaml:"selector"` // a Service's labels; a workload's matchLabels
		Ports    []k8sServicePort `yaml:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	InitContainers                []k8sContainer `yaml:"initContainers"`
	Containers                    []k8sContainer `yaml:"containers"`
	Volumes                       []k8sVolume    `yaml:"volumes"`
	TerminationGracePeriodSeconds *int           `yaml:"terminationGracePeriodSeconds"`
}

type k8sContainer struct {
	Name          string   `yaml:"name"`
	Image         string   `yaml:"image"`
	RestartPolicy string   `yaml:"restartPolicy"`
	Command       []string `yaml:"command"`
	Args          []string `yaml:"args"`
	Env           []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom any    `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []k8sVolumeMount `yaml:"volumeMounts"`
}

type k8sServicePort struct {
	Name string `yaml:"name"`
	Port int    `yaml:"port"`
}

type k8sVolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

// k8sKeyToPath is one item of a Secret volume: a key shown at a path.
type k8sKeyToPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type k8sVolume struct {
	Name   string `yaml:"name"`
	Secret *struct {
		SecretName string         `yaml:"secretName"`
		Items      []k8sKeyToPath `yaml:"items"`
	} `yaml:"secret"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
}

// readmeYAMLBlock is a fenced yaml block of the README.
var readmeYAMLBlock = regexp.MustCompile("(?ms)^```yaml\n(.*?)^```")

// readmeKubernetesObjects returns the Kubernetes objects of the README's
// yaml blocks: every document with a kind. Other blocks (alert rules, the
// compose excerpt, fragments) have none.
func readmeKubernetesObjects(t *testing.T, readme string) []k8sObject {
	t.Helper()
	var objs []k8sObject
	for _, m := range readmeYAMLBlock.FindAllStringSubmatch(readme, -1) {
		dec := yaml.NewDecoder(strings.NewReader(m[1]))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("a yaml block of the README: %v\n%s", err, m[1])
			}
			if o.Kind != "" {
				objs = append(objs, o)
			}
		}
	}
	return objs
}

// k8sFind returns the object of kind named name.
func k8sFind(objs []k8sObject, kind, name string) (k8sObject, bool) {
	i := slices.IndexFunc(objs, func(o k8sObject) bool { return o.Kind == kind && o.Metadata.Name == name })
	if i < 0 {
		return k8sObject{}, false
	}
	return objs[i], true
}

func (p k8sPodSpec) volume(name string) (k8sVolume, bool) {
	i := slices.IndexFunc(p.Volumes, func(v k8sVolume) bool { return v.Name == name })
	if i < 0 {
		return k8sVolume{}, false
	}
	return p.Volumes[i], true
}

// k8sSecretFile returns the text of the file at file in container c of pod,
// from the Secret in objs that a read-only volume mounts there.
func k8sSecretFile(objs []k8sObject, pod k8sPodSpec, c k8sContainer, file string) (string, error) {
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" || !within(file, m.MountPath) || file == m.MountPath {
			continue
		}
		v, ok := pod.volume(m.Name)
		if !ok || v.Secret == nil {
			return "", fmt.Errorf("%s is on volume %q, not a Secret", file, m.Name)
		}
		if !m.ReadOnly {
			return "", fmt.Errorf("the Secret volume %q at %s is not mounted readOnly", m.Name, m.MountPath)
		}
		rel, _ := filepath.Rel(m.MountPath, file)
		key := rel
		if len(v.Secret.Items) > 0 {
			i := slices.IndexFunc(v.Secret.Items, func(it k8sKeyToPath) bool { return it.Path == rel })
			if i < 0 {
				return "", fmt.Errorf("the Secret volume %q projects nothing at %s", m.Name, rel)
			}
			key = v.Secret.Items[i].Key
		}
		secret, ok := k8sFind(objs, "Secret", v.Secret.SecretName)
		if !ok {
			return "", fmt.Errorf("no Secret %q in the README", v.Secret.SecretName)
		}
		text, ok := secret.StringData[key]
		if !ok {
			return "", fmt.Errorf("the Secret %q has no key %q", v.Secret.SecretName, key)
		}
		return text, nil
	}
	return "", fmt.Errorf("no volume is mounted at %s", file)
}

// readmePlaceholder is a value the reader fills in, such as <the API secret>.
var readmePlaceholder = regexp.MustCompile(`<[^<>\n]+>`)

// fillPlaceholders gives each placeholder of s a value of its own, the same
// wherever the placeholder appears: one password written in two places
// stays one password.
func fillPlaceholders(s string) string {
	return readmePlaceholder.ReplaceAllStringFunc(s, func(p string) string {
		sum := sha256.Sum256([]byte(p))
		return "placeholder-" + hex.EncodeToString(sum[:6])
	})
}
