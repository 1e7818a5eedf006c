package posapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillbox/tillbox/agent"
	"github.com/tillbox/tillbox/agent/config"
)

// A POS team that writes TypeScript generates its types from openapi.yaml
// with openapi-typescript and calls the box with openapi-fetch; that must
// work without hand edits too. testdata/tsclient holds such a POS (pos.ts),
// its package.json and the package-lock.json that pins every package.
// TestTypeScriptClient installs them (npm ci, into a cache outside the
// repository), generates api.ts from the document the box serves, type-checks
// and compiles pos.ts with tsc --strict, and runs it with node against a
// real server on loopback, every exchange checked against the document.
// To move a version: edit package.json, run
// npm install --package-lock-only --ignore-scripts in testdata/tsclient,
// commit both files.

const tsClientDir = "testdata/tsclient"

// tsClientCache is where node_modules is kept between runs, one folder per
// lockfile: $XDG_CACHE_HOME or $HOME/.cache (the system's temporary folder
// without either), then tillbox-tsclient/HASH.
func tsClientCache(t *testing.T) (base, key string) {
	t.Helper()
	h := sha256.New()
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(tsClientDir, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f + "\x00"))
		h.Write(b)
		h.Write([]byte{0})
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "tillbox-tsclient"), hex.EncodeToString(h.Sum(nil))[:16]
}

// tsCacheUnused is how long a folder of the cache may go unused before a
// cold install removes it (another lockfile's, or an install that was
// killed).
const tsCacheUnused = 7 * 24 * time.Hour

// needNode finds node (18 or later: openapi-fetch uses its fetch), npm and
// npx, and fails the test when one is missing: make test never skips it.
func needNode(t *testing.T) {
	t.Helper()
	for _, cmd := range []string{"node", "npm", "npx"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("%s is missing (%v): the TypeScript client test needs Node.js and npm; run scripts/ensure-deps.sh (as root it installs them)", cmd, err)
		}
	}
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v: run scripts/ensure-deps.sh", err)
	}
	v := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 18 {
		t.Fatalf("node %s is too old: the TypeScript client test needs Node.js 18 or later (scripts/ensure-deps.sh)", v)
	}
}

// runIn runs a command in dir and fails the test with its output when it
// does not succeed.
func runIn(t *testing.T, ctx context.Context, dir, what string, name string, args ...string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false",
		"NO_COLOR=1", "FORCE_COLOR=0")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %s %s: %v\n%s", what, name, strings.Join(args, " "), err, out)
	}
	t.Logf("%s: %s", what, time.Since(start).Round(10*time.Millisecond))
	return string(out)
}

