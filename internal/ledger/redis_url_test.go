package ledger

import (
	"fmt"
	"testing"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// A password with an unescaped '?' (or '&', ';') whose part before it
// parses as a port: the rest becomes the query, and go-redis names an
// unknown query option unquoted, so the redaction of quoted values missed it
// (found by a second outside review).
func TestRedisURLProblemsShowNoPartOfAPasswordInTheQuery(t *testing.T) {
	for _, c := range []struct{ url, secret string }{
		{"redis://default:6379?TopSecretValue42@redis:6379/0", "TopSecretValue42"},
		{"redis://default:6379?db=0&TopSecretValue42@redis:6379/0", "TopSecretValue42"},
		{"redis://default:Top/SecretValue42@redis:6379/0", "SecretValue42"},
		{"redis://default:TopSecret#Value42@redis:6379/0", "TopSecret"},
	} {
		err := CheckRedisURL(c.url)
		t.Logf("%s -> %v", c.url, err)
		if err == nil {
			continue
		}
		sweep := secrettest.New(c.secret)
		sweep.Add(fmt.Sprintf("CheckRedisURL(%q)", c.url), []byte(err.Error()))
		sweep.Check(t)
	}
}
