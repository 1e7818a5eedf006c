package tlscert_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/tlscert"
)

// serve serves "hello" over TLS with cert on 127.0.0.1.
func serve(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(url, pin string) (string, error) {
	cfg, err := tlscert.PinnedConfig(pin)
	if err != nil {
		return "", err
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// The box makes its certificate on first start (the key 0600) and keeps
// it: the next start serves the same one, so a POS's pin stays good. A
// client pinned to it talks to it, self-signed as it is; one pinned to
// another fingerprint is refused with a clear error before it sends a
// thing; a client that trusts the usual authorities refuses it.
func TestSelfSignedPinned(t *testing.T) {
	dir := t.TempDir()
	cert, err := tlscert.SelfSigned(dir, []string{"till7.shop.lan"})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, tlscert.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the key file has mode %v, want 0600", fi.Mode().Perm())
	}
	fp := tlscert.Fingerprint(cert)
	if len(fp) != 32*3-1 {
		t.Fatalf("fingerprint %q", fp)
	}
	again, err := tlscert.SelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tlscert.Fingerprint(again) != fp {
		t.Errorf("a restart made a new certificate: %s, was %s", tlscert.Fingerprint(again), fp)
	}
	leaf := again.Leaf
	if leaf == nil || !contains(leaf.DNSNames, "till7.shop.lan") || !contains(leaf.DNSNames, "localhost") {
		t.Errorf("the certificate's names: %v", leaf.DNSNames)
	}

	url := serve(t, again)
	for _, pin := range []string{fp, strings.ToLower(strings.ReplaceAll(fp, ":", "")), "SHA256:" + fp} {
		if body, err := get(url, pin); err != nil || body != "hello" {
			t.Errorf("pinned to %s: %q, %v", pin, body, err)
		}
	}
	other, err := tlscert.SelfSigned(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(url, tlscert.Fingerprint(other))
	var pe *tlscert.PinError
	if !errors.As(err, &pe) || pe.Got != fp || !strings.Contains(err.Error(), "not the pinned one") {
		t.Errorf("pinned to another certificate: %v, want a PinError naming %s", err, fp)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("a client without the pin trusted the self-made certificate")
	}
	if _, err := tlscert.PinnedConfig("ab:cd"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("a short pin: %v", err)
	}
}

// A key file others can read is refused, naming the file and the fix; so
// is half a pair.
func TestKeyFileRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlscert.SelfSigned(dir, nil); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, tlscert.KeyFile)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tlscert.SelfSigned(dir, nil); err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key others can read: %v", err)
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if _, err := tlscert.SelfSigned(dir, nil); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Errorf("a certificate without its key: %v", err)
	}
}

// A pin in any of its written forms parses to the fingerprint; nothing
// else does, and nothing panics.
func FuzzParsePin(f *testing.F) {
	for _, s := range []string{"AB:CD", "sha256:" + strings.Repeat("0", 64), strings.Repeat("ab:", 31) + "ab", "", "SHA256:", "zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sum, err := tlscert.ParsePin(s)
		if err != nil {
			if len(err.Error()) > 300 {
				t.Errorf("an error of %d bytes", len(err.Error()))
			}
			return
		}
		back, err := tlscert.ParsePin(formatted(sum))
		if err != nil || back != sum {
			t.Errorf("%q: %x does not round-trip: %x %v", s, sum, back, err)
		}
	})
}

func formatted(sum [32]byte) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
