package main

// The Dockerfile, docker-compose.yml, .dockerignore and the README are held
// to the program here, without a Docker engine or a cluster: they name only
// variables the program reads, the README documents all of them, the image,
// the compose demo (a fleet of watchdogs on one Redis) and the README's
// Kubernetes example are shaped as the README promises, and the demo tops up
// in time.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
	"github.com/topup-watchdog/topup-watchdog/internal/ledger"
	"github.com/topup-watchdog/topup-watchdog/internal/redistest"
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
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

func TestArtifactsDockerfileBuildsAStaticVersionedBinaryWithTheModulesGo(t *testing.T) {
	df := parseDockerfile(readArtifact(t, "Dockerfile"))
	gomod := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readArtifact(t, "go.mod"))
	builder := regexp.MustCompile(`golang:(\d+\.\d+)`).FindStringSubmatch(df[0].from)
	if gomod == nil || builder == nil || builder[1] != gomod[1] {
		t.Errorf("the builder %q is not the Go of go.mod (%v)", df[0].from, gomod)
	}
	build := ""
	for _, in := range df[0].all("RUN") {
		if strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "-X main.version=", "-X main.commit=", "./cmd/topup-watchdog"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step lacks %q: %q", want, build)
		}
	}
	if !slices.ContainsFunc(df[0].all("RUN"), func(in dockerInstruction) bool {
		return strings.Contains(in.args, "go mod download") && !strings.Contains(in.args, "go build")
	}) {
		t.Error("the modules are not downloaded in a step of their own")
	}
}

