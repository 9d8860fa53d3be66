package e2e

import (
	"encoding/base64"
	"net/url"
	"slices"
	"testing"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// secrets are what must never appear in anything the binary writes (its
// output, its state folder, its metrics, its notifications, and in a fleet
// its probes' bodies and every value in Redis): the API secret, the trx,
// the webhook token, the Basic token and the fleet's Redis passwords (the
// server's and the wrong one a test configures). The sweep looks for every
// form of each (secrettest.Forms).
func secrets() []string {
	basic := base64.StdEncoding.EncodeToString([]byte(testKey + ":" + testSecret))
	return []string{testSecret, testTRX, notifyToken, basic, redisPassword, redisWrongPassword}
}

// newSweep is one test's secret sweep.
func newSweep() *secrettest.Sweep { return secrettest.New(secrets()...) }

// The sweep must look for every secret the tests configure, and for the
// forms the secret takes in a query string, or a clean sweep proves
// nothing. (secrettest proves that it finds each form.)
func TestSweepFindsEveryForm(t *testing.T) {
	t.Parallel()
	forms := secrettest.Forms(secrets()...)
	for _, must := range []string{testSecret, "Xq7%2Fs3cr3t%2Be2e%3DVw", "Xq7%2fs3cr3t%2be2e%3dVw", url.PathEscape(testSecret),
		testTRX, notifyToken, redisPassword, redisWrongPassword} {
		if !slices.Contains(forms, must) {
			t.Errorf("the sweep does not look for %q", must)
		}
	}
	for _, f := range forms {
		s := newSweep()
		s.Add("probe", []byte(`{"msg":"x","error":"GET /account?api_secret=`+f+`&x=1"}`))
		if len(s.Leaks()) == 0 {
			t.Errorf("the sweep misses %q", f)
		}
	}
}
