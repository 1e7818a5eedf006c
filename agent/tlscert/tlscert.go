// Package tlscert is the box's TLS identity for its LAN listeners (the POS
// API and the technician page): a certificate the box makes for itself on
// first start and keeps in its data directory ([SelfSigned]), or one the
// integrator provides ([Load]); its SHA-256 fingerprint ([Fingerprint]),
// which a POS pins ([PinnedConfig]) since no public authority signed it.
package tlscert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillbox/tillbox/store/atomicfile"
)

// The files of the self-made certificate in the data directory.
const (
	CertFile = "tls-cert.pem"
	KeyFile  = "tls-key.pem" // mode 0600
)

// validFor is how long a self-made certificate is valid: a pinning client
// does not look at its dates, a browser only warns.
const validFor = 20 * 365 * 24 * time.Hour

// SelfSigned returns the certificate in dir (CertFile, KeyFile), making
// one first when there is none: ECDSA P-256, self-signed, for the box's
// host name, hosts, localhost and the box's addresses now. It is kept
// across restarts (the fingerprint a POS pinned stays valid); delete both
// files to make a new one. A key file others may read is refused.
func SelfSigned(dir string, hosts []string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	switch {
	case cerr == nil && kerr == nil:
		return Load(certPath, keyPath)
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
	case cerr == nil || kerr == nil:
		return tls.Certificate{}, fmt.Errorf("tls: only one of %s and %s exists: delete it to have the box make a new certificate (POS pins must then be updated)", certPath, keyPath)
	default:
		return tls.Certificate{}, fmt.Errorf("tls: %w", errors.Join(cerr, kerr))
	}
	certPEM, keyPEM, err := generate(hosts)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: making a certificate: %w", err)
	}
	// The key first: a certificate without its key is never left behind
	// alone as the "complete" pair.
	if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %w", err)
	}
	if err := atomicfile.WriteFile(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return tls.Certificate{}, fmt.Errorf("tls: %w", err)
	}
	return Load(certPath, keyPath)
}

// Load reads a PEM certificate (chain) and its key. A key file others may
// read is refused.
func Load(certFile, keyFile string) (tls.Certificate, error) {
	fi, err := os.Stat(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return tls.Certificate{}, fmt.Errorf("tls: the key file %s is readable by others (mode %v): chmod 600 it (owner: the tillbox service)", keyFile, fi.Mode().Perm())
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %s with %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// Fingerprint is the SHA-256 of cert's leaf certificate (DER), in the
// form openssl x509 -fingerprint -sha256 prints: "AB:CD:…", 32 bytes.
func Fingerprint(cert tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	return format(sha256.Sum256(cert.Certificate[0]))
}

// FingerprintFile is the Fingerprint of the first certificate in the PEM
// file certFile (no key needed: anyone may read a certificate).
func FingerprintFile(certFile string) (string, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return "", fmt.Errorf("tls: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return "", fmt.Errorf("tls: %s holds no PEM certificate", certFile)
		}
		if blk.Type == "CERTIFICATE" {
			return format(sha256.Sum256(blk.Bytes)), nil
		}
	}
}

func format(sum [32]byte) string {
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// ParsePin reads a fingerprint as Fingerprint writes it, or as 64 hex
// digits, with or without colons and a "sha256:" prefix, in any case.
func ParsePin(pin string) ([32]byte, error) {
	s := strings.TrimSpace(pin)
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256:") {
		s = s[7:]
	}
	s = strings.NewReplacer(":", "", " ", "").Replace(s)
	var sum [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(sum) {
		return sum, fmt.Errorf("pin %q is not a SHA-256 fingerprint: 64 hex digits, as `tillbox doctor` on the box shows it (AB:CD:…)", cut(pin))
	}
	copy(sum[:], b)
	return sum, nil
}

// PinnedConfig is a client TLS configuration that accepts only a server
// whose certificate has the SHA-256 fingerprint pin (whoever signed it:
// the box's own certificate is self-signed), and nothing else.
func PinnedConfig(pin string) (*tls.Config, error) {
	want, err := ParsePin(pin)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is not checked against authorities: the fingerprint
		// is checked instead, below, before anything is sent.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want[:]) {
				return &PinError{Got: format(got), Want: format(want)}
			}
			return nil
		},
	}, nil
}

// PinError is a server certificate that is not the pinned one.
type PinError struct{ Got, Want string }

func (e *PinError) Error() string {
	return "tls: the server's certificate (SHA-256 " + e.Got + ") is not the pinned one (" + e.Want +
		"): another machine answers at this address, or the box has a new certificate (`tillbox doctor` on the box shows its fingerprint)"
}

// generate makes a self-signed ECDSA P-256 certificate and its key, PEM.
func generate(hosts []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	names, ips := subjects(hosts)
	now := time.Now()
	name := "tillbox"
	if h, err := os.Hostname(); err == nil && h != "" {
		name = "tillbox " + h
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"tillbox (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// subjects are the names and addresses of the certificate: the host
// name (and its mDNS name), hosts, localhost, loopback and the box's
// interface addresses.
func subjects(hosts []string) ([]string, []net.IP) {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		n = strings.TrimSuffix(strings.ToLower(n), ".")
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if h, err := os.Hostname(); err == nil {
		add(h)
		if !strings.Contains(h, ".") {
			add(h + ".local")
		}
	}
	for _, h := range hosts {
		add(h)
	}
	add("localhost")
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				ips = append(ips, n.IP)
			}
		}
	}
	return names, ips
}

func cut(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
