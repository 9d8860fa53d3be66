package main

// The image: the Dockerfile and .dockerignore held to the program.

import (
	"net"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/topup-watchdog/topup-watchdog/internal/config"
)

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
