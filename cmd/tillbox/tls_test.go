package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/config"
	"github.com/tillbox/tillbox/agent/posapi"
	"github.com/tillbox/tillbox/agent/tlscert"
)

// tlsTill writes a configuration with [tls] mode = "self-signed" and a
// technician password; it returns the configuration and the data folder.
func tlsTill(t *testing.T) (cfg, data string) {
	t.Helper()
	dir := t.TempDir()
	cfg = testConfig(t, dir, "http://127.0.0.1:1", "127.0.0.1:0", "")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n[tls]\nmode = \"self-signed\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	writeTechPassword(t, dir, techPassword)
	return cfg, filepath.Join(dir, "data")
}

// startTLS runs `tillbox run` until stop, which waits for it to end.
func startTLS(t *testing.T, cfg string) (out *agenttest.Logs, done chan error, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = agenttest.NewLogs()
	done = make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, out, out) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return out, done, stop
}

const (
	posTLSPrinted  = `POS API on (https://127\.0\.0\.1:\d+)/api/v1/`
	fpPrinted      = `TLS certificate SHA-256 ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})`
	techTLSPrinted = `technician page on (https://127\.0\.0\.1:\d+/\S*)`
)

// With [tls] mode = "self-signed", the box makes its certificate on first
// start (key 0600) and serves the POS API and the technician page over
// TLS. Its fingerprint is printed, in GET /api/v1/status and on the
// technician page; a POS pinned to it works (tillbox pos --pin, the Go
// client), one pinned to another certificate is refused with a clear
// error and so is --pin with an http:// URL; tillbox busy finds its own
// box over TLS. A restart keeps the certificate.
func TestRunTLSSelfSigned(t *testing.T) {
	cfg, data := tlsTill(t)
	out, done, stop := startTLS(t, cfg)
	base := waitPrinted(t, out, done, posTLSPrinted)
	fp := waitPrinted(t, out, done, fpPrinted)
	tech := waitPrinted(t, out, done, techTLSPrinted)

	fi, err := os.Stat(filepath.Join(data, tlscert.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the key file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}

	// The Go client, pinned.
	cl := &posapi.Client{BaseURL: base, Token: testToken}
	if err := cl.Pin(fp); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Status(t.Context()); err != nil {
		t.Fatalf("the pinned client: %v", err)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := cl.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		TLS struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"tls"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.TLS.Fingerprint != fp {
		t.Errorf("GET /api/v1/status: tls.fingerprint %q (%v), want %s", st.TLS.Fingerprint, err, fp)
	}

	// tillbox pos, pinned right and wrong.
	pos := func(pin, u string) (string, error) {
		var b bytes.Buffer
		err := run(t.Context(), []string{"pos", "--url", u, "--token", testToken, "--pin", pin, "status"}, &b, &b)
		return b.String(), err
	}
	if got, err := pos(fp, base); err != nil || !strings.Contains(got, "queued 0") {
		t.Errorf("tillbox pos --pin (right): %v\n%s", err, got)
	}
	other, err := tlscert.SelfSigned(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pos(tlscert.Fingerprint(other), base); err == nil || !strings.Contains(err.Error(), "not the pinned one") || !strings.Contains(err.Error(), fp) {
		t.Errorf("tillbox pos --pin (another certificate's): %v, want a refusal naming both fingerprints", err)
	}
	if _, err := pos(fp, strings.Replace(base, "https://", "http://", 1)); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("tillbox pos --pin with an http:// URL: %v", err)
	}
	if _, err := (&http.Client{}).Get(base + "/healthz"); err == nil {
		t.Error("a client without the pin trusted the self-made certificate")
	}
	// tillbox busy, backup and doctor reach their own box (localAPI):
	// over TLS, pinned to the certificate in the data folder.
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.POS.Listen = strings.TrimPrefix(base, "https://") // the port the test's :0 became
	local, lc, err := localAPI(c)
	if err != nil || local != base {
		t.Fatalf("localAPI: %s, %v; want %s", local, err, base)
	}
	if resp, err := lc.Get(local + "/healthz"); err != nil {
		t.Errorf("the box's own commands over TLS: %v", err)
	} else {
		resp.Body.Close()
	}

	// The technician page over TLS shows the fingerprint.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: cl.HTTPClient.Transport}
	get := func(u string, form url.Values) string {
		t.Helper()
		var resp *http.Response
		var err error
		if form == nil {
			resp, err = hc.Get(u)
		} else {
			resp, err = hc.PostForm(u, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	page := get(tech+"signin", nil)
	status := get(tech+"signin", url.Values{"csrf": {csrfOf(t, []byte(page))}, "password": {techPassword}})
	if !strings.Contains(status, fp) {
		t.Errorf("the technician's status page does not show the fingerprint %s", fp)
	}

	// A restart serves the same certificate.
	stop()
	out, done, _ = startTLS(t, cfg)
	if again := waitPrinted(t, out, done, fpPrinted); again != fp {
		t.Errorf("after a restart the fingerprint is %s, was %s: the POS's pin broke", again, fp)
	}
}

// doctor shows the certificate's fingerprint, and warns (without failing)
// of a LAN listener that speaks plain HTTP; loopback-only is fine.
func TestDoctorTLS(t *testing.T) {
	cfg, data := tlsTill(t)
	if _, err := tlscert.SelfSigned(data, nil); err != nil {
		t.Fatal(err)
	}
	fp, err := tlscert.FingerprintFile(filepath.Join(data, tlscert.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runDoctorCmd(t, "--config", cfg, "--timeout", "2s")
	if !strings.Contains(out, "ok    tls        self-signed") || !strings.Contains(out, fp) {
		t.Errorf("doctor with TLS (%v):\n%s", err, out)
	}

	cfg, _ = doctorBox(t, "http://127.0.0.1:1", true)
	out, _ = runDoctorCmd(t, "--config", cfg, "--timeout", "2s")
	if !strings.Contains(out, "ok    tls        off") || strings.Contains(out, "WARN  tls") {
		t.Errorf("doctor, loopback only:\n%s", out)
	}
	lan := filepath.Join(t.TempDir(), "lan.toml")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte("[console]\nlisten = \"127.0.0.1:0\""), []byte("[console]\nlisten = \":8082\""), 1)
	text = bytes.Replace(text, []byte("[pos]\nlisten = \"127.0.0.1:0\""), []byte("[pos]\nlisten = \"0.0.0.0:8080\""), 1)
	if err := os.WriteFile(lan, text, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ = runDoctorCmd(t, "--config", lan, "--timeout", "2s")
	for _, want := range []string{`WARN  tls        pos.listen "0.0.0.0:8080" is reachable from the shop's LAN over plain HTTP`, `WARN  tls        console.listen ":8082"`} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor with LAN listeners on plain HTTP lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL  tls") {
		t.Errorf("plain HTTP on the LAN failed the doctor instead of warning:\n%s", out)
	}
}
