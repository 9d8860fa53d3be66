package main

// The Dockerfile, docker-compose.yml, .dockerignore and the README are held
// to the program here, without a Docker engine: they name only variables the
// program reads, the README documents all of them, the image and the compose
// demo are shaped as the README promises, and the demo tops up in time.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	"github.com/topup-watchdog/topup-watchdog/internal/sim"
	"github.com/topup-watchdog/topup-watchdog/internal/watchdog"
)

// artifactRoot is the repository's root, seen from this package's folder.
const artifactRoot = "../.."

// The compose services the README's demo relies on.
const (
	composeWatchdog = "watchdog"
	composeSim      = "vonage-sim"
)

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

func TestArtifactsComposeRunsTheWatchdogLockedDownWithFileSecrets(t *testing.T) {
	cf := loadCompose(t)
	w, ok := cf.Services[composeWatchdog]
	if !ok {
		t.Fatalf("no service %q", composeWatchdog)
	}
	if !w.ReadOnly {
		t.Error("the watchdog's root file system is not read_only")
	}
	if !slices.Contains(w.CapDrop, "ALL") {
		t.Errorf("the watchdog drops %v, not ALL capabilities", w.CapDrop)
	}
	if !slices.ContainsFunc(w.SecurityOpt, func(o string) bool { return o == "no-new-privileges:true" || o == "no-new-privileges" }) {
		t.Errorf("the watchdog's security_opt %v lacks no-new-privileges", w.SecurityOpt)
	}
	if w.Healthcheck.Test != nil || w.Healthcheck.Disable {
		t.Error("the watchdog replaces the image's health check")
	}
	for name, s := range cf.Services {
		for _, plain := range []string{"VONAGE_API_SECRET", "VONAGE_TOPUP_TRX"} {
			if _, ok := s.env(t)[plain]; ok {
				t.Errorf("service %s passes %s in its environment, not as a file (%s_FILE)", name, plain, plain)
			}
		}
	}
	vars := w.env(t)
	for _, v := range []string{"VONAGE_API_SECRET_FILE", "VONAGE_TOPUP_TRX_FILE"} {
		secret, ok := strings.CutPrefix(vars[v], "/run/secrets/")
		if !ok || w.secretTargets(t)[vars[v]] != secret {
			t.Errorf("%s=%q is not a secret the watchdog mounts", v, vars[v])
			continue
		}
		if f := cf.Secrets[secret].File; f == "" || artifactFileSize(t, f) == 0 {
			t.Errorf("secret %s is not a file with content (environment-sourced secrets fail on a read-only container)", secret)
		}
	}
	state := vars["TOPUP_STATE_FILE"]
	if state == "" {
		state = parseDockerfile(readArtifact(t, "Dockerfile")).final().env()["TOPUP_STATE_FILE"]
	}
	if !slices.ContainsFunc(w.writable(), func(target string) bool { return within(state, target) }) {
		t.Errorf("the ledger %s is on the read-only root: no volume or tmpfs holds it (%v)", state, w.writable())
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

func TestArtifactsComposeGivesTheWatchdogAValidConfigurationThatReachesTheSimulator(t *testing.T) {
	cf := loadCompose(t)
	cfg, err := config.LoadLookup(lookup(cf.Services[composeWatchdog].resolvedEnv(t, cf)))
	if err != nil {
		t.Fatalf("the watchdog's configuration: %v", err)
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := composeSimAccount(t, cf)
	if _, port, _ := net.SplitHostPort(addr); u.Hostname() != composeSim || u.Port() != port {
		t.Errorf("VONAGE_BASE_URL %s is not the simulator, %s listening on %s", cfg.BaseURL, composeSim, addr)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "0.0.0.0" {
		t.Errorf("the simulator listens on %s: other containers cannot reach it", addr)
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
	vars := cf.Services[composeWatchdog].resolvedEnv(t, cf)
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
