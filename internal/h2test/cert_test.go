package h2test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

func TestCertIsTrustedForBothLoopbackAddresses(t *testing.T) {
	c, err := NewCert()
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		opts := x509.VerifyOptions{DNSName: host, Roots: c.Pool()}
		if _, err := c.Certificate().Verify(opts); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := c.Certificate().Verify(x509.VerifyOptions{DNSName: "10.0.0.1", Roots: c.Pool()}); err == nil {
		t.Error("certificate verifies for 10.0.0.1, want only loopback")
	}
}

func TestCertPEMRoundTripsThroughAFile(t *testing.T) {
	c, err := NewCert()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := c.WritePEM(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, c.PEM()) {
		t.Errorf("file holds %q, want PEM() %q", got, c.PEM())
	}
	block, rest := pem.Decode(got)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("file is not one PEM certificate: %q", got)
	}
	if !bytes.Equal(block.Bytes, c.Certificate().Raw) {
		t.Error("PEM does not hold the certificate")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(got) {
		t.Error("AppendCertsFromPEM rejected the file")
	}
}

func TestCertsAreFreshEachTime(t *testing.T) {
	a, err := NewCert()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCert()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.PEM(), b.PEM()) {
		t.Error("two NewCert calls gave the same certificate")
	}
}