func TestArtifactsDockerfileRunsTheWatchdogAsTheREADMESays(t *testing.T) {
	final := parseDockerfile(readArtifact(t, "Dockerfile")).final()
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") {
		t.Errorf("the final stage is %q, not distroless static (CA roots, time zones, a non-root user)", final.from)
	}
	if user := final.last("USER"); !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(user) {
		t.Errorf("USER %q: want a numeric non-root uid, which Kubernetes' runAsNonRoot can verify", user)
	}
	state := final.env()["TOPUP_STATE_FILE"]
	volumes := final.volumes(t)
	if state == "" || !slices.ContainsFunc(volumes, func(v string) bool { return within(state, v) }) {
		t.Errorf("TOPUP_STATE_FILE %q is not under a VOLUME %v", state, volumes)
	}
	uid, _, _ := strings.Cut(final.last("USER"), ":")
	if !slices.ContainsFunc(final.all("COPY"), func(in dockerInstruction) bool {
		f := strings.Fields(in.args)
		return f[len(f)-1] == path.Dir(state) && slices.ContainsFunc(f, func(o string) bool {
			return o == "--chown="+uid || strings.HasPrefix(o, "--chown="+uid+":")
		})
	}) {
		t.Errorf("no COPY --chown=%s makes %s the user's: the ledger could not be written there", uid, path.Dir(state))
	}
	if !strings.Contains(readArtifact(t, "README.md"), "`"+state+"`") {
		t.Errorf("README does not give the image's TOPUP_STATE_FILE, %q", state)
	}
	cfg, err := config.LoadLookup(lookup(map[string]string{"VONAGE_API_KEY": "k", "VONAGE_API_SECRET": "s3cret-value",
		"VONAGE_TOPUP_TRX": "trx-value", "TOPUP_THRESHOLD": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(cfg.ListenAddr); !slices.Contains(final.exposed(), port) {
		t.Errorf("EXPOSE %v, but the default TOPUP_LISTEN_ADDR is %q", final.exposed(), cfg.ListenAddr)
	}
	entry := execForm(t, final.last("ENTRYPOINT"))
	if len(entry) != 1 || !slices.ContainsFunc(final.all("COPY"), func(in dockerInstruction) bool {
		return strings.HasSuffix(in.args, " "+entry[0])
	}) {
		t.Errorf("ENTRYPOINT %v is not the binary the final stage copies", entry)
	}
	health := strings.TrimSpace(regexp.MustCompile(`^(--\S+\s+)*CMD\s`).ReplaceAllString(final.last("HEALTHCHECK"), ""))
	if got := execForm(t, health); len(entry) != 1 || !slices.Equal(got, []string{entry[0], "healthcheck"}) {
		t.Errorf("HEALTHCHECK runs %v, not the binary's healthcheck command in exec form", got)
	}
	if cmd := execForm(t, final.last("CMD")); len(cmd) != 1 || !isCommand(cmd[0]) {
		t.Errorf("CMD %v is not one of the program's commands", cmd)
	}
}

func isCommand(name string) bool {
	return slices.ContainsFunc(commands(), func(c command) bool { return c.name == name })
}

func TestArtifactsDockerignoreSendsTheSourcesAndNoTestsOrSecrets(t *testing.T) {
	ignore := parseDockerignore(readArtifact(t, ".dockerignore"))
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}} {{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}} {{end}}{{end}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(artifactRoot)
	if err != nil {
		t.Fatal(err)
	}
	files := strings.Fields(string(out))
	if len(files) < 10 {
		t.Fatalf("go list found only %v", files)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	for _, f := range needed {
		if ignore(f) {
			t.Errorf(".dockerignore keeps %s, which the build needs, out of the context", f)
		}
	}
	kept := []string{"cmd/topup-watchdog/artifacts_test.go", ".git/config", "topup-state.json"}
	for _, s := range loadCompose(t).Secrets {
		kept = append(kept, s.File)
	}
	for _, f := range kept {
		if !ignore(path.Clean(f)) {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
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

func artifactFileSize(t *testing.T, name string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(artifactRoot, name))
	if err != nil {
		t.Error(err)
		return 0
	}
	return info.Size()
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
	for name, s := range cf.Services {
		for k, v := range s.env(t) {
			if strings.Contains(v, pass.value) {
				t.Errorf("service %s's %s holds the Redis password", name, k)
			}
		}
		if strings.Contains(strings.Join(s.Command, " "), pass.value) {
			t.Errorf("service %s's command holds the Redis password", name)
		}
	}
	for _, f := range []string{"docker-compose.yml", "README.md", "Dockerfile"} {
		if strings.Contains(readArtifact(t, f), pass.value) {
			t.Errorf("%s holds the Redis password", f)
		}
	}
}

func simArgs(t *testing.T, cf composeFile) []string {
	t.Helper()
	cmd := cf.Services[composeSim].Command
	if len(cmd) == 0 || cmd[0] != "sim" {
		t.Fatalf("service %s runs %v, not the sim command", composeSim, cmd)
	}
	return cmd[1:]
}

func TestArtifactsComposeStartsTheSimulatorWithFlagsItDefines(t *testing.T) {
	cf := loadCompose(t)
	args := simArgs(t, cf)
	for i, a := range args {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); name == "addr" && strings.Contains(a, "=") {
			args[i] = "--addr=127.0.0.1:0" // the real flags, served on loopback for a moment
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"sim"}, args...), lookup(cf.Services[composeSim].resolvedEnv(t, cf)), &stdout, &stderr)
	if err != nil || stderr.Len() > 0 {
		t.Errorf("sim %v: %v\n%s", args, err, stderr.String())
	}
}

func TestArtifactsComposeDemoTopsUpWithinAMinute(t *testing.T) {
	const minute, lag = time.Minute, 5 * time.Second // lag: the watchdog starts after the simulator
	cf := loadCompose(t)
	clock := &artifactClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	account, _ := composeSimAccount(t, cf)
	account.Now = clock.Now
	acct, err := sim.New(account)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(acct.Handler())
	t.Cleanup(srv.Close)
	// The replicas share one tick: the fleet reads and decides as one
	// watchdog does, here on a memory ledger.
	vars := cf.Services[composeWatchdogs(t, cf)[0]].resolvedEnv(t, cf)
	vars["VONAGE_BASE_URL"] = srv.URL
	cfg, err := config.LoadLookup(lookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	client, err := newClient(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	var decisions, topUps int
	w := watchdog.New(client, ledger.NewMemory(ledger.State{}), watchdog.Options{
		Settings: settings(cfg), DryRun: cfg.DryRun, Now: clock.Now,
		Observer: watchdog.ObserverFunc(func(e watchdog.Event) {
			switch e := e.(type) {
			case watchdog.Decided:
				decisions++
			case watchdog.TopUpFinished:
				if e.Outcome == ledger.Succeeded {
					topUps++
				}
			}
		}),
	})
	start := clock.Now()
	// The watchdog checks at once, then on its schedule.
	for at := start.Add(lag); at.Before(start.Add(minute)) && topUps == 0; at = cfg.Schedule.Next(at) {
		clock.now = at
		w.Check(context.Background())
	}
	if decisions < 2 || topUps == 0 {
		t.Fatalf("in the demo's first minute: %d decisions, %d top-ups; want decisions and a top-up", decisions, topUps)
	}
	t.Logf("the demo's first top-up, %s after the simulator started, after %d decisions", clock.now.Sub(start), decisions)
}

// composeSimAccount returns the account the compose simulator serves and
// the address it listens on: the sim command's defaults, as its --help prints
// them, then the service's flags and credentials.
func composeSimAccount(t *testing.T, cf composeFile) (sim.Config, string) {
	t.Helper()
	var help bytes.Buffer
	if err := run(context.Background(), []string{"sim", "--help"}, lookup(nil), &help, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("sim --help: %v", err)
	}
	var cfg sim.Config
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "", "")
	simFlags(fs, &cfg)
	flagLine := regexp.MustCompile(`(?m)^  -(\S+).*(?:\n\s+\t.*\(default "?([^")]*)"?\))?`)
	for _, m := range flagLine.FindAllStringSubmatch(help.String(), -1) {
		if fs.Lookup(m[1]) == nil {
			t.Fatalf("sim --help lists -%s, which this test does not know", m[1])
		}
		if m[2] != "" {
			if err := fs.Set(m[1], m[2]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := fs.Parse(simArgs(t, cf)); err != nil {
		t.Fatalf("the simulator's command: %v", err)
	}
	e := &env{lookupenv: lookup(cf.Services[composeSim].resolvedEnv(t, cf))}
	var errs []error
	cfg.APIKey = simCredential(e, "VONAGE_API_KEY", "", demoKey, &errs)
	cfg.APISecret = simCredential(e, "VONAGE_API_SECRET", "VONAGE_API_SECRET_FILE", demoSecret, &errs)
	cfg.TRX = simCredential(e, "VONAGE_TOPUP_TRX", "VONAGE_TOPUP_TRX_FILE", demoTRX, &errs)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return cfg, *addr
}

type artifactClock struct{ now time.Time }

func (c *artifactClock) Now() time.Time { return c.now }

// within reports whether file is dir or lies under it.
func within(file, dir string) bool {
	rel, err := filepath.Rel(dir, file)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func execForm(t *testing.T, s string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil {
		t.Errorf("%q is not in exec (JSON array) form", s)
	}
	return argv
}

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
