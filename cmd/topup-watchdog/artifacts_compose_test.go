package main

// The compose demo's shape: every watchdog locked down, configured and on
// one Redis that keeps the ledger and its password in secret files.

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// composeWatchdogs returns the names of the compose services that run the
// watchdog: the image's default command, or run.
func composeWatchdogs(t *testing.T, cf composeFile) []string {
	t.Helper()
	var names []string
	for name, s := range cf.Services {
		if name != composeSim && s.Image == cf.Services[composeSim].Image && (len(s.Command) == 0 || s.Command[0] == "run") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no compose service runs the watchdog")
	}
	slices.Sort(names)
	return names
}

func TestArtifactsComposeRunsEveryWatchdogLockedDownWithFileSecrets(t *testing.T) {
	cf := loadCompose(t)
	for name, s := range cf.Services {
		for _, plain := range []string{"VONAGE_API_SECRET", "VONAGE_TOPUP_TRX", "TOPUP_REDIS_URL"} {
			if _, ok := s.env(t)[plain]; ok {
				t.Errorf("service %s passes %s in its environment, not as a file (%s_FILE)", name, plain, plain)
			}
		}
	}
	for _, name := range composeWatchdogs(t, cf) {
		t.Run(name, func(t *testing.T) { checkComposeWatchdogLockedDown(t, cf, cf.Services[name]) })
	}
}

func checkComposeWatchdogLockedDown(t *testing.T, cf composeFile, w composeService) {
	checkComposeLockedDown(t, w)
	if w.Healthcheck.Test != nil || w.Healthcheck.Disable {
		t.Error("the watchdog replaces the image's health check")
	}
	vars := w.env(t)
	for _, v := range []string{"VONAGE_API_SECRET_FILE", "VONAGE_TOPUP_TRX_FILE", "TOPUP_REDIS_URL_FILE"} {
		if v == "TOPUP_REDIS_URL_FILE" && vars[v] == "" {
			continue // no fleet
		}
		secret, ok := strings.CutPrefix(vars[v], "/run/secrets/")
		if !ok || w.secretTargets(t)[vars[v]] != secret {
			t.Errorf("%s=%q is not a secret the watchdog mounts", v, vars[v])
			continue
		}
		if f := cf.Secrets[secret].File; f == "" || artifactFileSize(t, f) == 0 {
			t.Errorf("secret %s is not a file with content (environment-sourced secrets fail on a read-only container)", secret)
		}
	}
	if vars["TOPUP_REDIS_URL_FILE"] != "" {
		return // the ledger is in Redis: no ledger file is written
	}
	state := vars["TOPUP_STATE_FILE"]
	if state == "" {
		state = parseDockerfile(readArtifact(t, "Dockerfile")).final().env()["TOPUP_STATE_FILE"]
	}
	if !slices.ContainsFunc(w.writable(), func(target string) bool { return within(state, target) }) {
		t.Errorf("the ledger %s is on the read-only root: no volume or tmpfs holds it (%v)", state, w.writable())
	}
}

// checkComposeLockedDown checks that s runs with a read-only root, no
// capabilities and no privilege gain.
func checkComposeLockedDown(t *testing.T, s composeService) {
	t.Helper()
	if !s.ReadOnly {
		t.Error("the root file system is not read_only")
	}
	if !slices.Contains(s.CapDrop, "ALL") {
		t.Errorf("cap_drop %v, not ALL capabilities", s.CapDrop)
	}
	if !slices.ContainsFunc(s.SecurityOpt, func(o string) bool { return o == "no-new-privileges:true" || o == "no-new-privileges" }) {
		t.Errorf("security_opt %v lacks no-new-privileges", s.SecurityOpt)
	}
}

func TestArtifactsComposeGivesEveryWatchdogAValidConfigurationThatReachesTheSimulator(t *testing.T) {
	cf := loadCompose(t)
	_, addr := composeSimAccount(t, cf)
	if host, _, _ := net.SplitHostPort(addr); host != "0.0.0.0" {
		t.Errorf("the simulator listens on %s: other containers cannot reach it", addr)
	}
	for _, name := range composeWatchdogs(t, cf) {
		cfg, err := config.LoadLookup(lookup(cf.Services[name].resolvedEnv(t, cf)))
		if err != nil {
			t.Errorf("the configuration of %s: %v", name, err)
			continue
		}
		u, err := url.Parse(cfg.BaseURL)
		if err != nil {
			t.Fatal(err)
		}
		if _, port, _ := net.SplitHostPort(addr); u.Hostname() != composeSim || u.Port() != port {
			t.Errorf("%s: VONAGE_BASE_URL %s is not the simulator, %s listening on %s", name, cfg.BaseURL, composeSim, addr)
		}
	}
}

