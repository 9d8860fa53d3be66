package main

// Readers of the README's Kubernetes example, for the artifact tests.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

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
