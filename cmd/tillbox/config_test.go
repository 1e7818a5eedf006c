package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillbox/tillbox/agent/agenttest"
	"github.com/tillbox/tillbox/agent/config"
)

// The POS token of the tests' configurations; it must never be printed.
const testToken = "pos-token-for-the-tests-5e7a"

// testConfig is a configuration file for a till whose data lives in dir,
// talking to a simulator at simURL, with vippsExtra (TOML lines) added to
// its [vipps] section.
func testConfig(t testing.TB, dir, simURL, listen, vippsExtra string) string {
	t.Helper()
	text := fmt.Sprintf(`[box]
till = "t1"
data_dir = %q
shutdown_timeout = "10s"

[vipps]
base_url = %q
client_id = "6b2f1e0c-3d4a-4f5b-9c8d-7e6f5a4b3c2d"
client_secret = "client-secret-of-the-tests"
subscription_key = "subscription-key-of-the-tests"
msn = "123456"
%s

[pos]
listen = %q
token = %q

[store]
lock_timeout = "100ms"

[display]
listen = "127.0.0.1:0"
language = "en"

[console]
listen = "127.0.0.1:0"

[log]
level = "debug"

[sync]
poll_delay = "20ms"
poll_every = "20ms"
retry_base = "10ms"
retry_max = "100ms"
`, filepath.Join(dir, "data"), simURL, vippsExtra, listen, testToken)
	path := filepath.Join(dir, "tillbox.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// The data folder, as the service makes it: the page saves there.
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigExample(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"config", "example"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out.String() != config.Example() {
		t.Error("config example does not print config.Example()")
	}
	path := filepath.Join(t.TempDir(), "tillbox.toml")
	if err := os.WriteFile(path, out.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"config", "check", path}, &out, io.Discard); err != nil {
		t.Fatalf("check of the example: %v\n%s", err, out.String())
	}
	if got, want := out.String(), path+": ok\n"; got != want {
		t.Errorf("check printed %q, want %q", got, want)
	}
}

func TestConfigCheckProblems(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.toml")
	text := `[box]
currency = "SEK"

[vipps]
base_url = "http://127.0.0.1:8090"
client_id = "not-a-guid"
client_secret = "client-secret-of-the-tests"
subscription_key = "subscription-key-of-the-tests"
msn = 123456
token = "x"

[pos]
token = "` + testToken + `"

[[scan.pattern]]
name = "bad"
expr = '^(x'

[[scanner]]
driver = "hid"
match = "0c2e:0b61"
baud = 9600
`
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"config", "check", path}, &out, io.Discard)
	if err == nil || errors.Is(err, errUsage) || err.Error() != path+": 6 problems" {
		t.Fatalf("check = %v", err)
	}
	want := `box.currency: "SEK" is not NOK, DKK or EUR (the sales unit's currency, in capitals) (line 2)
vipps.client_id: is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) as the business portal gives it (line 6)
vipps.msn: must be a string in quotes, not an integer (line 9)
vipps.token: unknown key: token is a key of [pos], not of [vipps] (line 10)
scan.pattern[1].expr: is not a regular expression (RE2 syntax): missing closing ): ` + "`^(x`" + ` (line 17)
scanner[1].baud: applies to serial scanners only (line 22)
warning: ` + path + `: every user can read it and it holds secrets (vipps.client_secret, vipps.subscription_key, pos.token): chmod 640 ` + path + ` (owner root, group of the tillbox service), or move them to *_file or TILLBOX_* variables
`
	if out.String() != want {
		t.Errorf("check printed\n%s\nwant\n%s", out.String(), want)
	}
	for _, secret := range []string{testToken, "client-secret-of-the-tests", "subscription-key-of-the-tests"} {
		if strings.Contains(out.String()+err.Error(), secret) {
			t.Errorf("check shows a secret")
		}
	}

	// A warning alone does not fail the check.
	ok := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	if err := os.Chmod(ok, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"config", "check", ok}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "warning: "+ok+": every user can read it") || !strings.HasSuffix(out.String(), ok+": ok\n") {
		t.Errorf("check printed %q", out.String())
	}

	// A file that is not there, or not TOML.
	if err := run(t.Context(), []string{"config", "check", filepath.Join(dir, "none.toml")}, io.Discard, io.Discard); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("[box\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"config", "check", path}, &out, io.Discard); err == nil || !strings.HasPrefix(out.String(), "toml: not valid TOML") {
		t.Errorf("not TOML: %v %q", err, out.String())
	}
}

func TestConfigUsage(t *testing.T) {
	for _, args := range [][]string{{"config"}, {"config", "check"}, {"config", "check", "a", "b"}, {"config", "frob"}, {"config", "example", "x"}} {
		var errOut bytes.Buffer
		if err := run(t.Context(), args, io.Discard, &errOut); !errors.Is(err, errUsage) || !strings.Contains(errOut.String(), "tillbox config check FILE") {
			t.Errorf("%v: %v %q", args, err, errOut.String())
		}
	}
}

// TestExitStatus runs the real main in a child process: `config check`
// exits 1 on a problem, 0 when the file is fine; a usage error exits 2.
func TestExitStatus(t *testing.T) {
	if os.Getenv("TILLBOX_TEST_MAIN") == "1" {
		os.Args = append([]string{"tillbox"}, strings.Fields(os.Getenv("TILLBOX_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	dir := t.TempDir()
	good := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[box]\ncurrency = \"SEK\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   string
		status int
		out    string
	}{
		{"config check " + good, 0, good + ": ok"},
		{"config check " + bad, 1, "box.currency:"},
		{"config", 2, ""},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestExitStatus$")
		cmd.Env = append(os.Environ(), "TILLBOX_TEST_MAIN=1", "TILLBOX_TEST_ARGS="+tc.args)
		out, err := cmd.CombinedOutput()
		status := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tc.status || !strings.Contains(string(out), tc.out) {
			t.Errorf("tillbox %s: exit %d, want %d; output:\n%s", tc.args, status, tc.status, out)
		}
	}
}

// runTill runs `tillbox run --config cfg` in this process until the test
// ends (then it checks that run returned nil). It returns what run prints
// on stdout, its notices and its log as under systemd, and a channel that
// delivers run's error when it ends.
func runTill(t *testing.T, cfg string) (*agenttest.Logs, chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := agenttest.NewLogs()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, out, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return out, done
}

// tillbox config check checks the technician page's settings laid over the
// file too: a problem there names that file; a good one is said to apply.
func TestConfigCheckOverlay(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "http://127.0.0.1:8090", "127.0.0.1:0", "")
	overlay := filepath.Join(dir, "data", config.OverlayName)
	if err := os.WriteFile(overlay, []byte("[display]\nlanguage = \"da\"\n\n[vipps]\nmsn = \"12\"\ntimeout = \"3s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"config", "check", cfg}, &out, io.Discard)
	if err == nil {
		t.Fatalf("config check passed a bad overlay:\n%s", out.String())
	}
	for _, want := range []string{"vipps.msn: ", "(in " + overlay + ", line 5)", "vipps.timeout: cannot be set here", "(in " + overlay + ", line 6)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check says\n%s\nlacking %q", out.String(), want)
		}
	}
	if err := os.WriteFile(overlay, []byte("[display]\nlanguage = \"da\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"config", "check", cfg}, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "ok, with the technician page's settings from "+overlay+" (display.language)") {
		t.Errorf("config check of a good overlay: %v\n%s", err, out.String())
	}
}
