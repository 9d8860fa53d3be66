package vonage

import (
	"testing"

	"github.com/topup-watchdog/topup-watchdog/internal/secrettest"
)

// TestTheRedactorFindsASecretInAnyCaseAndInPart: a hostile or careless
// server can echo a secret back upper-cased, with its percent escapes in
// mixed case, or only in part; the fuzzing of the answers' parsers found
// each (s3Cr3t-VAlue, trX-8ef2447e69) getting through a redactor that
// matched exact forms only.
func TestTheRedactorFindsASecretInAnyCaseAndInPart(t *testing.T) {
	const secret, trx = "s3cr3t-Value/+X", "trx-8ef2447e69"
	redact := NewRedactor(secret, trx)
	for _, tt := range []struct{ in, want string }{
		{"said s3cr3t-Value/+X", "said [REDACTED]"},
		{"said S3CR3T-VALUE/+X", "said [REDACTED]"},
		{"said s3Cr3t-VAlue, no more", "said [REDACTED], no more"},
		{"said s3cr3t-Value%2f%2B%3d", "said [REDACTED]%2f%2B%3d"},
		{"said s3cr3t-Value%2f%2bX", "said [REDACTED]"},
		{"trx=TRX-8EF2447E69&x", "trx=[REDACTED]&x"},
		{"trX-8ef2447e69", "[REDACTED]"},
		{"s3cr3t-Valu alone", "s3cr3t-Valu alone"}, // a run shorter than the secret's run is no leak
	} {
		got := redact(tt.in)
		if got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
		sw := secrettest.New(secret, trx)
		sw.Add("redacted", []byte(got))
		if tt.in != tt.want && len(sw.Leaks()) != 0 {
			t.Errorf("redact(%q) = %q still holds a form of a secret: %v", tt.in, got, sw.Leaks())
		}
	}
}

// TestAURLSecretKeepsItsHostNameable: the notify URL is a secret as a
// whole, but its host is no secret, and a problem may need to name it.
func TestAURLSecretKeepsItsHostNameable(t *testing.T) {
	redact := NewRedactor("https://hooks.example.com/services/T0k3nT0k3n")
	if got := redact("http:// to hooks.example.com is refused"); got != "http:// to hooks.example.com is refused" {
		t.Errorf("the host of a URL secret was redacted: %q", got)
	}
	if got := redact("post HTTPS://HOOKS.EXAMPLE.COM/SERVICES/T0K3NT0K3N"); got != "post [REDACTED]" {
		t.Errorf("an upper-cased URL secret: %q", got)
	}
}
