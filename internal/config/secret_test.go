package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// writeFile writes content to a new file in a test directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadReadsSecretAndTRXFromFilesTrimmed(t *testing.T) {
	m := minimalEnv()
	delete(m, "VONAGE_API_SECRET")
	delete(m, "VONAGE_TOPUP_TRX")
	m["VONAGE_API_SECRET_FILE"] = writeFile(t, "secret", "  file-secret\n")
	m["VONAGE_TOPUP_TRX_FILE"] = writeFile(t, "trx", "\tfile-trx \r\n\n")
	c := mustLoad(t, m)
	if c.APISecret != "file-secret" {
		t.Errorf("APISecret = %q, want %q", c.APISecret, "file-secret")
	}
	if c.TRX != "file-trx" {
		t.Errorf("TRX = %q, want %q", c.TRX, "file-trx")
	}
}

func TestLoadRefusesBothFormsOfASecret(t *testing.T) {
	m := minimalEnv()
	m["VONAGE_API_SECRET_FILE"] = writeFile(t, "secret", "file-secret")
	m["VONAGE_TOPUP_TRX_FILE"] = writeFile(t, "trx", "file-trx")
	assertProblems(t, problemsOf(t, m), []string{
		`VONAGE_API_SECRET and VONAGE_API_SECRET_FILE: both are set, use only one`,
		`VONAGE_TOPUP_TRX and VONAGE_TOPUP_TRX_FILE: both are set, use only one`,
	})
}

func TestLoadNamesVariableAndPathOfAMissingFile(t *testing.T) {
	dir := t.TempDir()
	m := minimalEnv()
	delete(m, "VONAGE_API_SECRET")
	delete(m, "VONAGE_TOPUP_TRX")
	m["VONAGE_API_SECRET_FILE"] = filepath.Join(dir, "nope")
	m["VONAGE_TOPUP_TRX_FILE"] = dir
	assertProblems(t, problemsOf(t, m), []string{
		`VONAGE_API_SECRET_FILE: cannot read "` + filepath.Join(dir, "nope") + `": no such file or directory`,
		`VONAGE_TOPUP_TRX_FILE: cannot read "` + dir + `": is a directory`,
	})
}

func TestLoadRefusesAnEmptyFile(t *testing.T) {
	secret := writeFile(t, "secret", "")
	trx := writeFile(t, "trx", " \n\t\n")
	m := minimalEnv()
	delete(m, "VONAGE_API_SECRET")
	delete(m, "VONAGE_TOPUP_TRX")
	m["VONAGE_API_SECRET_FILE"] = secret
	m["VONAGE_TOPUP_TRX_FILE"] = trx
	assertProblems(t, problemsOf(t, m), []string{
		`VONAGE_API_SECRET_FILE: file "` + secret + `" is empty`,
		`VONAGE_TOPUP_TRX_FILE: file "` + trx + `" is empty`,
	})
}

func TestLoadRefusesAHugeFile(t *testing.T) {
	path := writeFile(t, "secret", strings.Repeat("x", maxSecretFile+1))
	m := minimalEnv()
	delete(m, "VONAGE_API_SECRET")
	m["VONAGE_API_SECRET_FILE"] = path
	assertProblems(t, problemsOf(t, m), []string{
		`VONAGE_API_SECRET_FILE: file "` + path + `" is larger than 64 KiB`,
	})
}

