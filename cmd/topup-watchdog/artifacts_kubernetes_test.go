package main

// The README's Kubernetes example: a fleet of native sidecars on a Redis
// that keeps the ledger.

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
)

// readmeFleet is the README's Kubernetes example of a fleet: the Deployment
// whose pods run the watchdog as a native sidecar, that sidecar, and the
// configuration its environment and Secret files load to.
type readmeFleet struct {
	objs     []k8sObject
	app      k8sObject
	watchdog k8sContainer
	cfg      config.Config
}

// isWatchdogImage reports whether image is the watchdog's.
func isWatchdogImage(image string) bool {
	name, _, _ := strings.Cut(path.Base(image), ":")
	return name == "topup-watchdog"
}

func loadREADMEFleet(t *testing.T) readmeFleet {
	t.Helper()
	f := readmeFleet{objs: readmeKubernetesObjects(t, readArtifact(t, "README.md"))}
	found := false
	for _, o := range f.objs {
		if o.Kind != "Deployment" {
			continue
		}
		for _, c := range o.Spec.Template.Spec.InitContainers {
			if isWatchdogImage(c.Image) {
				f.app, f.watchdog, found = o, c, true
			}
		}
	}
	if !found {
		t.Fatal("no Deployment in the README runs the watchdog under initContainers")
	}
	vars := map[string]string{}
	pod := f.app.Spec.Template.Spec
	for _, e := range f.watchdog.Env {
		if e.ValueFrom != nil {
			t.Errorf("%s comes from valueFrom: give secrets as files", e.Name)
			continue
		}
		vars[e.Name] = e.Value
		if !strings.HasSuffix(e.Name, "_FILE") {
			continue
		}
		text, err := k8sSecretFile(f.objs, pod, f.watchdog, e.Value)
		if err != nil {
			t.Errorf("%s=%s: %v", e.Name, e.Value, err)
			continue
		}
		file := filepath.Join(t.TempDir(), path.Base(e.Value))
		if err := os.WriteFile(file, []byte(fillPlaceholders(text)), 0o600); err != nil {
			t.Fatal(err)
		}
		vars[e.Name] = file
	}
	var err error
	if f.cfg, err = config.LoadLookup(lookup(vars)); err != nil {
		t.Fatalf("the configuration of the README's Kubernetes watchdog: %v", err)
	}
	return f
}

func TestArtifactsREADMEKubernetesRunsAFleetOfNativeSidecars(t *testing.T) {
	f := loadREADMEFleet(t)
	pod := f.app.Spec.Template.Spec
	if r := f.app.Spec.Replicas; r == nil || *r != fleetReplicas {
		t.Errorf("the Deployment %s has replicas %s, want %d: the example is a fleet", f.app.Metadata.Name, optional(r), fleetReplicas)
	}
	if f.watchdog.RestartPolicy != "Always" {
		t.Errorf("the watchdog under initContainers has restartPolicy %q: without Always it is an init container that never ends", f.watchdog.RestartPolicy)
	}
	if slices.ContainsFunc(pod.Containers, func(c k8sContainer) bool { return isWatchdogImage(c.Image) }) {
		t.Error("the watchdog is under containers too")
	}
	if len(pod.Containers) == 0 {
		t.Error("the pod has no application container for the watchdog to be the sidecar of")
	}
	if f.cfg.RedisURL == "" {
		t.Fatal("the watchdog has no Redis URL: each replica would keep its own ledger and top up")
	}
	vars := map[string]bool{}
	for _, e := range f.watchdog.Env {
		vars[e.Name] = true
	}
	if !vars["TOPUP_REDIS_URL_FILE"] || vars["TOPUP_REDIS_URL"] {
		t.Error("the Redis URL (it holds the password) is not read from a file, TOPUP_REDIS_URL_FILE")
	}
	for _, m := range f.watchdog.VolumeMounts {
		if v, ok := pod.volume(m.Name); ok && v.PersistentVolumeClaim != nil {
			t.Errorf("the watchdog mounts the PersistentVolumeClaim %s: with Redis the file ledger is not used, and %d pods cannot share one", v.PersistentVolumeClaim.ClaimName, fleetReplicas)
		}
	}
	grace := f.cfg.RequestTimeout + 5*time.Second
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < grace {
		t.Errorf("terminationGracePeriodSeconds %s is shorter than a top-up in flight, %s", optional(g), grace)
	}
}

// optional shows an optional number: its value, or "unset".
func optional(n *int) string {
	if n == nil {
		return "unset"
	}
	return fmt.Sprint(*n)
}

func TestArtifactsREADMEKubernetesRedisKeepsTheLedgerAndNeverEvicts(t *testing.T) {
	f := loadREADMEFleet(t)
	u, err := url.Parse(f.cfg.RedisURL)
	if err != nil {
		t.Fatal(err) // config.LoadLookup took it
	}
	svc, ok := k8sFind(f.objs, "Service", u.Hostname())
	if !ok {
		t.Fatalf("the Redis URL's host %s is no Service of the README", u.Hostname())
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p k8sServicePort) bool { return fmt.Sprint(p.Port) == u.Port() }) {
		t.Errorf("the Service %s does not serve the URL's port %s", svc.Metadata.Name, u.Port())
	}
	var redis *k8sObject
	for i, o := range f.objs {
		if (o.Kind == "StatefulSet" || o.Kind == "Deployment") && len(svc.Spec.Selector) > 0 &&
			maps.EqualFunc(svc.Spec.Selector, o.Spec.Template.Metadata.Labels, func(a any, b string) bool { return fmt.Sprint(a) == b }) {
			redis = &f.objs[i]
		}
	}
	if redis == nil {
		t.Fatalf("no workload in the README has the labels the Service %s selects, %v", svc.Metadata.Name, svc.Spec.Selector)
	}
	pod := redis.Spec.Template.Spec
	i := slices.IndexFunc(pod.Containers, func(c k8sContainer) bool { return strings.HasPrefix(c.Image, "redis:") })
	if i < 0 {
		t.Fatalf("%s %s runs no redis image", redis.Kind, redis.Metadata.Name)
	}
	c := pod.Containers[i]
	settings, err := redisSettings(append(slices.Clone(c.Command), c.Args...), func(file string) (string, error) {
		return k8sSecretFile(f.objs, pod, c, file)
	})
	if err != nil {
		t.Fatal(err)
	}
	checkRedisKeepsTheLedger(t, settings)
	pass := settings["requirepass"]
	if pass.from == "the command line" || pass.value == "" {
		t.Errorf("requirepass is not set in a config file from a Secret (it was set on %q)", pass.from)
	}
	if got, _ := u.User.Password(); fillPlaceholders(pass.value) != got {
		t.Error("the watchdog's Redis URL does not hold the password Redis requires")
	}
	claims := map[string]bool{}
	for _, v := range pod.Volumes {
		claims[v.Name] = v.PersistentVolumeClaim != nil
	}
	for _, tmpl := range redis.Spec.VolumeClaimTemplates {
		claims[tmpl.Metadata.Name] = true
	}
	dir := settings["dir"].value
	if dir == "" || dir == "./" || dir == "." {
		dir = "/data" // the image's working folder
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m k8sVolumeMount) bool { return m.MountPath == dir && claims[m.Name] }) {
		t.Errorf("Redis writes to %s, which is not on a PersistentVolumeClaim: a new pod would start from an empty ledger", dir)
	}
}