func TestArtifactsComposeRunsThreeWatchdogReplicasOnOneRedis(t *testing.T) {
	cf := loadCompose(t)
	replicas := 0
	redisURLs, prefixes := map[string]bool{}, map[string]bool{}
	published := map[string]string{} // host port: the service that publishes it
	for _, name := range composeWatchdogs(t, cf) {
		s := cf.Services[name]
		replicas += s.replicas()
		cfg, err := config.LoadLookup(lookup(s.resolvedEnv(t, cf)))
		if err != nil {
			t.Errorf("the configuration of %s: %v", name, err)
			continue
		}
		if cfg.RedisURL == "" {
			t.Errorf("%s has no TOPUP_REDIS_URL: it would keep a ledger of its own and top up beside the others", name)
		}
		redisURLs[cfg.RedisURL], prefixes[cfg.RedisPrefix] = true, true
		for _, dep := range []string{composeRedis, composeSim} {
			if !slices.Contains(s.dependsOn(), dep) {
				t.Errorf("%s does not depend on %s", name, dep)
			}
		}
		ports, random := s.hostPorts(t)
		if random > 0 || len(ports) < s.replicas() {
			t.Errorf("%s publishes %v for %d replicas: each replica needs a host port of its own", name, s.Ports, s.replicas())
		}
		for _, p := range ports {
			if other, ok := published[p]; ok {
				t.Errorf("%s and %s both publish host port %s", other, name, p)
			}
			published[p] = name
		}
	}
	if replicas != fleetReplicas {
		t.Errorf("the compose file runs %d watchdogs, want %d", replicas, fleetReplicas)
	}
	if len(redisURLs) != 1 || len(prefixes) != 1 {
		t.Fatalf("the watchdogs are on %d Redis URLs and %d prefixes: want one fleet, on one of each", len(redisURLs), len(prefixes))
	}
	for u := range redisURLs {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err) // config.LoadLookup took it
		}
		port := composeRedisSettings(t, cf)["port"].value
		if port == "" {
			port = "6379"
		}
		if parsed.Hostname() != composeRedis || parsed.Port() != port {
			t.Errorf("the Redis URL's host is %s:%s, not the %s service on port %s", parsed.Hostname(), parsed.Port(), composeRedis, port)
		}
	}
}

// composeRedisSettings returns the settings the compose Redis runs with.
func composeRedisSettings(t *testing.T, cf composeFile) map[string]redisSetting {
	t.Helper()
	r, ok := cf.Services[composeRedis]
	if !ok {
		t.Fatalf("no service %q", composeRedis)
	}
	files := r.composeSecretFiles(t, cf)
	settings, err := redisSettings(r.Command, func(name string) (string, error) {
		f, ok := files[name]
		if !ok {
			return "", errors.New("not a secret the service mounts")
		}
		b, err := os.ReadFile(f)
		return string(b), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return settings
}

func TestArtifactsComposeRedisKeepsTheLedgerOnAVolumeAndNeverEvicts(t *testing.T) {
	cf := loadCompose(t)
	r := cf.Services[composeRedis]
	if !strings.HasPrefix(r.Image, "redis:") {
		t.Errorf("the %s service runs %q, not the official redis image", composeRedis, r.Image)
	}
	checkRedisKeepsTheLedger(t, composeRedisSettings(t, cf))
	dir := composeRedisSettings(t, cf)["dir"].value
	if dir == "" || dir == "./" || dir == "." {
		dir = "/data" // the image's working folder
	}
	if v, ok := r.namedVolumes()[dir]; !ok || !slices.Contains(slices.Collect(maps.Keys(cf.Volumes)), v) {
		t.Errorf("Redis writes to %s, which is not on a named volume (%v): a new container would start from an empty ledger", dir, r.Volumes)
	}
	checkComposeLockedDown(t, r)
	if user, _, _ := strings.Cut(r.User, ":"); user == "" || user == "0" || user == "root" {
		t.Errorf("the %s service runs as user %q: its entrypoint's root steps need capabilities it has dropped", composeRedis, r.User)
	}
}

// checkRedisKeepsTheLedger checks the settings the README asks of the
// fleet's Redis: an append-only file synced at least every second, and no
// eviction.
func checkRedisKeepsTheLedger(t *testing.T, settings map[string]redisSetting) {
	t.Helper()
	if got := settings["appendonly"].value; got != "yes" {
		t.Errorf("appendonly is %q, not yes: a restart of Redis would lose the ledger", got)
	}
	if got := settings["appendfsync"].value; got == "no" {
		t.Error("appendfsync no: a crash of Redis can lose more than a second of the ledger")
	}
	if got := settings["maxmemory-policy"].value; got != "noeviction" {
		t.Errorf("maxmemory-policy is %q, not noeviction: an evicted ledger is a lost ledger", got)
	}
}

func TestArtifactsComposeKeepsTheRedisPasswordInSecretFilesOnly(t *testing.T) {
	cf := loadCompose(t)
	pass := composeRedisSettings(t, cf)["requirepass"]
	if pass.value == "" {
		t.Fatalf("the %s service runs without a password (requirepass)", composeRedis)
	}
	if !strings.HasPrefix(pass.from, "/run/secrets/") {
		t.Errorf("requirepass is set on %s, not in a secret file", pass.from)
	}
	for _, name := range composeWatchdogs(t, cf) {
		cfg, err := config.LoadLookup(lookup(cf.Services[name].resolvedEnv(t, cf)))
		if err != nil {
			t.Fatalf("the configuration of %s: %v", name, err)
		}
		u, err := url.Parse(cfg.RedisURL)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := u.User.Password(); got != pass.value {
			t.Errorf("%s's Redis URL does not hold the password Redis requires", name)
		}
	}
	sweep := secrettest.New(pass.value)
	for name, s := range cf.Services {
		for k, v := range s.env(t) {
			sweep.Add(fmt.Sprintf("service %s's %s", name, k), []byte(v))
		}
		sweep.Add(fmt.Sprintf("service %s's command", name), []byte(strings.Join(s.Command, " ")))
	}
	for _, f := range []string{"docker-compose.yml", "README.md", "Dockerfile"} {
		sweep.Add(f, []byte(readArtifact(t, f)))
	}
	sweep.Check(t)
}