func TestProblemsNeverHoldASecret(t *testing.T) {
	secrets := []string{"SECRET-xyzzy", "TRX-plugh", "TOKEN-frobozz", "PASS-quux"}
	envs := []map[string]string{
		{
			"VONAGE_API_SECRET":      "SECRET-xyzzy",
			"VONAGE_API_SECRET_FILE": "/run/secrets/x",
			"VONAGE_TOPUP_TRX":       "TRX-plugh",
			"VONAGE_TOPUP_TRX_FILE":  "/run/secrets/y",
			"VONAGE_BASE_URL":        "https://key:PASS-quux@rest.nexmo.com",
			"TOPUP_NOTIFY_URL":       "http://hooks.slack.com/services/T0/B0/TOKEN-frobozz",
			"TOPUP_THRESHOLD":        "abc",
		},
		{
			"VONAGE_API_SECRET": "SECRET-xyzzy",
			"VONAGE_TOPUP_TRX":  "TRX-plugh",
			"VONAGE_BASE_URL":   "http://rest.nexmo.com/?api_secret=PASS-quux",
			"TOPUP_NOTIFY_URL":  "hooks.slack.com/services/T0/B0/TOKEN-frobozz",
		},
		{
			"VONAGE_API_SECRET": "SECRET-xyzzy",
			"VONAGE_TOPUP_TRX":  "TRX-plugh",
			"VONAGE_BASE_URL":   "ht tp://x@PASS-quux",
			"TOPUP_NOTIFY_URL":  "ftp://hooks.slack.com/TOKEN-frobozz",
		},
		{
			"VONAGE_API_SECRET": "SECRET-xyzzy",
			"VONAGE_TOPUP_TRX":  "TRX-plugh",
			"VONAGE_BASE_URL":   "https://rest.nexmo.com#PASS-quux",
			"TOPUP_NOTIFY_URL":  "https://hooks.slack.com:bad/TOKEN-frobozz",
		},
	}
	for i, m := range envs {
		sweep := secrettest.New(secrets...)
		sweep.Add(fmt.Sprintf("env %d problems", i), []byte(strings.Join(problemsOf(t, m), "\n")))
		sweep.Check(t)
	}
}

func TestLoadRefusesAShortSecretWithoutShowingIt(t *testing.T) {
	const short = "Sh0rt-7" // 7 characters
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	trxFile := filepath.Join(dir, "trx")
	for _, p := range []string{secretFile, trxFile} {
		if err := os.WriteFile(p, []byte(" "+short+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{
			name: "in the variables",
			env:  map[string]string{"VONAGE_API_SECRET": short, "VONAGE_TOPUP_TRX": short},
			want: []string{
				`VONAGE_API_SECRET: shorter than 8 characters, too short for a Vonage API secret (value not shown)`,
				`VONAGE_TOPUP_TRX: shorter than 8 characters, too short for a trx reference (value not shown)`,
			},
		},
		{
			name: "in files",
			env: map[string]string{"VONAGE_API_SECRET": "", "VONAGE_API_SECRET_FILE": secretFile,
				"VONAGE_TOPUP_TRX": "", "VONAGE_TOPUP_TRX_FILE": trxFile},
			want: []string{
				`VONAGE_API_SECRET_FILE: file "` + secretFile + `" holds fewer than 8 characters, too short for a Vonage API secret (value not shown)`,
				`VONAGE_TOPUP_TRX_FILE: file "` + trxFile + `" holds fewer than 8 characters, too short for a trx reference (value not shown)`,
			},
		},
		{
			name: "seven characters of two bytes",
			env:  map[string]string{"VONAGE_API_SECRET": "ééééééé"},
			want: []string{`VONAGE_API_SECRET: shorter than 8 characters, too short for a Vonage API secret (value not shown)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, with(tt.env))
			assertProblems(t, got, tt.want)
			// These secrets are shorter than secrettest.MinRun: the sweep
			// looks for them whole and escaped, and for no shorter run, so
			// "éé" is a cut of the one of two-byte characters named here.
			sweep := secrettest.New(short, "ééééééé", "éé")
			sweep.Add("problems", []byte(strings.Join(got, "\n")))
			sweep.Check(t)
		})
	}
}

func TestLoadAcceptsASecretOfEightCharacters(t *testing.T) {
	c := mustLoad(t, with(map[string]string{"VONAGE_API_SECRET": "Eight-8c", "VONAGE_TOPUP_TRX": "8ef2447e"}))
	if c.APISecret != "Eight-8c" || c.TRX != "8ef2447e" {
		t.Errorf("APISecret %q, TRX %q", c.APISecret, c.TRX)
	}
}