// tsNodeModules is node_modules as package-lock.json pins it: installed
// with npm ci the first time, then taken from the cache.
func tsNodeModules(t *testing.T, ctx context.Context) string {
	t.Helper()
	base, key := tsClientCache(t)
	dir := filepath.Join(base, key)
	nm := filepath.Join(dir, "node_modules")
	marker := filepath.Join(dir, "installed")
	if _, err := os.Stat(marker); err == nil {
		now := time.Now()
		_ = os.Chtimes(marker, now, now) // last used
		t.Logf("node_modules from the cache, %s (remove it to install again)", dir)
		return nm
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if old, err := os.ReadDir(base); err == nil {
		for _, e := range old {
			fi, err := os.Stat(filepath.Join(base, e.Name(), "installed"))
			if err != nil {
				fi, err = e.Info()
			}
			if err == nil && time.Since(fi.ModTime()) > tsCacheUnused {
				_ = os.RemoveAll(filepath.Join(base, e.Name()))
			}
		}
	}
	tmp, err := os.MkdirTemp(base, "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"package.json", "package-lock.json"} {
		copyFile(t, filepath.Join(tsClientDir, f), filepath.Join(tmp, f))
	}
	// No package of the lockfile needs an install script.
	runIn(t, ctx, tmp, "npm ci (cold cache)", "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	if err := os.WriteFile(filepath.Join(tmp, "installed"), []byte(key+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Another run may have put the same folder in place meanwhile: theirs
	// is as good.
	if err := os.Rename(tmp, dir); err != nil {
		if _, err2 := os.Stat(marker); err2 != nil {
			t.Fatalf("keeping node_modules in %s: %v", dir, err)
		}
	}
	return nm
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tsClientChecks are the checks pos.ts must report, in order.
var tsClientChecks = []string{
	"document", "status", "create", "create repeated", "event completed", "get sale", "partial refund", "refund too much",
	"refund the rest", "cancel captured", "create waiting", "cancel", "cancel repeated", "EAN as personalQr",
	"events ahead", "list sales", "event log",
}

// TestTypeScriptClient is the POS of testdata/tsclient/pos.ts, typed by
// openapi-typescript and calling through openapi-fetch, against a real
// server: the document (YAML, read as text without a token), a sale with
// receipt lines and no taxRate, read from the event log and by reference,
// a partial refund, a refund of more than is left (400 with field and
// reason), a refund without an amount, a captured sale's cancel (409), a
// repeated cancel (200), a product barcode as personalQr (400), a position
// past the newest event (409 events_ahead), the list of sales and the whole
// event log. It needs node and npm (make test never skips it:
// scripts/ensure-deps.sh installs them); the first run fetches the pinned
// packages, later ones take them from the cache.
func TestTypeScriptClient(t *testing.T) {
	t.Parallel()
	needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	nm := tsNodeModules(t, ctx)

	// The POS's project: its own files, and node_modules from the cache.
	work := t.TempDir()
	for _, f := range []string{"package.json", "tsconfig.json", "pos.ts"} {
		copyFile(t, filepath.Join(tsClientDir, f), filepath.Join(work, f))
	}
	if err := os.Symlink(nm, filepath.Join(work, "node_modules")); err != nil {
		t.Fatal(err)
	}

	ao, err := config.Default().AgentOptions()
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{agent: agent.Options{CheckScan: ao.CheckScan}})

	// The document as the box serves it, as a POS team fetches it.
	req, err := http.NewRequestWithContext(ctx, "GET", r.url+"/api/openapi.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(doc, OpenAPI) {
		t.Fatalf("GET /api/openapi.yaml: %d %v", resp.StatusCode, err)
	}
	if err := os.WriteFile(filepath.Join(work, "openapi.yaml"), doc, 0o644); err != nil {
		t.Fatal(err)
	}

	// npx --no: only what node_modules holds, never a download.
	runIn(t, ctx, work, "openapi-typescript", "npx", "--no", "--", "openapi-typescript", "openapi.yaml", "-o", "api.ts")
	// tsconfig.json is strict too; --noEmitOnError: pos.js only when
	// pos.ts and the generated api.ts type-check.
	runIn(t, ctx, work, "tsc --strict", "npx", "--no", "--", "tsc", "-p", "tsconfig.json", "--strict", "--noEmitOnError", "--pretty", "false")

	// The POS talks to the server through a proxy that checks every
	// exchange against the document, as the Go tests' client does.
	target, err := url.Parse(r.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: r.hc.Transport,
	})
	t.Cleanup(proxy.Close)

	start := time.Now()
	cmd := exec.CommandContext(ctx, "node", "pos.js", proxy.URL, r.token.Reveal(), qrCode)
	cmd.Dir = work
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("node pos.js: %s", time.Since(start).Round(10*time.Millisecond))
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("node pos.js exited %d:\n%s", exit.ExitCode(), out)
	} else if err != nil {
		t.Fatalf("node pos.js: %v\n%s", err, out)
	}

	// Each check, in order, then the count.
	var oks []string
	for line := range strings.Lines(string(out)) {
		if name, _, ok := strings.Cut(strings.TrimPrefix(line, "ok "), ":"); ok && strings.HasPrefix(line, "ok ") {
			if len(oks) == 0 || oks[len(oks)-1] != name {
				oks = append(oks, name)
			}
		}
	}
	if strings.Join(oks, "|") != strings.Join(tsClientChecks, "|") {
		t.Errorf("pos.ts checked %q, want %q:\n%s", oks, tsClientChecks, out)
	}
	if !strings.HasSuffix(string(out), " checks passed\n") || strings.Contains(string(out), "FAIL") {
		t.Errorf("pos.ts output does not end with its count:\n%s", out)
	}

	// What the box holds agrees with what the POS saw.
	if s, err := r.client.GetSale(ctx, "ts-sale-0001"); err != nil || s.State != agent.Refunded || s.Aggregate.Refunded != 9990 {
		t.Errorf("ts-sale-0001: %v %s refunded %d, want refunded 9990", err, s.State, s.Aggregate.Refunded)
	}
	if s, err := r.client.GetSale(ctx, "ts-sale-0002"); err != nil || s.State != agent.Cancelled {
		t.Errorf("ts-sale-0002: %v %s, want cancelled", err, s.State)
	}
	if _, err := r.agent.GetSale("ts-sale-0003"); err == nil {
		t.Errorf("ts-sale-0003 (a product barcode as personalQr) was taken")
	}
	if t.Failed() {
		return
	}
	t.Logf("pos.ts:\n%s", out)
}
