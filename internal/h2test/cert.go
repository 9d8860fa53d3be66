package h2test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// Cert is a self-signed certificate for the loopback addresses 127.0.0.1
// and ::1 (and the name localhost), made afresh in memory, with its key.
// It is its own root: a client trusts it through Pool, or a process through
// the PEM file WritePEM writes (SSL_CERT_FILE=path on Linux).
type Cert struct {
	pair tls.Certificate
	leaf *x509.Certificate
	pem  []byte
}

// NewCert generates a Cert valid from an hour ago for a day.
func NewCert() (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("h2test: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("h2test: generate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "h2test loopback"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("h2test: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("h2test: parse certificate: %w", err)
	}
	return &Cert{
		pair: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		leaf: leaf,
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// Certificate is the parsed certificate.
func (c *Cert) Certificate() *x509.Certificate { return c.leaf }

// PEM is the certificate (not the key), PEM-encoded.
func (c *Cert) PEM() []byte { return append([]byte(nil), c.pem...) }

// Pool is a new pool holding only the certificate.
func (c *Cert) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.leaf)
	return pool
}

// WritePEM writes PEM to path, readable by everyone (it holds no secret).
func (c *Cert) WritePEM(path string) error {
	if err := os.WriteFile(path, c.pem, 0o644); err != nil {
		return fmt.Errorf("h2test: write certificate: %w", err)
	}
	return nil
}

// ClientConfig is a TLS client configuration that trusts only c.
func (c *Cert) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: c.Pool(), MinVersion: tls.VersionTLS12}
}

// serverConfig is the TLS configuration of a Server: HTTP/2 only.
func (c *Cert) serverConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.pair},
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	}
}
