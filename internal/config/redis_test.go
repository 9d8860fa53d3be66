package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

func TestRedisIsOffUnlessAURLIsSet(t *testing.T) {
	c := mustLoad(t, minimalEnv())
	if c.RedisURL != "" || c.RedisPrefix != "topup-watchdog" || c.RedisMinReplicas != 0 {
		t.Errorf("defaults: url %q prefix %q min replicas %d; want off, topup-watchdog, 0", c.RedisURL, c.RedisPrefix, c.RedisMinReplicas)
	}
}

func TestRedisURLFromAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "redis-url")
	if err := os.WriteFile(path, []byte("rediss://user:a-long-password@redis.internal:6380/1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, with(map[string]string{"TOPUP_REDIS_URL_FILE": path}))
	if c.RedisURL != "rediss://user:a-long-password@redis.internal:6380/1" {
		t.Errorf("RedisURL = %q, want the file's trimmed content", c.RedisURL)
	}
	for _, u := range []string{"unix:///run/redis.sock", "redis://127.0.0.1:6379"} {
		if c := mustLoad(t, with(map[string]string{"TOPUP_REDIS_URL": u})); c.RedisURL != u {
			t.Errorf("RedisURL = %q, want %q", c.RedisURL, u)
		}
	}
}

// Every problem of the Redis variables names the variable and never shows
// the password, not even when the URL is one Go cannot parse (url.Error
// quotes the whole URL).
func TestRedisProblemsHideThePassword(t *testing.T) {
	const pw = "Sup3r-secret-pass"
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TOPUP_REDIS_URL": "http://:" + pw + "@redis:6379"}, "TOPUP_REDIS_URL: not a redis URL"},
		{map[string]string{"TOPUP_REDIS_URL": "redis://:" + pw + "@red is:6379"}, "TOPUP_REDIS_URL: not a redis URL"},
		{map[string]string{"TOPUP_REDIS_URL": "redis://:" + pw + "@redis:6379/x"}, "TOPUP_REDIS_URL: not a redis URL"},
		{map[string]string{"TOPUP_REDIS_URL": "redis://:short@redis:6379"}, "TOPUP_REDIS_URL: the password is shorter than 8 characters"},
		{map[string]string{"TOPUP_REDIS_URL": "redis://:" + pw + "@redis", "TOPUP_REDIS_URL_FILE": "/x"}, "TOPUP_REDIS_URL and TOPUP_REDIS_URL_FILE: both are set"},
		{map[string]string{"TOPUP_REDIS_URL_FILE": "/does/not/exist"}, `TOPUP_REDIS_URL_FILE: cannot read "/does/not/exist"`},
		{map[string]string{"TOPUP_REDIS_URL": "redis://:" + pw + "@redis", "TOPUP_REDIS_PREFIX": "a{b}"}, "TOPUP_REDIS_PREFIX: must not hold braces"},
		{map[string]string{"TOPUP_REDIS_PREFIX": strings.Repeat("p", 65)}, "TOPUP_REDIS_PREFIX: longer than 64 bytes"},
		{map[string]string{"TOPUP_REDIS_PREFIX": "é"}, "TOPUP_REDIS_PREFIX: must be printable ASCII"},
		{map[string]string{"TOPUP_REDIS_MIN_REPLICAS": "17"}, "TOPUP_REDIS_MIN_REPLICAS: must be at most 16"},
		{map[string]string{"TOPUP_REDIS_MIN_REPLICAS": "-1"}, "TOPUP_REDIS_MIN_REPLICAS: must not be negative"},
	}
	for _, tc := range cases {
		lines := problemsOf(t, with(tc.env))
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, tc.want) }) {
			t.Errorf("%v: problems %q, want one starting %q", tc.env, lines, tc.want)
		}
		// The password "short" is a word of the problem that says so: the
		// sweep looks for it with the @ that ends it in the URL.
		sweep := secrettest.New(pw, "short@")
		sweep.Add(fmt.Sprintf("%v problems", tc.env), []byte(strings.Join(lines, "\n")))
		sweep.Check(t)
	}
}

func TestRedisSecretsHoldTheURLAndItsPassword(t *testing.T) {
	got := RedisSecrets("redis://user:p%40ss-word-1@redis:6379")
	for _, want := range []string{"redis://user:p%40ss-word-1@redis:6379", "p@ss-word-1", "p%40ss-word-1"} {
		if !slices.Contains(got, want) {
			t.Errorf("RedisSecrets = %q, want %q among them", got, want)
		}
	}
	if got := RedisSecrets(""); got != nil {
		t.Errorf("RedisSecrets(\"\") = %q, want none", got)
	}
}

func TestRedisTargetShowsNoCredentials(t *testing.T) {
	for url, want := range map[string]string{
		"": "off",
		"redis://user:a-long-password@redis:6379/2": "redis://redis:6379/2",
		"rediss://:a-long-password@10.0.0.1:6380":   "rediss://10.0.0.1:6380",
		"unix://:a-long-password@/run/redis.sock":   "unix:///run/redis.sock",
	} {
		if got := RedisTarget(url); got != want {
			t.Errorf("RedisTarget(%q) = %q, want %q", url, got, want)
		}
	}
}

// A password holding '/', '#' or '?' (base64 passwords hold '/') written
// unescaped in the URL: url.Parse ends the authority at that character and
// quotes the password's first part as an "invalid port". No problem line may
// show any part of it. (Found by an outside review.)
func TestRedisURLProblemsShowNoPartOfAnUnescapedPassword(t *testing.T) {
	for _, pw := range []string{"Sup3rS3cretPassw0rd/xyz", "Sup3rS3cretPassw0rd#xyz", "Sup3rS3cretPassw0rd?xyz", "k8sGenerated+Base64/Passw0rdAAAA="} {
		prefix := pw[:strings.IndexAny(pw, "/#?")]
		for _, u := range []string{"redis://:" + pw + "@redis:6379/0", "redis://default:" + pw + "@redis:6379"} {
			lines := problemsOf(t, with(map[string]string{"TOPUP_REDIS_URL": u}))
			sweep := secrettest.New(pw, prefix)
			sweep.Add(u+" problems", []byte(strings.Join(lines, "\n")))
			sweep.Check(t)
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "TOPUP_REDIS_URL: not a redis URL") }) {
				t.Errorf("%q: problems %q, want one saying it is not a redis URL", u, lines)
			}
		}
	}
}

// A URL without credentials is no secret: the start line shows it.
func TestARedisURLWithoutAPasswordIsNoSecret(t *testing.T) {
	if got := RedisSecrets("redis://redis:6379/0"); got != nil {
		t.Errorf("RedisSecrets of a URL without credentials = %q, want none", got)
	}
	if got := RedisSecrets("redis://user@redis:6379/0"); len(got) != 1 {
		t.Errorf("RedisSecrets of a URL with a user = %q, want the URL", got)
	}
}
